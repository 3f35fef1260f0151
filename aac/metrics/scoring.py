"""Caption metrics exactly as aac-metrics 0.6.0 computes them, with missing assets reported.

Candidates and all references go through the PTB tokenizer once (what
`aac_metrics.evaluate(preprocess=True)` does), then every available metric runs in one
`evaluate()` call over the whole set: CIDEr-D's document frequencies depend on the whole
corpus, so scores are never averaged over batches.

A metric whose assets are missing is listed in `unavailable` with the reason and the
install command; it never gets a placeholder value.

aac-metrics imports msclap when it is imported, for its CLAP-based metrics (CLAP-sim, MACE)
only; msclap caps numpy below 2 and transformers below 5, so aac installs aac-metrics
without it (tools/requirements-nodeps.txt) and stands in a module whose `CLAP` says why.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import types
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from tqdm import tqdm

from aac.atomic import open_atomic, write_json_atomic
from aac.errors import AacError
from aac.metrics import assets
from aac.text import normalize_caption

# Output keys in report order -> asset groups they need (see assets.asset_status).
METRIC_NEEDS = {
    "bleu_1": ("ptb",),
    "bleu_2": ("ptb",),
    "bleu_3": ("ptb",),
    "bleu_4": ("ptb",),
    "meteor": ("ptb", "meteor"),
    "rouge_l": ("ptb",),
    "cider_d": ("ptb",),
    "spice": ("ptb", "spice"),
    "spider": ("ptb", "spice"),
    "spider_fl": ("ptb", "spice", "fer"),
    "fense": ("ptb", "sbert", "fer"),
    "sbert_sim": ("ptb", "sbert"),
    "fer": ("ptb", "fer"),
}
ALL_METRICS = tuple(METRIC_NEEDS)
# aac-metrics functions that need optional assets; dropped and retried if they crash.
OPTIONAL_CALLS = ("spider_fl", "spider", "fense", "fer")
GENERIC_CAPTIONS = (
    "a person is talking",
    "people are talking in the background",
    "birds are chirping",
    "rain is falling",
    "water is running",
    "a car passes by",
    "wind is blowing",
)


# aac-metrics' metrics built on msclap, which aac does not install.
CLAP_METRICS = ("clap_sim", "mace")
CLAP_MESSAGE = (
    "CLAP-based metrics (clap_sim, mace) need msclap, which aac does not install: it caps "
    "numpy<2 and transformers<5. Use a separate environment with `pip install msclap~=1.3.3`"
)


class ClapUnavailableError(AacError, ValueError):
    """A CLAP-based metric was asked for where msclap is not installed."""


def _stand_in_for_msclap() -> None:
    """Let `import aac_metrics` work without msclap; only using CLAP raises, saying why."""
    if "msclap" in sys.modules or importlib.util.find_spec("msclap") is not None:
        return
    stand_in = types.ModuleType("msclap", "Stand-in for msclap (not installed): " + CLAP_MESSAGE)

    class CLAP:
        def __init__(self, *args, **kwargs):
            raise ClapUnavailableError(CLAP_MESSAGE)

    stand_in.CLAP = CLAP
    sys.modules["msclap"] = stand_in


def import_aac_metrics():
    """The `aac_metrics` package, importable whether or not msclap is installed."""
    _stand_in_for_msclap()
    try:
        import aac_metrics
    except ModuleNotFoundError as err:
        if err.name != "aac_metrics":
            raise
        raise AacError(
            "aac-metrics is not installed: pip install --no-deps aac-metrics==0.6.0 "
            "(and aac's metrics extra: pip install -e .[metrics])"
        ) from err
    return aac_metrics


_stand_in_for_msclap()  # before any `from aac_metrics... import` below or in aac.metrics.assets


class HypothesisError(AacError, ValueError):
    """Hypothesis file does not match the references; the message names the ids."""


@dataclass
class Scores:
    corpus: Dict[str, float]
    per_clip: Dict[str, List[float]]
    unavailable: Dict[str, str]
    java: Optional[str]
    refs_tokenized: List[List[str]] = field(default_factory=list, repr=False)


def read_hypotheses(path: str | os.PathLike, ref_ids: Sequence[str]) -> Dict[str, str]:
    """Read `clip_id caption` lines; missing, unknown, duplicate ids or empty captions fail."""
    hyps: Dict[str, str] = {}
    dups, empty = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.strip().split(None, 1)
            if not parts:
                continue
            key, caption = parts[0], (parts[1].strip() if len(parts) > 1 else "")
            if key in hyps:
                dups.append(key)
            if not caption:
                empty.append(key)
            hyps[key] = caption
    missing = [k for k in ref_ids if k not in hyps]
    unknown = sorted(set(hyps) - set(ref_ids))
    problems = [
        f"{what} ({len(ids)}): {' '.join(ids[:20])}{' ...' if len(ids) > 20 else ''}"
        for what, ids in (
            ("missing ids", missing),
            ("ids not in the references", unknown),
            ("duplicate ids", dups),
            ("empty captions", empty),
        )
        if ids
    ]
    if problems:
        raise HypothesisError(f"{path}: " + "; ".join(problems))
    return {k: hyps[k] for k in ref_ids}


def plan_calls(wanted: Sequence[str]) -> List[str]:
    """Fewest aac-metrics functions that produce all `wanted` output keys."""
    wanted, covered, calls = set(wanted), set(), []
    if "spider_fl" in wanted:
        calls.append("spider_fl")
        covered |= {"spider_fl", "spider", "cider_d", "spice", "fer"}
    elif wanted & {"spice", "spider"}:
        calls.append("spider")
        covered |= {"spider", "cider_d", "spice"}
    if wanted & {"fense", "sbert_sim"}:
        calls.append("fense")
        covered |= {"fense", "sbert_sim", "fer"}
    calls += [m for m in ALL_METRICS if m in wanted - covered and m not in ("spice", "sbert_sim")]
    return calls


@contextlib.contextmanager
def _env(**values):
    """Set environment variables for the duration of a call (FENSE reads FENSE_DATA)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def ptb_tokenize(sentences: List[str], cache: Path, java: str) -> List[str]:
    """aac-metrics' PTB preprocessing (one Java run for the whole list)."""
    from aac_metrics.utils.tokenization import preprocess_mono_sents

    return preprocess_mono_sents(sentences, cache_path=str(cache), java_path=java)


