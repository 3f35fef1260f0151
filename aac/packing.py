"""Packed models: one zip holding everything needed to caption, and its checks.

Layout of `model.zip` (all names at the top level):
  manifest.json    format tag, version, SHA-256 of every other member, encoder reference
  config.yaml      the experiment's resolved config (with its `encoder:` block)
  tokenizer.model  SentencePiece model
  best.safetensors decoder weights (training state such as optimizer moments dropped);
                   its scalar facts (epoch, score, metric) live in the manifest
  encoder/<file>   the encoder checkpoint, only when packed with `include_encoder=True`

A packed model holds no pickle: a shared file can therefore never run code when it is
loaded. The manifest's SHA-256 values only catch corruption (whoever crafts a zip
writes a matching manifest), so safety comes from the loading itself: member names are
checked (no absolute paths, no `..`), and only this format's version 2 is read (a zip
of any other version is refused with the version it holds).
Every member is checked against a size limit for its kind (MEMBER_BYTES, and the size
the manifest records) before it is read and copied with that cap, so a deflate bomb or
a zip header that understates a member is refused before it costs memory or disk.
Unpacking writes `best.pt` (plain tensors, weights-only loadable) next to the extracted
files, so an unpacked model has the usual experiment-directory layout.

The encoder reference is its registry name plus the SHA-256 of the checkpoint the
features were extracted with. Loading refuses an encoder checkpoint whose SHA-256
differs: a different checkpoint gives different features and silently wrong captions.
Encoders without weights (`has_weights` on the encoder class: `logmel`) and random-init
encoders are rebuilt from a fixed seed.
"""

from __future__ import annotations

import io
import json
import logging
import os
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Optional

from aac.checkpoint_io import (
    CheckpointNotFoundError,
    file_sha256,
    load_checkpoint,
    load_safetensors,
    save_atomic,
    save_safetensors_atomic,
)
from aac.config import load_yaml
from aac.encoders import encoder_class
from aac.errors import AacError
from aac.expdir import resolve_checkpoint
from aac.limits import CONFIG_BYTES, InputTooLarge, MiB, copy_capped, short_repr, size_text

log = logging.getLogger(__name__)

PACK_FORMAT = "aac-packed-model"
PACK_VERSION = 2  # the only version read; nothing was ever released in another
MANIFEST = "manifest.json"
DECODER_FILE = "best.safetensors"
UNPACKED_DECODER = "best.pt"
# What a member may inflate to, by kind, so a crafted zip (a deflate bomb, a header that
# understates) is refused before it costs more than this. Any member is also bounded by the
# size the manifest records (packs made before sizes were recorded have none).
MEMBER_BYTES = {MANIFEST: 4 * MiB, "config.yaml": CONFIG_BYTES, "tokenizer.model": 64 * MiB}
WEIGHTS_BYTES = 4096 * MiB  # decoder or encoder weights (BEATs, the largest, is ~350 MB)
MAX_MEMBERS = 64


class PackError(AacError, RuntimeError):
    """A packed model or encoder checkpoint that is missing, corrupt or does not match."""


def encoder_block(config: dict, source: str) -> dict:
    """The `encoder:` block of an experiment config, checked for the keys packing needs."""
    enc = config.get("encoder")
    if not isinstance(enc, dict) or not enc.get("name"):
        raise PackError(f"{source}: config has no `encoder:` block with a `name`")
    return enc


def needs_encoder_checkpoint(enc: dict) -> bool:
    """Whether the model's encoder reads a checkpoint: it has weights and is not random-init."""
    try:
        has_weights = encoder_class(enc["name"]).has_weights
    except ValueError as e:  # an encoder this version does not register
        raise PackError(str(e)) from None
    return has_weights and not enc.get("random_init")


def _decoder_weights_only(src: Path, dst: Path, trust: bool = False) -> dict:
    """Write the decoder weights of checkpoint `src` to safetensors `dst`; returns the
    scalar facts (epoch, score, metric) kept beside them. Optimizer/RNG state only
    matters for resuming training and can triple the size."""
    state = load_checkpoint(src, trust=trust)
    weights = state.get("model") if isinstance(state, dict) else None
    if not isinstance(weights, dict) or not weights:
        raise PackError(f"{src}: no 'model' weights in this checkpoint")
    facts = {k: v for k, v in state.items() if isinstance(v, (int, float, str, bool, type(None)))}
    # safetensors refuses tensors that share memory (tied embeddings): store copies
    save_safetensors_atomic({k: v.detach().clone() for k, v in weights.items()}, dst)
    return facts


