"""Caption audio files or directories with a trained model.

Usage: aac-caption exp/bart_pann clips/ extra.flac --format json --batch-size 8
       arecord -f S16_LE -r 16000 | aac-caption exp/bart_pann --stream - --window 10 --hop 1

MODEL is an experiment directory (config.yaml, tokenizer.model, best.pt) or a zip made by
`aac-pack`. AUDIO arguments are files (any format soundfile reads, any rate, mono or
stereo) or directories, searched recursively for audio extensions. With `--window S`
a long recording is captioned every `--hop H` seconds, with start/end times.

Output (stdout, or `--output FILE` written atomically):
  text  `<file>\\t<caption>`, windowed `<file>\\t<start>\\t<end>\\t<caption>`
  json  one JSON object per line: file, start, end, caption, error
  csv   header file,start,end,caption,error
A clip that cannot be read gets an `ERROR <file>: <why>` line on stderr (and a filled
`error` field in json/csv); the other clips are still captioned. So does a clip (or with
--window, a window) holding NaN or infinite samples, with their count. AUDIO names are
file names only (a name ending in `|` is never run as a command); FIFOs and devices are
refused. With --window a file is read block by block and each window's line is written as
soon as it is captioned, so memory stays flat however long the recording.
--window must be at least the encoder's smallest input and --hop at most --window; a clip
shorter than the encoder's smallest input gets a warning naming it (it is zero-padded).
With `--stream SRC` (`-`: raw PCM on stdin; or a WAV/raw file still being written, followed
until `--stream-timeout` seconds without growth) one JSON line per hop captions the last
`--window` seconds: start, end, caption, latency_s, skipped (windows dropped since the
previous line to keep up in real time; `--no-skip` captions every hop instead), error (a
window holding NaN or infinite samples: no caption, an `ERROR` line on stderr).
Exit status: 0 if at least one clip was captioned, 1 if none was, 2 on bad arguments
or a model that cannot be loaded (one line `aac-caption: error: ...`; --verbose for
a traceback).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
from contextlib import nullcontext
from typing import List, Optional, TextIO

from aac.cli import add_device, add_model_options, load_captioner, run_main

FIELDS = ("file", "start", "end", "caption", "error")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-caption",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="experiment directory or packed model .zip (reads it)")
    p.add_argument("audio", nargs="*", help="audio files and/or directories (reads them)")
    p.add_argument("--batch-size", type=int, default=8, help="clips per beam search (default 8)")
    p.add_argument("--beam", type=int, default=4, help="beam size (default 4, as the paper)")
    add_device(p)
    p.add_argument("--format", choices=("text", "json", "csv"), default="text")
    p.add_argument("--output", "-o", help="write results here instead of stdout (atomically)")
    p.add_argument("--window", type=float, help="caption in windows of S seconds")
    p.add_argument("--hop", type=float, help="seconds between windows (default: --window)")
    add_model_options(p)
    p.add_argument("--quantize", choices=("int8",), help="dynamic int8 Linear layers (CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    live = p.add_argument_group("live captioning (aac.streaming)")
    live.add_argument(
        "--stream",
        metavar="SRC",
        help="'-' (raw PCM on stdin) or a growing "
        "WAV/raw file (reads it); JSON lines on stdout (writes them)",
    )
    live.add_argument("--rate", type=int, default=16000, help="raw PCM sample rate (16000)")
    live.add_argument("--channels", type=int, default=1, help="raw PCM channels (1)")
    live.add_argument(
        "--pcm-format",
        choices=("s16le", "f32le"),
        default="s16le",
        help="raw PCM sample format (s16le)",
    )
    live.add_argument(
        "--stream-timeout",
        type=float,
        default=5.0,
        help="stop following a file after S seconds without growth (5)",
    )
    live.add_argument(
        "--no-skip",
        action="store_true",
        help="caption every hop even when behind real time (offline input)",
    )
    return p


def check_args(args: argparse.Namespace) -> None:
    """Argument checks that need no model (InputError: one line, exit status 2)."""
    from aac.audio import check_regular_file
    from aac.windows import InputError, check_window

    if args.batch_size < 1 or args.beam < 1:
        raise InputError("--batch-size and --beam must be at least 1")
    if bool(args.audio) == bool(args.stream):
        raise InputError("give AUDIO files/directories or --stream SRC (one of them)")
    if args.stream and (args.window is None or args.output):
        raise InputError("--stream needs --window; it writes JSON lines to stdout (no --output)")
    if args.stream and args.stream != "-":
        if not os.path.exists(args.stream):
            raise InputError(f"--stream {args.stream}: no such file")
        check_regular_file(args.stream)  # a FIFO would block forever: '-' is stdin
    if args.hop is not None and args.window is None:
        raise InputError("--hop needs --window")
    if args.window is not None:
        check_window(args.window, args.hop)


class ResultWriter:
    """Formats results as text, JSON lines or CSV; errors also go to stderr."""

    def __init__(self, out: TextIO, fmt: str, windowed: bool):
        self.out, self.fmt, self.windowed = out, fmt, windowed
        self.csv = csv.DictWriter(out, FIELDS) if fmt == "csv" else None
        if self.csv:
            self.csv.writeheader()
        self.ok = self.failed = 0

    def write(self, r) -> None:
        if r.ok:
            self.ok += 1
        else:
            self.failed += 1
            print(f"ERROR {r.file}: {r.error}", file=sys.stderr)
        if self.fmt == "json":
            self.out.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
        elif self.fmt == "csv":
            self.csv.writerow(r.to_dict())
        elif r.ok:
            times = f"{r.start:.2f}\t{r.end:.2f}\t" if self.windowed else ""
            self.out.write(f"{r.file}\t{times}{r.caption}\n")
        self.out.flush()


def open_output(path: Optional[str]):
    """stdout, or `--output` published atomically (aac.atomic.open_atomic) when done."""
    from aac.atomic import open_atomic

    return open_atomic(path, newline="") if path else nullcontext(sys.stdout)


def warn_short_clips(files: List[str], sample_rate: int, min_samples: int) -> None:
    """A clip shorter than the encoder's smallest input is zero-padded: say which."""
    from aac.audio import AudioError, file_duration

    for path in files:
        try:
            seconds = file_duration(path)
        except AudioError:
            continue  # reported with the captions
        if round(seconds * sample_rate) < min_samples:
            print(
                f"aac-caption: warning: {path}: {seconds:.3f} s is shorter than the encoder's "
                f"smallest input ({min_samples / sample_rate:.3f} s); zero-padded, its caption "
                "is unreliable",
                file=sys.stderr,
            )