def tokenize_refs(mult_refs: List[List[str]], cache: Path, java: str) -> List[List[str]]:
    flat = [r for refs in mult_refs for r in refs]
    flat_tok = iter(ptb_tokenize(flat, cache, java))
    return [[next(flat_tok) for _ in refs] for refs in mult_refs]


def _evaluate(cands, refs, calls, cache: Path, java: str, device: str):
    from aac_metrics import evaluate

    with _env(FENSE_DATA=str(cache / assets.FENSE_DATA)):
        return evaluate(
            cands,
            refs,
            preprocess=False,
            metrics=calls,
            cache_path=str(cache),
            java_path=java,
            device=device,
        )


def score_captions(
    candidates: List[str],
    mult_refs: List[List[str]],
    metrics: Sequence[str] = ALL_METRICS,
    cache_dir: Optional[str] = None,
    java: Optional[str] = None,
    device: str = "cpu",
) -> Scores:
    """Corpus and per-clip scores for the available `metrics`; the rest go to `unavailable`."""
    bad = [m for m in metrics if m not in METRIC_NEEDS]
    if set(bad) & set(CLAP_METRICS):
        clap = ", ".join(sorted(set(bad) & set(CLAP_METRICS)))
        raise ClapUnavailableError(f"{clap}: not computed by aac. {CLAP_MESSAGE}")
    if bad:
        raise ValueError(f"unknown metric(s) {bad}; known: {', '.join(ALL_METRICS)}")
    cache, java = assets.resolve_cache_dir(cache_dir), assets.resolve_java(java)
    version = assets.java_version(java)
    if version and assets.java_major(version):
        assets.allow_java(min(assets.java_major(version), assets.MAX_TESTED_JAVA))
    status = assets.asset_status(cache, java)
    unavailable = {
        m: "; ".join(dict.fromkeys(status[g] for g in METRIC_NEEDS[m] if status[g]))
        for m in metrics
        if any(status[g] for g in METRIC_NEEDS[m])
    }
    wanted = [m for m in metrics if m not in unavailable]
    if not wanted:
        return Scores({}, {}, unavailable, version)
    cands_tok = ptb_tokenize(list(candidates), cache, java)
    refs_tok = tokenize_refs(mult_refs, cache, java)
    calls = plan_calls(wanted)
    try:
        corpus, sents = _evaluate(cands_tok, refs_tok, calls, cache, java, device)
    except Exception as err:  # noqa: BLE001 -- a crashing optional Java/model asset
        dropped = [c for c in calls if c in OPTIONAL_CALLS]
        if not dropped:
            raise
        core = plan_calls(
            [m for m in wanted if not set(METRIC_NEEDS[m]) & {"spice", "fer", "sbert"}]
        )
        corpus, sents = (
            _evaluate(cands_tok, refs_tok, core, cache, java, device) if core else ({}, {})
        )
        reason = f"{', '.join(dropped)} failed at run time: {type(err).__name__}: {err}"
        unavailable.update({m: reason for m in wanted if m not in corpus})
    out = {m: float(corpus[m]) for m in wanted if m in corpus}
    per_clip = {m: [float(v) for v in sents[m]] for m in out if m in sents}
    return Scores(out, per_clip, unavailable, version, refs_tok)


