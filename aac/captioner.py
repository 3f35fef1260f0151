"""Captioner: audio in, captions out, from an experiment directory or a packed model.

    from aac import Captioner
    c = Captioner.from_pretrained("exp/bart_pann", device="cpu")
    for r in c.caption(["a.wav", "clips/"]):
        print(r.file, r.caption or r.error)
    c.caption_array(wave, sr)          # numpy (T,) or (C, T) at any rate -> str

Captions come from the one captioning path (`aac.captioning.CaptionEngine`) that stage 6
decoding and training validation also use, so a clip gets the same caption everywhere:
  - the encoder runs once per clip and batches only clips of identical length, so no
    padding reaches it and a clip's features do not depend on its batch-mates;
  - clips are sorted by length and decoded in batches: beam search runs over the whole
    batch in one `generate()` call, padded frames are masked out of cross-attention;
  - everything runs under `torch.inference_mode()`.
Batched captions equal one-clip-at-a-time captions (tests/test_captioner.py checks it).
The decoder's matrix products may round differently in the last bit for another batch
size (BLAS picks kernels by shape), so a beam can flip only on a near tie.
Unreadable clips become results with an `error` and never stop the others.
Paths are only ever file names (aac.audio's path entry points): a name ending in `|` is
a file of that name, never a command; FIFOs and devices are refused unopened.
With `window`, a file is read block by block and its windows are captioned as they come
(`batch_size` at a time), so a day-long recording needs the memory of a few windows. NaN
or infinite samples are refused with their count: the file, the window (`caption`), or
the array (`caption_array`, AudioError).
"""

from __future__ import annotations

import copy
import dataclasses
import tempfile
import warnings
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Sequence

import numpy as np
import torch

from aac.audio import (
    AudioError,
    MonoBlocks,
    check_finite,
    count_nonfinite,
    load_mono_file,
    resample,
    to_mono,
)
from aac.captioning import DTYPES, CaptionEngine, build_encoder_from_info
from aac.expdir import load_model_from_expdir
from aac.packing import PackError, resolve_encoder_checkpoint, unpack_model
from aac.prepack import unprepack_linears
from aac.windows import gather_audio_files, iter_windows


@dataclass
class CaptionResult:
    """One caption (or the reason there is none) for a file or a window of it."""

    file: str
    caption: Optional[str] = None
    error: Optional[str] = None
    start: Optional[float] = None  # seconds, windowed captioning only
    end: Optional[float] = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        return asdict(self)


def _build_encoder(enc_info: dict, checkpoint: Optional[str], device: str, trust: bool = False):
    if enc_info.get("random_init"):
        # build_encoder seeds random-init weights itself (the seed feature extraction used).
        warnings.warn(
            f"encoder {enc_info['name']!r} is RANDOMLY INITIALISED: captions are "
            "meaningless; such models are for speed measurements only",
            stacklevel=3,
        )
    return build_encoder_from_info(
        {**enc_info, "checkpoint": checkpoint}, device=device, trust=trust
    )


