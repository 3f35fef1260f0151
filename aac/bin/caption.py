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
`error` field in json/csv); the other clips are still captioned.
With `--stream SRC` (`-`: raw PCM on stdin; or a WAV/raw file still being written, followed
until `--stream-timeout` seconds without growth) one JSON line per hop captions the last
`--window` seconds: start, end, caption, latency_s, skipped (windows dropped since the
previous line to keep up in real time; `--no-skip` captions every hop instead).
Exit status: 0 if at least one clip was captioned, 1 if none was, 2 on bad arguments
or a model that cannot be loaded.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
from pathlib import Path
from typing import Iterable, List, Optional, TextIO

FIELDS = ("file", "start", "end", "caption", "error")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-caption", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="experiment directory or packed model .zip (reads it)")
    p.add_argument("audio", nargs="*", help="audio files and/or directories (reads them)")
    p.add_argument("--batch-size", type=int, default=8, help="clips per beam search (default 8)")
    p.add_argument("--beam", type=int, default=4, help="beam size (default 4, as the paper)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--format", choices=("text", "json", "csv"), default="text")
    p.add_argument("--output", "-o", help="write results here instead of stdout")
    p.add_argument("--window", type=float, help="caption in windows of S seconds")
    p.add_argument("--hop", type=float, help="seconds between windows (default: --window)")
    p.add_argument("--checkpoint", help="encoder checkpoint file; its SHA-256 must match "
                   "the one the model was trained with")
    p.add_argument("--model-checkpoint", default="best",
                   help="decoder checkpoint of an experiment directory (default best)")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                   help="bfloat16 runs under autocast (faster, captions may change)")
    p.add_argument("--quantize", choices=("int8",), help="dynamic int8 Linear layers (CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    live = p.add_argument_group("live captioning (aac.streaming)")
    live.add_argument("--stream", metavar="SRC", help="'-' (raw PCM on stdin) or a growing "
                      "WAV/raw file (reads it); JSON lines on stdout (writes them)")
    live.add_argument("--rate", type=int, default=16000, help="raw PCM sample rate (16000)")
    live.add_argument("--channels", type=int, default=1, help="raw PCM channels (1)")
    live.add_argument("--pcm-format", choices=("s16le", "f32le"), default="s16le",
                      help="raw PCM sample format (s16le)")
    live.add_argument("--stream-timeout", type=float, default=5.0,
                      help="stop following a file after S seconds without growth (5)")
    live.add_argument("--no-skip", action="store_true",
                      help="caption every hop even when behind real time (offline input)")
    return p


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.batch_size < 1 or args.beam < 1:
        parser.error("--batch-size and --beam must be at least 1")
    if bool(args.audio) == bool(args.stream):
        parser.error("give AUDIO files/directories or --stream SRC (one of them)")
    if args.stream and (args.window is None or args.output or (args.hop or 0) > args.window):
        parser.error("--stream needs --window (and --hop <= --window); it writes JSON lines "
                     "to stdout (no --output)")
    if args.stream and args.stream != "-" and not os.path.isfile(args.stream):
        parser.error(f"--stream {args.stream}: no such file")
    if args.hop is not None and args.window is None:
        parser.error("--hop needs --window")
    if args.window is not None and (args.window <= 0 or (args.hop is not None and args.hop <= 0)):
        parser.error("--window and --hop must be positive seconds")


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
    """(stream, commit): commit() moves a finished `--output` file into place."""
    if not path:
        return sys.stdout, lambda: None
    tmp = Path(path).with_name(Path(path).name + ".partial")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    stream = open(tmp, "w", encoding="utf-8", newline="")

    def commit():
        stream.close()
        os.replace(tmp, path)
    return stream, commit


def run(captioner, files: List[str], writer: ResultWriter, args, progress: bool) -> None:
    from tqdm import tqdm

    with tqdm(total=len(files), unit="file", disable=not progress, file=sys.stderr) as bar:
        for r in captioner.caption_iter(files, window=args.window, hop=args.hop,
                                        progress=bar.update):
            writer.write(r)


def main(argv: Optional[Iterable[str]] = None) -> int:
    parser = get_parser()
    args = parser.parse_args(None if argv is None else list(argv))
    check_args(parser, args)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")

    from aac.captioner import Captioner
    from aac.packing import PackError
    from aac.windows import InputError, gather_audio_files

    try:  # 1. inputs: files and directories -> file list
        files = gather_audio_files(args.audio)
    except InputError as e:
        parser.error(str(e))
    try:  # 2. model: exp dir or packed zip, encoder checked by SHA-256
        captioner = Captioner.from_pretrained(
            args.model, device=args.device, encoder_checkpoint=args.checkpoint,
            checkpoint=args.model_checkpoint, quantize=args.quantize, beam=args.beam,
            batch_size=args.batch_size, dtype=args.dtype)
    except (PackError, FileNotFoundError, ValueError) as e:
        print(f"aac-caption: cannot load model {args.model}: {e}", file=sys.stderr)
        return 2
    if args.stream:  # live input: one caption per hop, JSON lines (aac.streaming)
        from aac.streaming import run_stream_cli
        return run_stream_cli(captioner, args)
    # 3. caption, streaming results in input order
    stream, commit = open_output(args.output)
    writer = ResultWriter(stream, args.format, windowed=args.window is not None)
    run(captioner, files, writer, args, progress=not args.quiet and len(files) > 1)
    commit()
    # 4. summary and exit status
    if writer.failed:
        print(f"aac-caption: {writer.failed} clip(s) failed, {writer.ok} captioned",
              file=sys.stderr)
    return 0 if writer.ok else 1


if __name__ == "__main__":
    sys.exit(main())
