"""Stage 6: caption a data set through `aac.captioning`, and time it two ways (rtf.json).

Speed is RTF = seconds of audio per second of wall time (higher is faster; see
docs/design.md). rtf.json holds two measurements:
  batched  how this decode ran: clips in length-sorted batches of `batch_size`, from
           cached features (caption model only) or from audio (encoder + caption model).
           A clip's figure is that of its batch; the first batch is a warm-up, left out.
  paper    the paper's Table 2 setting: audio in, one clip at a time, beam 4, encoder +
           caption model, one untimed warm-up clip (`aac.speed.paper_rtf`), on a stated
           sample: the first `rtf_clips` clip ids of the set (sorted), or all of them.
Audio file reading is never timed. Stage 6 times the paper RTF in one serial step after
the parts merged (`time_paper_rtf_serially`, `aac-decode --paper-rtf-only`), so no other
part shares the cores meanwhile; parts timing their own share (`--rtf-clips` on a part)
are still joined by `merge_decodes`. The block records the sample, the torch thread count,
the encoder / decoder split and the machine (`aac.speed.machine_facts`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from aac.atomic import write_json_atomic
from aac.captioning import CaptionEngine, build_encoder_from_info
from aac.datadir import read_kaldi_text, read_utt2dur, write_kaldi_text
from aac.errors import AacError
from aac.feature_info import describe_mismatch, mismatches, open_features
from aac.features import FeatureCacheError
from aac.speed import PAPER_BEAM, RTF_DEFINITION, machine_facts, paper_rtf, rtf_record

# the same in every part of one decoding; "decoding": its candidates and re-ranking (or None)
SHARED_KEYS = (
    "beam",
    "device",
    "downsample",
    "extract_stride",
    "checkpoint",
    "compute_dtype",
    "decoding",
)


def select_clips(data_dir: Path, keys_file: Optional[str]) -> Dict[str, float]:
    """clip id -> duration (utt2dur), restricted to the ids of `keys_file` (first column)."""
    durations = read_utt2dur(data_dir)
    if keys_file:
        wanted = [
            line.split()[0] for line in Path(keys_file).read_text().splitlines() if line.strip()
        ]
        unknown = [k for k in wanted if k not in durations]
        if unknown:
            raise ValueError(
                f"{keys_file}: {len(unknown)} ids not in {data_dir}/utt2dur, e.g. {unknown[:3]}"
            )
        durations = {k: durations[k] for k in wanted}
    if not durations:
        raise ValueError(f"{data_dir}: no clips to decode")
    return durations


def check_cache_fits(reader, model_dim: int, encoder_info: dict, exp_config: str) -> None:
    """Refuse a cache made otherwise than the model's training features, naming the attribute.

    Every key the `encoder:` block records is compared (encoder, checkpoint SHA-256,
    random_init, sample and frame rates, extraction stride, dim, chunking, encoder conf,
    dtype; not the checkpoint's path), then the dimension against the model itself.
    """
    found = mismatches(encoder_info, reader.attrs)
    if found:
        raise FeatureCacheError(
            describe_mismatch(found, reader.path, f"{exp_config} (encoder:)")
            + "; decode with features made as the training features were, or --from-audio"
        )
    dim = reader.attrs.get("dim")
    if dim != model_dim:
        raise FeatureCacheError(
            f"{reader.path}: feature dim {dim} but the model expects {model_dim}"
        )


def decode_clips(
    engine: CaptionEngine,
    durations: Dict[str, float],
    batch_size: int,
    feats_path=None,
    wav_scp=None,
    encoder_info: Optional[dict] = None,
    exp_config: str = "the experiment's config.yaml",
):
    """Captions and per-batch timings [(ids, seconds)], from a feature cache or wav.scp.

    A cache is first checked against `encoder_info` (config.yaml `encoder:`, see
    `check_cache_fits`); every clip read is checked for NaN/Inf and its checksum. A
    reranker scorer that embeds audio itself (ATCL) reads the clips from `wav_scp`.
    """
    from aac.audio import load_mono

    timings = []
    if feats_path is not None:
        reader = open_features(feats_path)
        check_cache_fits(reader, engine.model.proj.in_features, encoder_info or {}, exp_config)
        load, source = (
            (lambda ids: [np.asarray(reader[c], dtype=np.float32) for c in ids]),
            "features",
        )
    else:
        specs = read_kaldi_text(wav_scp)
        rate = engine.encoder.sample_rate
        load, source = (lambda ids: [load_mono(specs[c], rate) for c in ids]), "audio"
    load_waves = None
    if engine.reranker is not None and engine.reranker.needs_waves:  # an ATCL scorer
        scp, rate = read_kaldi_text(wav_scp), engine.reranker.scorer.sample_rate
        load_waves = lambda ids: [load_mono(scp[c], rate) for c in ids]  # noqa: E731
    captions = engine.run(
        durations,
        batch_size,
        load,
        source,
        timer=lambda ids, enc_s, dec_s: timings.append((ids, enc_s + dec_s)),
        load_waves=load_waves,
    )
    return captions, timings


def batched_rtf(timings, durations: Dict[str, float], **facts) -> dict:
    """Per-clip RTF of batches; the first batch is warm-up unless it is the only one."""
    per_clip, warmup, audio_s, wall_s = {}, [], 0.0, 0.0
    for i, (ids, seconds) in enumerate(timings):
        if i == 0 and len(timings) > 1:
            warmup.extend(ids)
            continue
        audio = sum(durations[c] for c in ids)
        per_clip.update({c: audio / max(seconds, 1e-9) for c in ids})
        audio_s, wall_s = audio_s + audio, wall_s + seconds
    return {**rtf_record(per_clip, audio_s, wall_s, **facts), "warmup_clips": sorted(warmup)}


def paper_sample(data_dir: Path, durations: Dict[str, float], rtf_clips: int) -> List[str]:
    """This part's share of the sample: the first `rtf_clips` ids of the whole set, sorted."""
    everything = sorted(read_utt2dur(data_dir))
    sample = everything if rtf_clips < 0 else everything[:rtf_clips]
    return [c for c in sample if c in durations]


def experiment_encoder(loaded, checkpoint=None, trust: bool = False):
    """The experiment's encoder on its device; `checkpoint` replaces the recorded path
    (`--encoder-checkpoint`: its SHA-256 must match the one recorded at extraction)."""
    from aac.packing import resolve_encoder_checkpoint

    path = resolve_encoder_checkpoint(loaded.encoder_info, checkpoint, None)
    return build_encoder_from_info(loaded.encoder_info, loaded.device, checkpoint=path, trust=trust)


def measure_paper_rtf(
    loaded, data_dir: Path, ids: List[str], encoder=None, dtype: str = "float32", **encoder_opts
) -> dict:
    """rtf.json `paper` block for `ids`, or {"unavailable": reason} when audio cannot run.

    Without `encoder`, the experiment's is built with `encoder_opts` (experiment_encoder)."""
    from aac.audio import load_mono

    try:
        encoder = encoder or experiment_encoder(loaded, **encoder_opts)
        specs = read_kaldi_text(data_dir / "wav.scp")
        waves = {c: load_mono(specs[c], encoder.sample_rate) for c in ids}
    except (AacError, OSError, KeyError) as e:
        return {"unavailable": f"{type(e).__name__}: {e}"}
    engine = CaptionEngine.from_loaded(loaded, encoder, beam=PAPER_BEAM, dtype=dtype, prepack=True)
    record = paper_rtf(engine, waves, encoder.sample_rate)
    return {**record, "environment": machine_facts(loaded.device, dtype)}


def sample_label(data_dir: Path, rtf_clips: int) -> str:
    if rtf_clips > 0:
        return f"first {rtf_clips} clip ids of {Path(data_dir).name} (sorted)"
    return f"all clips of {Path(data_dir).name}"


def time_paper_rtf_serially(
    loaded, data_dir: Path, out_dir: Path, rtf_clips: int, dtype: str = "float32", **encoder_opts
) -> dict:
    """The paper RTF in one serial step after the parts merged: the whole sample in one
    process with nothing of this decode running beside it; replaces OUTPUT_DIR/rtf.json
    `paper` (the rest of the file kept). Returns the new block."""
    path = Path(out_dir) / "rtf.json"
    try:
        rtf = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise AacError(f"{path}: cannot read the merged decode's rtf.json: {err}") from None
    sample = paper_sample(data_dir, read_utt2dur(data_dir), rtf_clips)
    paper = measure_paper_rtf(loaded, data_dir, sample, dtype=dtype, **encoder_opts)
    paper.update(sample=sample_label(data_dir, rtf_clips), timed="serial, after the parts merged")
    rtf["paper"] = paper
    write_json_atomic(path, rtf, indent=1)
    return paper


def write_outputs(out_dir: Path, captions: Dict[str, str], rtf: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_kaldi_text(out_dir / "text", captions.items())
    write_json_atomic(out_dir / "rtf.json", rtf, indent=1)


def _merge_block(blocks: List[dict], what: str) -> dict:
    """One batched/paper block from the parts' blocks (figures recomputed over all clips)."""
    missing = [b["unavailable"] for b in blocks if "unavailable" in b]
    if missing:
        return {"unavailable": missing[0]}
    per_clip = {k: v for b in blocks for k, v in b["per_clip"].items()}
    keep = ("mode", "beam", "batch_size", "sample", "threads", "environment", "timed")
    facts = {k: v for k, v in blocks[0].items() if k in keep}
    for key in ("encoder_s", "decoder_s"):
        if all(key in b for b in blocks):
            facts[key] = sum(b[key] for b in blocks)
    modes = {b.get("mode") for b in blocks}
    if len(modes) > 1:
        raise ValueError(f"{what}: parts differ in mode ({', '.join(map(str, modes))})")
    out = rtf_record(
        per_clip, sum(b["audio_s"] for b in blocks), sum(b["wall_s"] for b in blocks), **facts
    )
    if "warmup_clips" in blocks[0]:
        out["warmup_clips"] = sorted(c for b in blocks for c in b["warmup_clips"])
    return out


def merge_decodes(out_dir: Path, part_dirs: List[Path]) -> int:
    """Concatenate parts' text and rtf.json; duplicate clip ids are an error."""
    captions, records = {}, []
    for part in part_dirs:
        for key, caption in read_kaldi_text(part / "text").items():
            if key in captions:
                raise ValueError(f"{part}/text: clip {key!r} is also in another part")
            captions[key] = caption
        records.append(json.loads((part / "rtf.json").read_text(encoding="utf-8")))
    rtf = {
        "definition": RTF_DEFINITION,
        **{k: records[0][k] for k in SHARED_KEYS if k in records[0]},
        "parts": len(records),
        "batched": _merge_block([r["batched"] for r in records], f"{out_dir} batched"),
    }
    papers = [r["paper"] for r in records if r.get("paper") is not None]
    rtf["paper"] = _merge_block(papers, f"{out_dir} paper") if papers else None
    write_outputs(out_dir, captions, rtf)
    return len(captions)
