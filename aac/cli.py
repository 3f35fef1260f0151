"""One `main()` wrapper for every `aac-*` entry point.

    def main(argv=None) -> int:
        return run_main("aac-decode", _main, argv)

`_main(argv)` does the work and returns an exit status. Expected failures print one line
`aac-<verb>: error: <message>` on stderr and return `EXIT_USER_ERROR`:
  - any `aac.errors.AacError` (every toolkit error class derives from it);
  - `OSError`s a user causes: missing file, permission denied, no space left on device
    (the message names the path), and a `FileNotFoundError("<what> not found: <path>")`
    raised with a message only.
A Python traceback is printed only for bugs, or for everything with `--verbose` (also
`AAC_VERBOSE=1`), which the wrapper removes from argv before `_main` sees it.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from typing import Callable, Iterable, List, Optional

from aac.errors import EXIT_USER_ERROR, AacError

_USER_OS_ERRORS = {
    errno.ENOENT,
    errno.EACCES,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EEXIST,
    errno.EPERM,
}


def describe_os_error(e: OSError) -> str:
    """'no space left on device: /path' style text for an OSError."""
    what = os.strerror(e.errno).lower() if e.errno else str(e)
    where = e.filename if e.filename is not None else ""
    if e.filename2 is not None:
        where = f"{where} -> {e.filename2}"
    return f"{what}: {where}" if where else what


def user_message(e: BaseException) -> Optional[str]:
    """The one-line message of an expected error, or None for a bug."""
    if isinstance(e, AacError):
        return " ".join(str(e).split("\n")).strip() or type(e).__name__
    if isinstance(e, OSError) and e.errno in _USER_OS_ERRORS:
        return describe_os_error(e)
    if isinstance(e, FileNotFoundError) and e.errno is None and str(e):
        return str(e)  # FileNotFoundError("tokenizer model not found: x"): a missing input
    return None


def run_main(
    prog: str, body: Callable[[List[str]], int], argv: Optional[Iterable[str]] = None
) -> int:
    """Run `body(argv)`; report expected errors as one line (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in argv or os.environ.get("AAC_VERBOSE") == "1"
    argv = [a for a in argv if a != "--verbose"]
    try:
        return int(body(argv) or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the one place that decides bug vs user error
        message = user_message(e)
        if message is None or verbose:
            traceback.print_exc()
        if message is None:
            return 1
        print(f"{prog}: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR


# ---- the flag contract shared by every aac-* tool ----------------------------------------
# --checkpoint          the captioning model's checkpoint: best | last | epochN | path
# --encoder-checkpoint  the audio encoder's checkpoint file
# --trust-checkpoint    allow full unpickling (never needed for files the toolkit wrote)
# --device              cpu | cuda | cuda:N
# --compute-dtype       float32 | bfloat16 (autocast at run time)
# --storage-dtype       float32 | float16 (what a feature cache stores)


def parse_device(value: str) -> str:
    """argparse type for --device: cpu, cuda or cuda:N."""
    import argparse
    import re

    if not re.fullmatch(r"cpu|cuda(:\d+)?", value):
        raise argparse.ArgumentTypeError(f"{value!r} is not cpu, cuda or cuda:N")
    return value


def add_deprecated_alias(parser, old: str, dest: str, new: str, **kwargs) -> None:
    """Keep an old option spelling for one release: it sets `dest` and warns when used."""
    import argparse

    class _Deprecated(argparse.Action):
        def __call__(self, p, namespace, values, option_string=None):
            print(
                f"{p.prog}: warning: {old} is deprecated and will be removed in the next "
                f"release; use {new}",
                file=sys.stderr,
            )
            setattr(namespace, dest, values)

    parser.add_argument(old, dest=dest, action=_Deprecated, help=argparse.SUPPRESS, **kwargs)


COMPUTE_DTYPES = ("float32", "bfloat16")


def add_model_options(
    p,
    dtype_default: Optional[str] = "float32",
    dtype_help: str = "bfloat16 runs under autocast (faster, captions may change)",
) -> None:
    """--checkpoint, --encoder-checkpoint, --trust-checkpoint, --compute-dtype (+ old names)
    for the tools that load a captioning model with its encoder (aac-caption, aac-benchmark)."""
    p.add_argument(
        "--checkpoint",
        default="best",
        help="captioning model checkpoint of an experiment directory: best, last, "
        "epochN or a path (default best)",
    )
    add_deprecated_alias(p, "--model-checkpoint", "checkpoint", "--checkpoint")
    p.add_argument(
        "--encoder-checkpoint",
        help="encoder checkpoint file; its SHA-256 must match the one the model was trained with",
    )
    p.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="allow full unpickling of checkpoints (only for files you trust)",
    )
    p.add_argument(
        "--compute-dtype", choices=COMPUTE_DTYPES, default=dtype_default, help=dtype_help
    )
    add_deprecated_alias(p, "--dtype", "compute_dtype", "--compute-dtype", choices=COMPUTE_DTYPES)


MODEL_CHECKPOINT_NAMES = ("best", "last")  # and epochN


def check_model_checkpoint(value: Optional[str], trust: bool = False) -> None:
    """Refuse an encoder file passed as --checkpoint (what the flag meant before).

    aac-caption and aac-benchmark used to read --checkpoint as the encoder checkpoint; it now
    names the captioning model's checkpoint. A `.pth` file, or an existing file holding no
    caption-model weights, is therefore almost surely an old command line: say so rather
    than fail later with a confusing shape error.
    """
    import re
    from pathlib import Path

    if not value or value in MODEL_CHECKPOINT_NAMES or re.fullmatch(r"epoch\d+", value):
        return
    hint = (
        f"--checkpoint {value}: not a captioning model checkpoint. --checkpoint now names "
        "the captioning model's checkpoint (best, last, epochN or a path); pass an encoder "
        "checkpoint with --encoder-checkpoint"
    )
    path = Path(value)
    if path.suffix == ".pth":
        raise CheckpointUsageError(hint)
    if not path.is_file():
        return  # a missing file is reported by the loader, with the paths it tried
    from aac.checkpoint_io import CheckpointError, load_checkpoint

    try:
        state = load_checkpoint(path, trust=trust)
    except CheckpointError as e:
        if "--trust-checkpoint" in str(e):
            raise  # readable with trust: the refusal says how
        raise CheckpointUsageError(hint) from None
    weights = state.get("model") if isinstance(state, dict) else None
    # CaptionModel's parameters live under `proj.` and `bart.` (aac/model.py).
    if not isinstance(weights, dict) or not any(str(k).startswith("bart.") for k in weights):
        raise CheckpointUsageError(hint)


class CheckpointUsageError(AacError):
    """A checkpoint given to the wrong flag."""