def run(captioner, files: List[str], writer: ResultWriter, args, progress: bool) -> None:
    from tqdm import tqdm

    with tqdm(total=len(files), unit="file", disable=not progress, file=sys.stderr) as bar:
        for r in captioner.caption_iter(
            files, window=args.window, hop=args.hop, progress=bar.update
        ):
            writer.write(r)


def _main(argv: List[str]) -> int:
    args = get_parser().parse_args(argv)
    check_args(args)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    from aac.windows import check_window, gather_audio_files

    # 1. inputs: files and directories -> file list (none with --stream)
    files = gather_audio_files(args.audio) if args.audio else []
    # 2. model: exp dir or packed zip, encoder checked by SHA-256
    captioner = load_captioner(
        args,
        device=args.device,
        batch_size=args.batch_size,
        quantize=args.quantize,
        dtype=args.compute_dtype,
    )
    rate, min_samples = captioner.sample_rate, int(getattr(captioner.encoder, "min_samples", 1))
    if args.window is not None:
        check_window(args.window, args.hop, rate, min_samples)
    if args.stream:  # live input: one caption per hop, JSON lines (aac.streaming)
        from aac.streaming import run_stream_cli

        return run_stream_cli(captioner, args)
    warn_short_clips(files, rate, min_samples)
    # 3. caption, streaming results in input order
    with open_output(args.output) as stream:
        writer = ResultWriter(stream, args.format, windowed=args.window is not None)
        run(captioner, files, writer, args, progress=not args.quiet and len(files) > 1)
    # 4. summary and exit status
    if writer.failed:
        print(
            f"aac-caption: {writer.failed} clip(s) failed, {writer.ok} captioned", file=sys.stderr
        )
    return 0 if writer.ok else 1


def main(argv=None) -> int:
    return run_main("aac-caption", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
