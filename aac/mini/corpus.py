"""The mini corpus: synthetic scenes written in the Clotho v2.1 and AudioCaps v1 layouts.

    ROOT/CLOTHO_v2.1/clotho_audio_files/<split>/*.wav  (44.1 kHz mono PCM_16)
    ROOT/CLOTHO_v2.1/clotho_csv_files/clotho_captions_<split>.csv
    ROOT/AUDIOCAPS/audio_32000Hz/<split>/<youtube_id>_<start>.flac  (32 kHz mono)
    ROOT/AUDIOCAPS/csv_files_v1/<split>.csv
    ROOT/AUDIOCAPS/audioset/<split>_segments.csv, class_labels_indices.csv  (event labels)
    ROOT/mixup/<training set>.txt  (mix-up captions `<clipA>+<clipB> <caption>`, aac.mini.mixtures)
    ROOT/.mini_corpus.done  (written last; holds the parameters)

Everything is a function of the seed and the parameters. Held-out scenes (Clotho
validation/evaluation, AudioCaps val/test) are drawn first, all distinct; training scenes
never repeat one of them, so evaluation measures composition, not memorisation.
A few Clotho file names carry the quirks of real ones (spaces, `&`, `#`, quotes,
parentheses, commas, non-ASCII letters) and two AudioCaps train rows point to audio that
does not exist, like vanished YouTube videos.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Set

import numpy as np
import soundfile as sf
from tqdm import tqdm

from aac.atomic import write_text_atomic
from aac.errors import AacError
from aac.mini.captions import BACKGROUND, COUNTED, FOREGROUND, LEVELS, Event, Scene, captions_for
from aac.mini.mixtures import mixture_captions, write_mixture_captions
from aac.sounds import GENERATORS, render_level


class MiniCorpusError(AacError, RuntimeError):
    """The mini corpus cannot be written as asked (too many clips, a foreign corpus there)."""


log = logging.getLogger("aac.mini")

DONE = ".mini_corpus.done"
PARTIAL = ".mini_corpus.partial"
FORMAT_VERSION = 3  # 2: AudioSet-layout event labels; 3: mix-up captions of the training sets
SETS = {  # set -> (corpus, split, held out)
    "clotho_evaluation": ("clotho", "evaluation", True),
    "clotho_validation": ("clotho", "validation", True),
    "audiocaps_val": ("audiocaps", "val", True),
    "audiocaps_test": ("audiocaps", "test", True),
    "clotho_development": ("clotho", "development", False),
    "audiocaps_train": ("audiocaps", "train", False),
}
DEFAULT_CLIPS = {
    "clotho_development": 300,
    "clotho_validation": 50,
    "clotho_evaluation": 60,
    "audiocaps_train": 300,
    "audiocaps_val": 40,
    "audiocaps_test": 40,
}
RATES = {"clotho": 44100, "audiocaps": 32000}
QUIRKY_NAMES = [
    "Siren & rain (far) {i}",
    "knock #{i} door",
    "bird's song {i}",
    'the "quiet" street {i}',
    "café ambience {i}",
    "Straße im Regen {i}",
    "rain, light {i}",
    "Ñandú field recording [{i}]",
]
VANISHED_ROWS = 2


@dataclass
class MiniConf:
    seed: int = 0
    num_clips: Dict[str, int] = field(default_factory=lambda: dict(DEFAULT_CLIPS))
    min_dur: float = 4.0
    max_dur: float = 8.0
    corpora: List[str] = field(default_factory=lambda: ["clotho", "audiocaps"])


def sample_event(rng, kinds, level_p=(0.3, 0.45, 0.25)) -> Event:
    kind = str(rng.choice(kinds))
    level = str(rng.choice(LEVELS, p=level_p))
    return Event(kind, level, int(rng.integers(2, 4)) if kind in COUNTED else 0)


def sample_scene(rng) -> Scene:
    """1 event (30%), 2 events in sequence or overlapping (45%), or 3 events (25%)."""
    r = rng.random()
    if r < 0.3:
        if rng.random() < 0.7:
            return Scene((sample_event(rng, FOREGROUND),))
        return Scene((), sample_event(rng, BACKGROUND))
    first = sample_event(rng, FOREGROUND)
    second = sample_event(rng, [k for k in FOREGROUND if k != first.kind])
    background = sample_event(rng, BACKGROUND, (0.2, 0.6, 0.2))
    if r < 0.75:
        return Scene((first, second)) if rng.random() < 0.5 else Scene((first,), background)
    return Scene((first, second), background)


def assign_scenes(conf: MiniConf, rng) -> Dict[str, List[Scene]]:
    """Scenes per set: held-out ones all distinct, training ones never equal to a held-out one."""
    out: Dict[str, List[Scene]] = {}
    held: Set[Scene] = set()
    for name, (_, _, held_out) in SETS.items():
        n = conf.num_clips.get(name, 0)
        scenes: List[Scene] = []
        for _ in range(10000 * max(n, 1)):
            if len(scenes) == n:
                break
            scene = sample_scene(rng)
            if scene in held:
                continue
            if held_out:
                held.add(scene)
            scenes.append(scene)
        if len(scenes) < n:
            raise MiniCorpusError(f"{name}: only {len(scenes)} distinct scenes for {n} clips")
        out[name] = scenes
    return out


def render_scene(scene: Scene, sr: int, duration: float, rng) -> np.ndarray:
    """Mix the events: foreground events in order, background across the clip. (T,)"""
    total = int(sr * duration)
    mix = rng.standard_normal(total) * 1e-3  # noise floor: no clip is digital silence
    if scene.background is not None:
        bg = GENERATORS[scene.background.kind](rng, sr, duration - rng.uniform(0, 0.5))
        bg = render_level(bg, sr, scene.background.level, rng) * 0.6
        start = int(rng.uniform(0, 0.3) * sr)
        mix[start : start + len(bg)] += bg[: total - start]
    slot = (duration - 0.4) / max(1, len(scene.foreground))
    for i, event in enumerate(scene.foreground):
        x = GENERATORS[event.kind](rng, sr, slot - 0.3, event.count)
        x = render_level(x, sr, event.level, rng)
        start = int((0.2 + i * slot + rng.uniform(0, max(0.0, slot - 0.3 - len(x) / sr))) * sr)
        end = min(total, start + len(x))
        mix[start:end] += x[: end - start]
    peak = np.max(np.abs(mix))
    return (mix / peak * 0.95 if peak > 0.95 else mix).astype(np.float32)


def write_audio(path: Path, wave: np.ndarray, sr: int, fmt: str) -> None:
    """Atomic write; FLAC/WAV encoding of the same samples is byte-identical across runs."""
    tmp = path.with_name(path.name + ".partial")
    sf.write(tmp, wave, sr, subtype="PCM_16", format=fmt)
    os.replace(tmp, path)


def write_csv(path: Path, header: List[str], rows: List[List[str]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_text_atomic(path, buf.getvalue())


def clotho_name(scene: Scene, index: int, rng) -> str:
    if index % 13 == 5:  # a few names with the quirks of real Clotho files
        return QUIRKY_NAMES[(index // 13) % len(QUIRKY_NAMES)].format(i=index) + ".wav"
    words = "_".join(e.kind for e in scene.events)
    return f"{words} {index:04d}.wav" if rng.random() < 0.5 else f"{words}_{index:04d}.wav"


def youtube_id(rng) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), size=11))


def _clip_rng(seed: int, set_index: int, clip_index: int):
    return np.random.default_rng([seed, set_index, clip_index])


def write_clotho_split(root: Path, split: str, scenes, conf: MiniConf, set_index: int) -> list:
    """Writes the split; returns (file stem, scene) of its clips."""
    folder = root / "CLOTHO_v2.1" / "clotho_audio_files" / split
    folder.mkdir(parents=True, exist_ok=True)
    rows, stems = [], []
    for i, scene in enumerate(tqdm(scenes, desc=f"clotho {split}", unit="clip", leave=False)):
        rng = _clip_rng(conf.seed, set_index, i)
        name = clotho_name(scene, i, rng)
        duration = rng.uniform(conf.min_dur, conf.max_dur)
        write_audio(
            folder / name,
            render_scene(scene, RATES["clotho"], duration, rng),
            RATES["clotho"],
            "WAV",
        )
        rows.append([name] + captions_for(scene, rng, "clotho"))
        stems.append((Path(name).stem, scene))
    header = ["file_name"] + [f"caption_{k}" for k in range(1, 6)]
    write_csv(
        root / "CLOTHO_v2.1" / "clotho_csv_files" / f"clotho_captions_{split}.csv", header, rows
    )
    return stems


def event_mid(kind: str) -> str:
    return f"/m/mini_{kind}"


def write_audioset_labels(root: Path, split: str, segments: List[List[str]]) -> None:
    """The AudioSet CSV layout (AudioCaps clips are AudioSet segments): event kinds as labels."""
    folder = root / "AUDIOCAPS" / "audioset"
    kinds = list(FOREGROUND) + list(BACKGROUND)
    write_csv(
        folder / "class_labels_indices.csv",
        ["index", "mid", "display_name"],
        [[str(k), event_mid(kind), kind.capitalize()] for k, kind in enumerate(kinds)],
    )
    lines = [
        "# Segments csv of the aac mini corpus",
        f"# num_ytids={len(segments)}, num_segs={len(segments)}",
        "# YTID, start_seconds, end_seconds, positive_labels",
    ]
    lines += [f'{yt}, {start}.000, {end:.3f}, "{labels}"' for yt, start, end, labels in segments]
    write_text_atomic(folder / f"{split}_segments.csv", "\n".join(lines) + "\n")


def write_audiocaps_split(root: Path, split: str, scenes, conf: MiniConf, set_index: int) -> list:
    """Writes the split; returns (file stem, scene) of its clips."""
    folder = root / "AUDIOCAPS" / "audio_32000Hz" / split
    folder.mkdir(parents=True, exist_ok=True)
    rows, cap_id, segments, stems = [], 100000 * set_index, [], []
    for i, scene in enumerate(tqdm(scenes, desc=f"audiocaps {split}", unit="clip", leave=False)):
        rng = _clip_rng(conf.seed, set_index, i)
        yt, start = youtube_id(rng), int(rng.integers(0, 30)) * 10
        duration = rng.uniform(conf.min_dur, conf.max_dur)
        write_audio(
            folder / f"{yt}_{start}.flac",
            render_scene(scene, RATES["audiocaps"], duration, rng),
            RATES["audiocaps"],
            "FLAC",
        )
        captions = captions_for(scene, rng, "audiocaps")
        labels = ",".join(sorted({event_mid(e.kind) for e in scene.events}))
        segments.append([yt, start, start + duration, labels])
        stems.append((f"{yt}_{start}", scene))
        for caption in captions[:1] if split == "train" else captions:
            cap_id += 1
            rows.append([str(cap_id), yt, str(start), caption])
    if split == "train":
        rng = _clip_rng(conf.seed, set_index, 10**6)
        for _ in range(VANISHED_ROWS):  # listed in the CSV, never downloaded
            cap_id += 1
            rows.append([str(cap_id), youtube_id(rng), "0", "A video that no longer exists plays"])
    write_csv(
        root / "AUDIOCAPS" / "csv_files_v1" / f"{split}.csv",
        ["audiocap_id", "youtube_id", "start_time", "caption"],
        rows,
    )
    write_audioset_labels(root, split, segments)
    return stems


def _signature(conf: MiniConf) -> str:
    data = asdict(conf)
    data["corpora"] = sorted(data["corpora"])
    return json.dumps({"format": FORMAT_VERSION, **data}, sort_keys=True)


def is_complete(root: Path, conf: MiniConf) -> bool:
    marker = Path(root) / DONE
    return marker.is_file() and marker.read_text(encoding="utf-8").strip() == _signature(conf)


def make_corpus(root: Path, conf: MiniConf) -> bool:
    """Write the corpus under `root`; returns False when it was already complete."""
    root = Path(root)
    if is_complete(root, conf):
        return False
    ours = (root / DONE).exists() or (root / PARTIAL).exists()
    if not ours and any((root / d).exists() for d in ("CLOTHO_v2.1", "AUDIOCAPS")):
        raise MiniCorpusError(
            f"{root} already holds CLOTHO_v2.1/ or AUDIOCAPS/ that this tool did "
            "not write (a real corpus?); refusing to overwrite: pick another --output-dir"
        )
    root.mkdir(parents=True, exist_ok=True)
    (root / DONE).unlink(missing_ok=True)
    write_text_atomic(root / PARTIAL, _signature(conf) + "\n")
    scenes = assign_scenes(conf, np.random.default_rng(conf.seed))
    for set_index, (name, (corpus, split, held_out)) in enumerate(SETS.items()):
        if corpus not in conf.corpora or not conf.num_clips.get(name):
            continue
        writer = write_clotho_split if corpus == "clotho" else write_audiocaps_split
        clips = writer(root, split, scenes[name], conf, set_index)
        if not held_out:  # its own RNG: the corpus's audio and captions stay as they were
            lines = mixture_captions(clips, _clip_rng(conf.seed, set_index, 10**7), corpus)
            write_mixture_captions(root, name, lines)
        log.info("%s: %d clips written", name, len(scenes[name]))
    write_text_atomic(root / DONE, _signature(conf) + "\n")
    (root / PARTIAL).unlink()
    return True
