"""Mix-up captions of the mini corpus: what the generator knows about two clips, joined.

    ROOT/mixup/<set>.txt   Kaldi text, `<clipA>+<clipB> <caption>` (aac-train mixup.captions)

The real systems have an LLM write a caption for two clips heard together; here the
generator knows each clip's scene, so the mixture caption is one caption of clip A, then
one of clip B ("A dog barks, and then a bell rings twice."), written for `mixup.mode:
concat` (A's frames, then B's). Only clips whose file stem is already a clip id take part
(aac-prep-data keeps such a stem as the id), so the ids here are the data dir's.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Sequence, Tuple

from aac.datadir import CLIP_ID_RE, MIX_SEP, write_kaldi_text
from aac.mini.captions import Scene, captions_for, style

MIXUP_DIR = "mixup"


def mixture_caption(a: Scene, b: Scene, rng, corpus: str) -> str:
    first, second = (captions_for(s, rng, corpus, n=1)[0].rstrip(".") for s in (a, b))
    return style(f"{first}, and then {second[0].lower()}{second[1:]}", corpus)


def mixture_captions(clips: Sequence[Tuple[str, Scene]], rng, corpus: str) -> List[tuple]:
    """One (clipA+clipB, caption) per usable clip A, with a random other usable clip B."""
    usable = [(c, s) for c, s in clips if CLIP_ID_RE.match(c)]
    if len(usable) < 2:
        return []
    out = []
    for i, (clip_a, scene_a) in enumerate(usable):
        j = int(rng.integers(len(usable) - 1))
        clip_b, scene_b = usable[j + (j >= i)]  # any clip but A
        out.append((f"{clip_a}{MIX_SEP}{clip_b}", mixture_caption(scene_a, scene_b, rng, corpus)))
    return out


def write_mixture_captions(root: Path, set_name: str, lines: List[tuple]) -> None:
    if lines:
        (Path(root) / MIXUP_DIR).mkdir(parents=True, exist_ok=True)
        write_kaldi_text(Path(root) / MIXUP_DIR / f"{set_name}.txt", lines)
