"""Speed measurement for captioning: settings, RTF statistics, memory, machine floor.

RTF follows the paper's Table 2: seconds of audio per second of wall time (higher is
faster), encoder + decoder, audio loading excluded. Every setting first captions one
clip untimed (warm-up: lazy allocations, oneDNN kernel selection). Both settings run
the one captioning path (`aac.captioning.CaptionEngine.run`); they differ in batching:
  paper    one clip at a time, audio in, encoder then beam search (`paper_timings`, the
           one timer of that setting: stage 6's rtf.json through `paper_rtf` and
           aac-benchmark's paper row both run it, so RESULTS.md and aac-benchmark agree)
  fastest  length-sorted batches, one beam search per batch
A per-clip wall time in a batch is its share of the batch's encoder time (by length)
plus an equal share of the batch's decoding time.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Hashable, List, Sequence, Tuple

import numpy as np
import torch

RTF_DEFINITION = "seconds of audio per second of wall time (higher is faster)"
PAPER_BEAM = 4  # the paper's Table 2 decodes with beam 4


def rtf_figures(values) -> dict:
    """The paper's Table 2 figures of per-clip RTF: mean, median, 10th percentile."""
    if len(values) == 0:
        return {"mean": None, "median": None, "p10": None}
    values = np.asarray(values, dtype=float)
    return {
        "mean": float(values.mean()),
        "median": float(np.median(values)),
        "p10": float(np.percentile(values, 10)),
    }


def rtf_record(per_clip: Dict[str, float], audio_s: float, wall_s: float, **facts) -> dict:
    """rtf.json block: figures of per-clip RTF, throughput (all audio / all wall time)."""
    return {
        **facts,
        "num_clips": len(per_clip),
        **rtf_figures([per_clip[k] for k in sorted(per_clip)]),
        "throughput": audio_s / wall_s if wall_s > 0 else None,
        "audio_s": audio_s,
        "wall_s": wall_s,
        "per_clip": {k: per_clip[k] for k in sorted(per_clip)},
    }


def paper_timings(engine, waves: Sequence[np.ndarray]) -> Tuple[List[str], np.ndarray, np.ndarray]:
    """The paper's setting: every wave (T,) captioned on its own, audio in, encoder then
    beam search (`engine.beam`; the paper: 4). Returns captions, encoder seconds (N,) and
    decoder seconds (N,), in input order; no warm-up (callers run one untimed clip first).
    """
    enc, dec = np.zeros(len(waves)), np.zeros(len(waves))

    def timer(keys, enc_s, dec_s):
        enc[keys[0]], dec[keys[0]] = enc_s, dec_s

    captions = engine.run(
        {i: 1.0 for i in range(len(waves))}, 1, lambda keys: [waves[keys[0]]], "audio", timer
    )
    return [captions[i] for i in range(len(waves))], enc, dec


def paper_rtf(engine, waves: Dict[Hashable, np.ndarray], sample_rate: int) -> dict:
    """The paper's Table 2 RTF of `waves` (`paper_timings`, ids in sorted order) after one
    untimed warm-up clip. Returns `rtf_record` figures."""
    keys = sorted(waves)
    if keys:
        paper_timings(engine, [waves[keys[0]]])  # warm-up
    _, enc, dec = paper_timings(engine, [waves[k] for k in keys])
    durations = np.array([len(waves[k]) / sample_rate for k in keys])
    seconds = enc + dec
    per_clip = {k: d / max(s, 1e-9) for k, d, s in zip(keys, durations, seconds)}
    return rtf_record(
        per_clip,
        float(durations.sum()),
        float(seconds.sum()),
        mode="audio",
        beam=engine.beam,
        batch_size=1,
        threads=torch.get_num_threads(),
        encoder_s=float(enc.sum()),  # the split of the wall time: why a stride of the
        decoder_s=float(dec.sum()),  # decoder's input barely moves an encoder-bound RTF
    )