def pack_model(
    exp_dir: str | os.PathLike,
    out_zip: str | os.PathLike,
    checkpoint: str = "best",
    include_encoder: bool = False,
    encoder_checkpoint: Optional[str | os.PathLike] = None,
    trust_checkpoint: bool = False,
) -> dict:
    """Write `out_zip` atomically from an experiment directory; returns the manifest.

    The decoder checkpoint is read weights-only unless `trust_checkpoint` is set."""
    exp_dir, out_zip = Path(exp_dir), Path(out_zip)
    config_path = exp_dir / "config.yaml"
    config = load_yaml(config_path)
    enc = encoder_block(config, str(config_path))
    tok_path = exp_dir / "tokenizer.model"
    if not tok_path.is_file():
        raise PackError(f"{tok_path}: tokenizer model not found")
    try:
        ckpt = resolve_checkpoint(exp_dir, checkpoint)
    except CheckpointNotFoundError as e:
        raise PackError(str(e)) from None
    enc_file = None
    if include_encoder and needs_encoder_checkpoint(enc):
        enc_file = Path(encoder_checkpoint or enc.get("checkpoint") or "")
        if not enc_file.is_file():
            raise PackError(
                f"--include-encoder: encoder checkpoint {str(enc_file)!r} not found; "
                f"pass its path (expected SHA-256 {enc.get('checkpoint_sha256')})"
            )
        check_encoder_sha256(enc_file, enc)
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_zip.parent) as tmp:
        weights = Path(tmp) / DECODER_FILE
        facts = _decoder_weights_only(ckpt, weights, trust_checkpoint)
        members = {"config.yaml": config_path, "tokenizer.model": tok_path, DECODER_FILE: weights}
        if enc_file is not None:
            members[f"encoder/{enc_file.name}"] = enc_file
        manifest = {
            "format": PACK_FORMAT,
            "version": PACK_VERSION,
            "source": {"exp_dir": str(exp_dir), "checkpoint": str(ckpt)},
            "encoder": {
                "name": enc["name"],
                "checkpoint_sha256": enc.get("checkpoint_sha256"),
                "random_init": bool(enc.get("random_init", False)),
                "included": f"encoder/{enc_file.name}" if enc_file else None,
            },
            "decoder": {"file": DECODER_FILE, "facts": facts},
            "files": {name: file_sha256(path) for name, path in members.items()},
            "sizes": {name: path.stat().st_size for name, path in members.items()},
        }
        partial = out_zip.with_name(out_zip.name + ".partial")
        with zipfile.ZipFile(partial, "w") as zf:
            zf.writestr(MANIFEST, json.dumps(manifest, indent=2), zipfile.ZIP_DEFLATED)
            for name, path in members.items():
                # Weights barely compress; storing them keeps packing and loading fast.
                method = zipfile.ZIP_DEFLATED if path.suffix == ".yaml" else zipfile.ZIP_STORED
                zf.write(path, name, compress_type=method)
        os.replace(partial, out_zip)
    return manifest


def _check_member_name(zip_path: Path, name: str) -> None:
    """Refuse absolute paths and `..` (zip-slip): a member must stay inside `dest`."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
        raise PackError(
            f"{zip_path}: refused: member {name!r} has an absolute path or '..' "
            f"(it would be written outside the unpack directory)"
        )


def member_limit(name: str, manifest: dict) -> int:
    """Bytes member `name` may hold: its kind's limit, or the size the manifest records."""
    limit = MEMBER_BYTES.get(name, WEIGHTS_BYTES)
    sizes = manifest.get("sizes")
    recorded = sizes.get(name) if isinstance(sizes, dict) else None
    if isinstance(recorded, int) and not isinstance(recorded, bool) and recorded >= 0:
        limit = min(limit, recorded)
    return limit


