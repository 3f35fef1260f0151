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

from aac.config import COMPUTE_DTYPES, STORAGE_DTYPES
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
# One helper per shared flag, so a flag means one thing in every tool; README.md's flag
# table lists them with the tools that take them, and tests/test_cli_flags.py checks every
# entry point's parser against that table (and that these flags come from these helpers).
MODEL_CHECKPOINT_NAMES = ("best", "last")  # and epochN


def _contract(p, flag: str, **kwargs):
    """add_argument for a contract flag; the action remembers which helper made it."""
    action = p.add_argument(flag, **kwargs)
    action.contract_flag = flag
    return action


def parse_device(value: str) -> str:
    """argparse type for --device: cpu, cuda or cuda:N."""
    import argparse
    import re

    if not re.fullmatch(r"cpu|cuda(:\d+)?", value):
        raise argparse.ArgumentTypeError(f"{value!r} is not cpu, cuda or cuda:N")
    return value


def add_device(p, help: str = "cpu, cuda or cuda:N (default cpu)") -> None:
    """--device cpu|cuda|cuda:N."""
    _contract(p, "--device", type=parse_device, default="cpu", help=help)


def add_checkpoint(p, help: Optional[str] = None) -> None:
    """--checkpoint: the captioning model's checkpoint of an experiment (never an encoder's)."""
    _contract(
        p,
        "--checkpoint",
        default="best",
        help=help
        or "captioning model checkpoint of the experiment: best, last, epochN or a path "
        "(default best)",
    )


def add_encoder_checkpoint(p, help: Optional[str] = None) -> None:
    """--encoder-checkpoint: the audio encoder's checkpoint file (never the caption model's)."""
    _contract(
        p,
        "--encoder-checkpoint",
        help=help
        or "encoder checkpoint file; its SHA-256 must match the one the model was trained with",
    )


def add_trust_checkpoint(p, help: Optional[str] = None) -> None:
    """--trust-checkpoint: allow full unpickling where weights-only loading refuses a file."""
    _contract(
        p,
        "--trust-checkpoint",
        action="store_true",
        help=help or "allow full unpickling of checkpoints (only for files you trust)",
    )


def add_compute_dtype(
    p,
    default: Optional[str] = "float32",
    help: str = "bfloat16 runs under autocast (faster, captions may change)",
) -> None:
    """--compute-dtype float32|bfloat16: the dtype the model computes in (autocast)."""
    _contract(p, "--compute-dtype", choices=COMPUTE_DTYPES, default=default, help=help)


def add_storage_dtype(p, help: str) -> None:
    """--storage-dtype float32|float16: what a feature cache stores."""
    _contract(p, "--storage-dtype", choices=STORAGE_DTYPES, default="float32", help=help)


def add_exp_dir(p, help: str = "experiment directory written by aac-train (reads it)") -> None:
    """--exp-dir: one experiment directory exp/NAME (a root of experiments is --exp-root)."""
    _contract(p, "--exp-dir", required=True, help=help)


def add_downsample(p, help: str) -> None:
    """--downsample: the training frame stride (config.yaml `downsample`), nothing else."""
    from aac.frames import STRIDE_FACTORS

    _contract(p, "--downsample", type=int, choices=STRIDE_FACTORS, help=help)


def add_rerank_options(p) -> None:
    """--decode-config, --candidates, --num-candidates, --rerank-scorer, --atcl-exp: candidate
    captions re-ranked by log-probability and audio-text similarity (aac.rerank); a flag
    given replaces its key of the decode config (aac.scorers.decode_conf_from_args)."""
    from aac.rerank import CANDIDATE_MODES, SCORERS

    _contract(
        p,
        "--decode-config",
        help="decode YAML with candidates: {mode, num, temperature, top_p, seed} and "
        "rerank: {logprob_weight, similarity_weight, scorer, atcl_exp} (reads it)",
    )
    _contract(
        p,
        "--candidates",
        choices=CANDIDATE_MODES,
        help="off (one beam-search caption), beam (all beam hypotheses) or sampling "
        "(nucleus), re-ranked (default: the decode config's, off)",
    )
    _contract(
        p,
        "--num-candidates",
        type=int,
        help="candidates per clip (default: the beam width, or 50 when sampling)",
    )
    _contract(
        p,
        "--rerank-scorer",
        choices=SCORERS,
        help="audio-text similarity: head (the model's text-embedding head) or atcl",
    )
    _contract(p, "--atcl-exp", help="aac-pretrain-encoder ATCL experiment dir (scorer atcl)")


def add_launch_options(p) -> None:
    """--ngpu, --nproc, --num-nodes: how a training run is spread over processes."""
    _contract(p, "--ngpu", type=int, default=0, help="GPUs per node (>1: DDP via torchrun)")
    _contract(p, "--nproc", type=int, default=1, help="CPU processes (gloo DDP) when ngpu=0")
    _contract(p, "--num-nodes", type=int, default=1, help="nodes, launched through srun")


def add_model_options(
    p,
    dtype_default: Optional[str] = "float32",
    dtype_help: str = "bfloat16 runs under autocast (faster, captions may change)",
) -> None:
    """--checkpoint, --encoder-checkpoint, --trust-checkpoint, --compute-dtype: the tools
    that load a captioning model with its encoder (aac-caption, aac-benchmark, aac-scenarios)."""
    add_checkpoint(p)
    add_encoder_checkpoint(p)
    add_trust_checkpoint(p)
    add_compute_dtype(p, dtype_default, dtype_help)


def check_model_checkpoint(value: Optional[str], trust: bool = False) -> None:
    """Refuse an encoder file passed as --checkpoint, before a confusing shape error.

    A `.pth` file (the official encoders' suffix), or an existing file holding no
    caption-model weights, belongs to --encoder-checkpoint: say so.
    """
    import re
    from pathlib import Path

    if not value or value in MODEL_CHECKPOINT_NAMES or re.fullmatch(r"epoch\d+", value):
        return
    hint = (
        f"--checkpoint {value}: not a captioning model checkpoint (best, last, epochN or a "
        "path); pass an encoder checkpoint with --encoder-checkpoint"
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


class ModelLoadError(AacError):
    """The model given to aac-caption / aac-benchmark / aac-scenarios cannot be loaded."""


def load_captioner(args, **kwargs):
    """Captioner.from_pretrained from the `add_model_options` flags, args.model and
    args.beam (and the `add_rerank_options` flags where the tool has them: candidate
    captions re-ranked); `kwargs` go to the Captioner (device, batch_size ...). Load
    failures are one line."""
    from aac.captioner import Captioner

    check_model_checkpoint(args.checkpoint, args.trust_checkpoint)
    if hasattr(args, "decode_config"):  # the tool takes add_rerank_options
        from aac.scorers import decode_conf_from_args

        kwargs.setdefault("decode_conf", decode_conf_from_args(args, args.beam))
    try:
        return Captioner.from_pretrained(
            args.model,
            encoder_checkpoint=args.encoder_checkpoint,
            checkpoint=args.checkpoint,
            trust_checkpoint=args.trust_checkpoint,
            beam=args.beam,
            **kwargs,
        )
    except AacError:
        raise
    except ValueError as e:  # loader checks not yet typed as AacError
        raise ModelLoadError(f"cannot load model {args.model}: {e}") from e