def cpu_name() -> str:
    """The CPU's model name (as `lscpu` shows it), for speed figures and benchmark reports."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_facts(device: str = "cpu", dtype: str = "float32") -> dict:
    """What produced a timing (absolute RTF differs across machines): CPU model, GPU name on
    CUDA, torch threads, torch / transformers versions, device, compute dtype."""
    from importlib import metadata

    try:
        transformers = metadata.version("transformers")
    except metadata.PackageNotFoundError:
        transformers = None
    gpu = torch.cuda.get_device_name(device) if str(device).startswith("cuda") else None
    return {
        "cpu": cpu_name(),
        "gpu": gpu,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers,
        "device": str(device),
        "dtype": dtype,
    }


@dataclass
class SettingResult:
    name: str
    captions: List[str]
    enc_s: np.ndarray  # (N,) encoder seconds per clip
    dec_s: np.ndarray  # (N,) decoder seconds per clip (share of its batch)
    peak_rss_mb: float
    extra: Dict[str, float] = field(default_factory=dict)

    @property
    def wall_s(self) -> np.ndarray:
        return self.enc_s + self.dec_s


def rtf_stats(durations: Sequence[float], walls: Sequence[float]) -> Dict[str, float]:
    """Per-clip RTF = audio seconds / wall seconds: mean, median, p10, and throughput."""
    d, w = np.asarray(durations, float), np.asarray(walls, float)
    return {**rtf_figures(d / np.maximum(w, 1e-9)), "throughput": float(d.sum() / w.sum())}


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux: fall back to the process-wide peak
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakRss:
    """Peak resident memory while the block runs, sampled every 5 ms by a thread.

    getrusage's maxrss is a process-lifetime peak, so it cannot tell two settings run one
    after the other apart; sampling can (it may miss a spike shorter than 5 ms).
    """

    def __enter__(self):
        self.peak = _rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())


class PeakMemory:
    """Peak memory of the block: CUDA allocations on a GPU, process RSS on CPU (MiB)."""

    def __init__(self, dev):
        self.dev, self.peak_mb = torch.device(dev), None

    def __enter__(self):
        if self.dev.type == "cuda":
            torch.cuda.synchronize(self.dev)
            torch.cuda.reset_peak_memory_stats(self.dev)
        else:
            self._rss = PeakRss().__enter__()
        return self

    def __exit__(self, *exc):
        if self.dev.type == "cuda":
            torch.cuda.synchronize(self.dev)
            self.peak_mb = torch.cuda.max_memory_allocated(self.dev) / 2**20
        else:
            self._rss.__exit__(*exc)
            self.peak_mb = self._rss.peak

    @property
    def kind(self) -> str:
        return "cuda max_memory_allocated" if self.dev.type == "cuda" else "process peak RSS"


def fastest_setting(captioner) -> Callable:
    """The Captioner's own batched path, timed through its timer hook."""

    def run(waves):
        enc, dec = np.zeros(len(waves)), np.zeros(len(waves))

        def timer(idx, enc_s, dec_s):
            # clip by clip inside the encoder: split the batch time by length
            lens = np.array([len(waves[i]) for i in idx], float)
            enc[idx] = enc_s * lens / lens.sum()
            dec[idx] = dec_s / len(idx)

        return captioner.caption_waves(waves, timer=timer), enc, dec

    return run


def run_settings(
    settings: Dict[str, Callable], waves: Sequence[np.ndarray], batch_size: int
) -> List[SettingResult]:
    """Run every setting on the same length-sorted batches of clips, interleaved.

    Interleaving batch by batch means a burst of load from other processes on a shared
    machine hits all settings alike instead of whichever happened to run then.
    """
    n = len(waves)
    order = sorted(range(n), key=lambda i: len(waves[i]))
    for fn in settings.values():
        fn([waves[order[0]]])  # warm-up
    out = {name: ([None] * n, np.zeros(n), np.zeros(n), [0.0]) for name in settings}
    for s in range(0, n, batch_size):
        idx = order[s : s + batch_size]
        for name, fn in settings.items():
            captions, enc, dec, peak = out[name]
            with PeakRss() as mem:
                caps, e, d = fn([waves[i] for i in idx])
            peak[0] = max(peak[0], mem.peak)
            enc[idx], dec[idx] = e, d
            for i, c in zip(idx, caps):
                captions[i] = c
    return [SettingResult(name, c, e, d, p[0]) for name, (c, e, d, p) in out.items()]