def _copy_member(zf: zipfile.ZipFile, zip_path: Path, name: str, limit: int, out) -> None:
    """Copy member `name` into file object `out`, refusing it when its header declares
    more than `limit` bytes or when it inflates past that (a header that lies)."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise PackError(f"{zip_path}: manifest lists {name!r}, archive lacks it") from None
    what = f"{zip_path}: member {name!r}"
    if info.file_size > limit:
        raise PackError(
            f"{what} declares {size_text(info.file_size)}, more than the "
            f"{size_text(limit)} allowed for it; refused before reading"
        )
    try:
        with zf.open(info) as src:
            copy_capped(src, out, min(limit, info.file_size), what)
    except InputTooLarge as e:
        raise PackError(str(e)) from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise PackError(
            f"{what} is corrupt or its header lies about its size "
            f"({size_text(info.file_size)} declared): {e}"
        ) from None


def _read_manifest(zf: zipfile.ZipFile, zip_path: Path) -> dict:
    buffer = io.BytesIO()
    if MANIFEST not in zf.namelist():
        raise PackError(f"{zip_path}: no {MANIFEST}; not made by aac-pack")
    _copy_member(zf, zip_path, MANIFEST, MEMBER_BYTES[MANIFEST], buffer)
    try:
        manifest = json.loads(buffer.getvalue())
    except ValueError as e:
        raise PackError(f"{zip_path}: unreadable {MANIFEST} ({e})") from None
    if not isinstance(manifest, dict):
        raise PackError(f"{zip_path}: {MANIFEST} is not a JSON object")
    return manifest


def _extract_member(
    zf: zipfile.ZipFile, zip_path: Path, dest: Path, name: str, expected: str, limit: int
) -> Path:
    target = (dest / name).resolve()
    if dest.resolve() not in target.parents:
        raise PackError(f"{zip_path}: member {name!r} points outside the archive")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(target, "wb") as out:
            _copy_member(zf, zip_path, name, limit, out)
    except PackError:
        target.unlink(missing_ok=True)
        raise
    actual = file_sha256(target)
    if actual != expected:
        raise PackError(
            f"{zip_path}: member {name!r} is corrupt (SHA-256 {actual}, manifest says {expected})"
        )
    return target


def unpack_model(zip_path: str | os.PathLike, dest: str | os.PathLike) -> dict:
    """Extract a packed model into `dest` (an exp-dir layout), verifying every SHA-256.

    Leaves `dest/best.pt` for the loaders, rebuilt from best.safetensors (tensors and the
    manifest's scalar facts only).
    """
    zip_path, dest = Path(zip_path), Path(dest)
    try:
        zf = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as e:
        raise PackError(f"{zip_path}: not a packed model ({e})") from None
    with zf:
        if len(zf.infolist()) > MAX_MEMBERS:
            raise PackError(
                f"{zip_path}: {len(zf.infolist())} members, more than a packed model's "
                f"{MAX_MEMBERS}; not made by aac-pack"
            )
        for name in zf.namelist():
            _check_member_name(zip_path, name)
        manifest = _read_manifest(zf, zip_path)
        if manifest.get("format") != PACK_FORMAT or manifest.get("version") != PACK_VERSION:
            raise PackError(
                f"{zip_path}: unsupported pack format {short_repr(manifest.get('format'))} "
                f"version {short_repr(manifest.get('version'))} (this aac reads {PACK_FORMAT!r} "
                f"version {PACK_VERSION} only; pack the experiment again with aac-pack)"
            )
        dest.mkdir(parents=True, exist_ok=True)
        files = manifest.get("files") or {}
        if not isinstance(files, dict):
            raise PackError(f"{zip_path}: {MANIFEST} `files` is not a mapping")
        for name, expected in files.items():
            _check_member_name(zip_path, name)
            _extract_member(zf, zip_path, dest, name, expected, member_limit(name, manifest))
    decoder = manifest.get("decoder") or {}
    if decoder.get("file") != DECODER_FILE or DECODER_FILE not in files:
        raise PackError(f"{zip_path}: manifest names no {DECODER_FILE} decoder weights")
    facts = {
        k: v
        for k, v in (decoder.get("facts") or {}).items()
        if isinstance(v, (int, float, str, bool, type(None))) and k != "model"
    }
    weights = load_safetensors(dest / DECODER_FILE)
    save_atomic({**facts, "model": weights}, dest / UNPACKED_DECODER)
    return manifest


def check_encoder_sha256(path: str | os.PathLike, enc: dict) -> str:
    """Raise PackError unless `path` hashes to the checkpoint the model was trained on."""
    actual = file_sha256(path)
    expected = enc.get("checkpoint_sha256")
    if expected and actual != expected:
        raise PackError(
            f"encoder checkpoint {path} does not match this model: its SHA-256 is {actual}, "
            f"the model was trained on {enc['name']} features from a checkpoint with SHA-256 "
            f"{expected}. Features from another checkpoint give wrong captions; supply the "
            f"original file."
        )
    if not expected:
        log.warning("model records no encoder SHA-256; cannot verify %s", path)
    return actual


def resolve_encoder_checkpoint(
    enc: dict,
    user_checkpoint: Optional[str | os.PathLike] = None,
    included: Optional[str | os.PathLike] = None,
) -> Optional[str]:
    """Pick and verify the encoder checkpoint: user's > packed > recorded path.

    Returns None for encoders that need no weights (`logmel`, random-init); those warn
    if the user passes a checkpoint, since the model never saw its features.
    """
    name = enc["name"]
    if not needs_encoder_checkpoint(enc):
        if user_checkpoint:
            warnings.warn(
                f"encoder {name!r} of this model needs no checkpoint (random_init="
                f"{bool(enc.get('random_init'))}); ignoring {user_checkpoint}",
                stacklevel=2,
            )
        return None
    recorded = enc.get("checkpoint")
    for cand in (user_checkpoint, included, recorded):
        if cand and Path(cand).is_file():
            check_encoder_sha256(cand, enc)
            return str(cand)
        if cand and cand is user_checkpoint:
            raise PackError(f"encoder checkpoint {cand}: file not found")
    raise PackError(
        f"this model needs the {name} encoder checkpoint (SHA-256 {enc.get('checkpoint_sha256')}); "
        f"the recorded path {recorded!r} does not exist. Pass it with --encoder-checkpoint PATH "
        f"(Python: encoder_checkpoint=PATH) or pack the model with --include-encoder."
    )
