"""Make a tagging data dir (MLAC) from AudioSet label CSVs, or check an existing one.

Usage: aac-prep-tagging --segments eval_segments.csv --class-labels class_labels_indices.csv (--data-dir data/audiocaps_test | --audio-dir AUDIO/) --output-dir data/audioset_eval

Reads the segments CSV (`#` comment lines, then `YTID, start_seconds, end_seconds,
"mid,mid"`), class_labels_indices.csv (`index,mid,display_name`) and the audio (a data
dir's wav.scp with AudioCaps-style clip ids `<YTID>_<start>`, or a folder of
`<YTID>_<start>.*` / `Y<YTID>*.*` files). Writes OUTPUT/wav.scp, OUTPUT/labels
(`<clip_id> <mid>,<mid>`), OUTPUT/classes (one MID per line, the output order) and
OUTPUT/class_names (`<mid> <display name>`).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from aac.atomic import write_text_atomic
from aac.cli import run_main
from aac.datadir import write_kaldi_text
from aac.pretrain.audioset import (
    audio_from_data_dir,
    audio_from_folder,
    read_class_indices,
    read_segments,
    tagging_entries,
)

log = logging.getLogger("aac.pretrain")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-prep-tagging",
        description="Reads an AudioSet segments CSV, class_labels_indices.csv and audio (a data "
        "dir's wav.scp or an audio folder); writes OUTPUT/{wav.scp,labels,classes,class_names}.",
    )
    p.add_argument("--segments", required=True, help="AudioSet segments CSV")
    p.add_argument("--class-labels", required=True, help="class_labels_indices.csv")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data-dir", help="data dir whose wav.scp holds the clips (<YTID>_<start>)")
    src.add_argument("--audio-dir", help="folder of <YTID>_<start>.* or Y<YTID>*.* audio files")
    p.add_argument("--output-dir", required=True, help="tagging data dir to write")
    return p


def _main(argv) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    classes = read_class_indices(args.class_labels)
    segments = read_segments(args.segments)
    audio = (
        audio_from_data_dir(args.data_dir) if args.data_dir else audio_from_folder(args.audio_dir)
    )
    entries = tagging_entries(segments, audio)
    out = Path(args.output_dir)
    write_kaldi_text(out / "wav.scp", [(c, wav) for c, (wav, _) in entries.items()])
    write_kaldi_text(out / "labels", [(c, ",".join(mids)) for c, (_, mids) in entries.items()])
    write_text_atomic(out / "classes", "".join(m + "\n" for m, _ in classes))
    write_text_atomic(out / "class_names", "".join(f"{m} {n}\n" for m, n in classes))
    print(f"{out}: {len(entries)} clips, {len(classes)} classes")
    return 0


def main(argv=None) -> int:
    return run_main("aac-prep-tagging", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