class Captioner:
    """A loaded encoder + caption model; see the module docstring."""

    def __init__(
        self,
        loaded,
        encoder,
        device: str = "cpu",
        beam: int = 4,
        batch_size: int = 8,
        max_length: Optional[int] = None,
        dtype: str = "float32",
        workdir: Optional[tempfile.TemporaryDirectory] = None,
        reranker=None,
        prepack: bool = True,
    ):
        self.loaded, self.encoder, self.device = loaded, encoder, device
        self.prepack = prepack  # Linear weights packed for oneDNN at first use (aac.prepack)
        self.reranker = reranker  # aac.rerank.Reranker: candidate captions re-ranked
        self.beam, self.batch_size, self.max_length = beam, batch_size, max_length
        self.enc_info = dict(loaded.encoder_info)
        self._workdir = workdir  # keeps an unpacked model alive as long as the Captioner
        self.dtype = "float32"
        self.set_dtype(dtype)

    @classmethod
    def from_pretrained(
        cls,
        path,
        device: str = "cpu",
        encoder_checkpoint=None,
        checkpoint: str = "best",
        quantize: Optional[str] = None,
        trust_checkpoint: bool = False,
        decode_conf=None,
        **kwargs,
    ) -> "Captioner":
        """Load an exp dir or an `aac-pack` zip; verifies the encoder checkpoint's SHA-256.

        `trust_checkpoint` allows full unpickling of the model and encoder checkpoints.
        `decode_conf` (aac.rerank.DecodeConf): candidate captions and their re-ranking.

        `checkpoint` names the caption model's weights in an exp dir: best|last|epochN|path.
        """
        path, workdir, included = Path(path), None, None
        if path.is_file() and zipfile.is_zipfile(path):
            workdir = tempfile.TemporaryDirectory(prefix="aac-model-")
            manifest = unpack_model(path, workdir.name)
            exp_dir, checkpoint = Path(workdir.name), "best"
            if manifest["encoder"].get("included"):
                included = exp_dir / manifest["encoder"]["included"]
        elif path.is_dir():
            exp_dir = path
        else:
            raise PackError(f"{path}: neither an experiment directory nor a packed model zip")
        loaded = load_model_from_expdir(
            exp_dir, checkpoint=checkpoint, device=device, trust=trust_checkpoint
        )
        enc_ckpt = resolve_encoder_checkpoint(loaded.encoder_info, encoder_checkpoint, included)
        encoder = _build_encoder(loaded.encoder_info, enc_ckpt, device, trust_checkpoint)
        if decode_conf is not None:
            from aac.scorers import build_reranker

            kwargs["reranker"] = build_reranker(decode_conf, loaded, device)
        self = cls(loaded, encoder, device=device, workdir=workdir, **kwargs)
        if quantize:
            self.quantize(quantize)
        return self

    # ---- settings -------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return int(self.encoder.sample_rate)

    def quantize(self, kind: str = "int8") -> None:
        """Dynamic int8 quantisation of every Linear layer (CPU only; convs stay fp32)."""
        if kind != "int8":
            raise ValueError(f"quantize must be 'int8', got {kind!r}")
        if self.device != "cpu":
            raise ValueError("int8 dynamic quantisation runs on CPU only")
        from torch.ao.quantization import quantize_dynamic

        self._unprepack()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao deprecation notice, still functional
            self.loaded.model = quantize_dynamic(self.loaded.model, {torch.nn.Linear}, torch.qint8)
            self.encoder = quantize_dynamic(self.encoder, {torch.nn.Linear}, torch.qint8)

    def variant(
        self, dtype: str = "float32", quantize: Optional[str] = None, prepack: bool = True
    ) -> "Captioner":
        """A copy with its own model and encoder weights in another dtype / quantised /
        not packed for oneDNN (`prepack=False`: torch's default Linear path)."""
        loaded = dataclasses.replace(self.loaded, model=copy.deepcopy(self.loaded.model))
        other = Captioner(
            loaded,
            copy.deepcopy(self.encoder),
            device=self.device,
            beam=self.beam,
            batch_size=self.batch_size,
            max_length=self.max_length,
            dtype=dtype,
            workdir=self._workdir,
            reranker=self.reranker,
            prepack=prepack,
        )
        if quantize:
            other.quantize(quantize)
        if not prepack:
            other._unprepack()
        return other

    def with_reranker(self, reranker) -> "Captioner":
        """A copy sharing this one's weights that re-ranks candidate captions (aac.rerank)."""
        other = copy.copy(self)
        other.reranker = reranker
        return other

    def set_dtype(self, dtype: str) -> None:
        """float32, or bfloat16: autocast with Linear/Conv weights stored in bf16.

        Autocast re-casts frozen weights on every call (its cache only holds leaf tensors
        that require grad): 20 decoding steps would cast the decoder 20 times. Casting the
        same weights once up front gives the same numbers without that cost; norms,
        embeddings and softmax stay as autocast runs them.
        """
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        if dtype == self.dtype:
            return
        if self.dtype != "float32":
            raise ValueError(f"cannot change dtype from {self.dtype} to {dtype}")
        self.dtype = dtype
        self._unprepack()
        for module in list(self.loaded.model.modules()) + list(self.encoder.modules()):
            if isinstance(module, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d)):
                for p in module.parameters(recurse=False):
                    p.data = p.data.to(DTYPES[dtype])

    @property
    def engine(self) -> CaptionEngine:
        """The captioning path with this Captioner's current weights and settings."""
        return CaptionEngine.from_loaded(
            self.loaded,
            self.encoder,
            beam=self.beam,
            max_length=self.max_length,
            dtype=self.dtype,
            reranker=self.reranker,
            prepack=self.prepack,
        )

    def _unprepack(self) -> None:
        """Linear layers back to nn.Linear (before a dtype change or quantisation; the
        engine packs them again at its next use)."""
        unprepack_linears(self.loaded.model)
        unprepack_linears(self.encoder)

    # ---- the pipeline ---------------------------------------------------------------
    def load_wave(self, path: str) -> np.ndarray:
        """A file path as mono float32 (T,) at the encoder's rate; raises AudioError."""
        return load_mono_file(path, self.sample_rate)

    def encode(self, waves: Sequence[np.ndarray]) -> List[torch.Tensor]:
        """Cache-level features (T', D) per wave (T,), as `aac.captioning.encode_waves` makes them."""
        feats, lens = self.engine.encode(waves)  # (B, T', D), (B,)
        return [feats[i, : int(lens[i])] for i in range(len(waves))]

    def caption_waves(self, waves: Sequence[np.ndarray], timer=None) -> List[str]:
        """Captions for mono waves at `sample_rate`, decoded in length-sorted batches.

        `timer`, if given, is called as timer(indices, encode_s, decode_s) per batch (the
        benchmark uses it to split time between encoder and decoder).
        """
        captions = self.engine.run(
            {i: len(w) for i, w in enumerate(waves)},
            self.batch_size,
            lambda idx: [waves[i] for i in idx],
            "audio",
            timer,
        )
        return [captions[i] for i in range(len(waves))]

    def caption_array(self, wave: np.ndarray, sr: int) -> str:
        """Caption one waveform: numpy (T,) or (C, T) float at rate `sr`.

        Raises AudioError naming how many samples are NaN or infinite, if any are.
        """
        wave = np.asarray(wave, dtype=np.float32)
        check_finite(wave, "audio array")
        if wave.ndim == 2 and wave.shape[0] > wave.shape[1]:
            wave = wave.T  # (T, C) as soundfile returns it
        mono = resample(to_mono(wave), int(sr), self.sample_rate)
        return self.caption_waves([np.ascontiguousarray(mono, dtype=np.float32)])[0]

    def _file_items(self, path: str):
        try:
            yield CaptionResult(path), self.load_wave(path)
        except AudioError as e:
            yield CaptionResult(path, error=str(e)), None

    def _window_items(self, path: str, window: float, hop: float):
        """(result, window samples or None when refused) per window, read block by block."""
        try:
            blocks = MonoBlocks(path, self.sample_rate)
            for w, wave in iter_windows(blocks, self.sample_rate, window, hop):
                r = CaptionResult(path, start=round(w.start_s, 3), end=round(w.end_s, 3))
                bad = count_nonfinite(wave)
                if bad:
                    r.error = (
                        f"window {w.start_s:.2f}-{w.end_s:.2f} s: {bad} of {len(wave)} "
                        f"samples (at {self.sample_rate} Hz) are NaN or infinite"
                    )
                yield r, None if bad else wave
        except AudioError as e:  # unreadable, or became unreadable part way
            yield CaptionResult(path, error=str(e)), None

    def _caption_pending(self, pending: list, waves: list, progress) -> Iterator[CaptionResult]:
        """Caption `waves`, then yield `pending` in order (None marks a finished file)."""
        captions = iter(self.caption_waves(waves) if waves else [])
        for item in pending:
            if item is None:
                if progress is not None:
                    progress(1)
                continue
            if item.ok:
                item.caption = next(captions)
            yield item

    def caption_iter(
        self,
        paths: Iterable[str],
        window: Optional[float] = None,
        hop: Optional[float] = None,
        chunk: Optional[int] = None,
        progress=None,
    ) -> Iterator[CaptionResult]:
        """Yield results in input order as they are made (bounded memory).

        Whole files are loaded `chunk` at a time (default 4 batches); windows are read
        and captioned `chunk` at a time (default one batch). `progress`, if given, is
        called with 1 as each file is finished.
        """
        paths = [
            p
            for item in paths
            for p in (gather_audio_files([item]) if Path(item).is_dir() else [str(item)])
        ]
        chunk = chunk or (self.batch_size if window else max(self.batch_size * 4, 1))
        pending, waves = [], []
        for path in paths:
            items = (
                self._file_items(path)
                if window is None
                else self._window_items(path, window, hop or window)
            )
            for item, wave in items:
                pending.append(item)
                if wave is not None:
                    waves.append(wave)
                if len(waves) >= chunk:
                    yield from self._caption_pending(pending, waves, progress)
                    pending, waves = [], []
            pending.append(None)  # this file is finished
        yield from self._caption_pending(pending, waves, progress)

    def stream(self, chunks, window: float, hop: float, rate: int, realtime: bool = True):
        """Live captions of a stream of PCM chunks (numpy (T,) or (T, C) at `rate`).

        Yields one `aac.streaming.StreamResult` per hop for the last `window` seconds: start,
        end, caption, latency_s, skipped (windows dropped to keep up when `realtime`).
        """
        from aac.streaming import stream_captions

        return stream_captions(self, chunks, window, hop, rate, realtime=realtime)

    def caption(
        self, paths: Iterable[str], window: Optional[float] = None, hop: Optional[float] = None
    ) -> List[CaptionResult]:
        """One CaptionResult per file (per window with `window`), in input order.

        Directories are expanded recursively to the audio files they hold.
        """
        return list(self.caption_iter(paths, window=window, hop=hop))