def matmul_gflops(n: int = 2048, dtype=torch.float32, seconds: float = 1.0) -> float:
    """Peak dense matmul throughput (n x n @ n x n) in GFLOP/s: the fastest single product
    within `seconds`, so other processes sharing the cores lower it as little as possible."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    best = float("inf")
    with torch.inference_mode():
        a @ b  # warm-up
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            t0 = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def memory_bandwidth_gbs(megabytes: int = 512, seconds: float = 1.0) -> float:
    """Read bandwidth in GB/s: the fastest sum over a `megabytes` fp32 tensor (far larger
    than the caches) within `seconds`, with torch's current threads."""
    x = torch.ones(megabytes * 2**20 // 4)
    best = float("inf")
    with torch.inference_mode():
        x.sum()  # warm-up: pages mapped
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            t0 = time.perf_counter()
            x.sum()
            best = min(best, time.perf_counter() - t0)
    return x.numel() * 4 / best / 1e9


CROSS_KV = ("encoder_attn.k_proj", "encoder_attn.v_proj")  # once per clip, not per step


def decoder_weights_per_step(model) -> int:
    """Weights one decoding step reads: every decoder Linear (self-attention, the cross-
    attention query and output, feed-forward) and the output projection over the
    vocabulary; not the cross-attention keys/values, computed once per clip. Times the
    bytes per weight (4 fp32, 2 bf16, 1 int8), over the memory bandwidth, this is the
    floor of a memory-bound batch-1 step."""
    from aac.prepack import PrepackedLinear

    linears = (torch.nn.Linear, PrepackedLinear)  # an fp32 / bf16 model, packed or not
    count = 0
    for name, module in model.bart.model.decoder.named_modules():
        if isinstance(module, linears) and not name.endswith(CROSS_KV):
            count += module.in_features * module.out_features
    head = model.bart.lm_head
    return count + head.in_features * head.out_features


def ms_per_token(result: "SettingResult", tokenizer) -> float:
    """Mean decoder milliseconds per output token (its caption's tokens + eos) of a setting;
    beam search may run more steps than the kept caption has, so a step costs at most this."""
    tokens = np.array([len(tokenizer.encode(c)) + 1 for c in result.captions])
    return float(1e3 * np.mean(result.dec_s / tokens))


OVERHEAD_WIDTH = 4  # d_model per attention head of the stand-in in `decoder_step_overhead_ms`


def decoder_step_overhead_ms(
    model, tokenizer, beam: int = PAPER_BEAM, steps: int = 20, frames: int = 31, runs: int = 9
) -> float:
    """Milliseconds of one beam-search step that do not depend on the weights' size.

    A stand-in of `model`'s shape of computation (same layers, heads, vocabulary, beam
    and cache) but `OVERHEAD_WIDTH` channels per head (d_model 48 for 12 heads, so its
    products cost next to nothing) captions one clip of random frames through the one captioning path
    (`generate_captions`, weights packed as in inference), eos barred so that every run
    takes `steps` steps; the median over `runs` of its wall time per step is what HF
    `generate`, the BART modules and each op's dispatch cost a step, whatever the model's
    width. A paper-size step costs at least this plus its weight reads.
    """
    import dataclasses

    from aac.captioning import CaptionEngine
    from aac.model import CaptionModel
    from aac.rerank import seeded

    conf = model.conf
    width = OVERHEAD_WIDTH * conf.decoder_attention_heads
    small = dataclasses.replace(
        conf, d_model=width, decoder_ffn_dim=4 * width, max_target_length=steps + 1
    )
    with seeded(0, torch.device("cpu")):  # the caller's random state is left alone
        stand_in = CaptionModel.for_tokenizer(model.proj.in_features, small, tokenizer).eval()
        feats = torch.randn(1, frames, model.proj.in_features)
    with torch.no_grad():
        stand_in.bart.final_logits_bias[..., tokenizer.eos_id] = -1e4  # never ends early
    engine = CaptionEngine(stand_in, tokenizer, beam=beam, max_length=steps, prepack=True)
    walls = []
    for _ in range(runs + 1):  # the first run warms up
        start = time.perf_counter()
        engine.caption_features(feats, [frames])
        walls.append(time.perf_counter() - start)
    return float(1e3 * np.median(walls[1:]) / steps)


def machine_floors(captioner, waves: Sequence[np.ndarray]) -> dict:
    """The machine's limits for this model: the encoder's FLOPs per clip (mean of the first
    3 waves) over the measured matmul rate, and the decoder weights one token step reads
    over the measured memory bandwidth (a batch-1 step is memory-bound), in ms per step at
    4 (fp32), 2 (bf16) and 1 (int8) bytes per weight; and a step's cost that no weight
    format changes (`decoder_step_overhead_ms`, at the captioner's beam)."""
    flops = float(np.mean([encoder_flops(captioner, w) for w in waves[:3]]))
    fp32, bf16 = matmul_gflops(dtype=torch.float32), matmul_gflops(dtype=torch.bfloat16)
    weights, bandwidth = decoder_weights_per_step(captioner.loaded.model), memory_bandwidth_gbs()
    return {
        "encoder_gflop_per_clip": flops / 1e9,
        "matmul_gflops_fp32": fp32,
        "matmul_gflops_bf16": bf16,
        "floor_s_per_clip_fp32": flops / 1e9 / fp32,
        "floor_s_per_clip_bf16": flops / 1e9 / bf16,
        "decoder_weights_per_step": weights,
        "memory_gbs": bandwidth,
        "decoder_overhead_ms_per_step": decoder_step_overhead_ms(
            captioner.loaded.model, captioner.loaded.tokenizer, beam=captioner.beam
        ),
        **{
            f"decoder_floor_ms_per_step_{name}": size * weights / bandwidth / 1e6
            for name, size in (("fp32", 4), ("bf16", 2), ("int8", 1))
        },
    }


def _cpu_flash_attention_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    """softmax(Q K^T) V: two products of (B, H, Lq, Lk); shapes as FlopCounterMode hands them."""
    b, h, lq, d = query
    return 2 * b * h * lq * key[2] * (d + value[3])


def _packed_linear_flops(x, weight, *args, out_shape=None, **kwargs) -> int:
    """x (M, K) times a packed weight (N, K) (aac.prepack)."""
    return 2 * int(np.prod(x[:-1])) * weight[0] * weight[1]


def encoder_flops(captioner, wave: np.ndarray) -> float:
    """FLOPs of one encoder call on `wave` (convolutions, matmuls, attention).

    torch's counter knows the CUDA attention kernels only, and not oneDNN's packed Linear
    (aac.prepack); the CPU ones are added here.
    """
    from torch.utils.flop_counter import FlopCounterMode

    cpu_ops = {
        torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_flash_attention_flops,
        torch.ops.mkldnn._linear_pointwise: _packed_linear_flops,
    }
    with FlopCounterMode(display=False, custom_mapping=cpu_ops) as counter:
        captioner.encode([wave])
    return float(counter.get_total_flops())


def profile_top_ops(fn: Callable[[], object], top: int = 12) -> str:
    """Run `fn` under torch.profiler; table of the ops with the most self CPU time."""
    import warnings

    from torch.profiler import ProfilerActivity, profile

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "profiler clears events at the end of each cycle"
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fn()
    return prof.key_averages().table(
        sort_by="self_cpu_time_total", row_limit=top, max_name_column_width=48
    )


def count_changed(reference: Sequence[str], other: Sequence[str]) -> int:
    return sum(a != b for a, b in zip(reference, other))


def format_table(results: Sequence[SettingResult], durations: Sequence[float]) -> str:
    """Markdown table: RTF stats, throughput ratio to the first row, memory, time split."""
    base = rtf_stats(durations, results[0].wall_s)["throughput"]
    rows = [
        "| setting | RTF mean | RTF median | RTF p10 | throughput x | peak RSS MB "
        "| encoder % | decoder % | captions changed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        s = rtf_stats(durations, r.wall_s)
        enc_share = 100 * r.enc_s.sum() / max(r.wall_s.sum(), 1e-9)
        changed = count_changed(results[0].captions, r.captions)
        rows.append(
            f"| {r.name} | {s['mean']:.2f} | {s['median']:.2f} | {s['p10']:.2f} "
            f"| {s['throughput'] / base:.2f} | {r.peak_rss_mb:.0f} | {enc_share:.0f} "
            f"| {100 - enc_share:.0f} | {changed}/{len(r.captions)} |"
        )
    return "\n".join(rows)