def constant_candidates(train_captions: List[str], top: int = 0) -> List[str]:
    """Distinct normalised training captions, most frequent first (`top` > 0: only those),
    then a few generic ones."""
    counts = Counter(c for c in (normalize_caption(t) for t in train_captions) if c)
    ranked = [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    if top > 0:
        ranked = ranked[:top]
    return list(dict.fromkeys(ranked + list(GENERIC_CAPTIONS)))


def constant_baseline(
    candidates: List[str], refs_tokenized: List[List[str]], cache_dir=None, java=None
) -> dict:
    """Best single caption for every clip, by CIDEr-D over this set (a floor to beat).

    Every candidate is scored (aac.metrics.cider: the same CIDEr-D as aac-metrics, with the
    references' document frequencies computed once); ties keep the more frequent caption.
    """
    from aac.metrics.cider import CiderD

    cache, java = assets.resolve_cache_dir(cache_dir), assets.resolve_java(java)
    tokenized = ptb_tokenize(candidates, cache, java)  # one Java run for all candidates
    cider = CiderD(refs_tokenized)
    best = {"caption": None, "cider_d": float("-inf")}
    for raw, tok in tqdm(
        list(zip(candidates, tokenized)), desc="constant baseline", unit="cap", mininterval=2.0
    ):
        value = cider.constant_score(tok)
        if value > best["cider_d"]:
            best = {"caption": raw, "cider_d": value}
    best["num_candidates"] = len(candidates)
    return best


def reference_agreement(refs_tokenized: List[List[str]]) -> dict:
    """How well the references agree: CIDEr-D (aac-metrics) of each clip's k-th reference
    against its other references, for every k. A ceiling for scale, not a bound: those
    score against one reference fewer than a system does."""
    import_aac_metrics()
    from aac_metrics.functional.cider_d import cider_d

    fewest = min((len(r) for r in refs_tokenized), default=0)
    if fewest < 2 or len(refs_tokenized) < 2:
        return {"unavailable": "needs at least 2 clips with at least 2 references each"}
    values = []
    for k in range(fewest):
        held_out = [refs[k] for refs in refs_tokenized]
        others = [refs[:k] + refs[k + 1 :] for refs in refs_tokenized]
        values.append(float(cider_d(held_out, others)[0]["cider_d"]))
    return {
        "metric": "cider_d",
        "per_reference": values,  # k = 1..fewest
        "min": min(values),
        "max": max(values),
        "mean": sum(values) / len(values),
        "against": fewest - 1,
    }


def scores_record(
    scores: Scores,
    num_clips: int,
    baseline: Optional[dict] = None,
    num_refs: Optional[dict] = None,
    agreement: Optional[dict] = None,
) -> dict:
    """The scores.json payload: metric values first, then provenance.

    `num_refs`: references per clip (`aac.datadir.reference_counts`: min, max, histogram),
    so a score against fewer than the protocol's 5 references is never mistaken for one.
    """
    from importlib import metadata

    record: dict = dict(scores.corpus)
    record["unavailable"] = dict(scores.unavailable)
    record["java"] = scores.java
    record["num_clips"] = num_clips
    if num_refs is not None:
        record["num_refs"] = num_refs
    record["aac_metrics"] = metadata.version("aac-metrics")
    if baseline is not None:
        record["constant_baseline"] = baseline
    if agreement is not None:
        record["reference_agreement"] = agreement
    return record


def write_json(path: Path, data: dict) -> None:
    write_json_atomic(path, data)


def write_per_clip(path: Path, clip_ids: List[str], hyps: List[str], scores: Scores) -> None:
    """One row per clip: id, hypothesis, then each metric's sentence-level score."""
    import csv

    names = list(scores.per_clip)
    with open_atomic(path, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["clip_id", "hypothesis"] + names)
        for i, (clip, hyp) in enumerate(zip(clip_ids, hyps)):
            writer.writerow([clip, hyp] + [repr(scores.per_clip[m][i]) for m in names])
