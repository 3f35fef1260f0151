"""Run a scenario suite through live captioning and judge each scenario.

Every clip (trials x SNRs, plus the background alone) is fed to
`aac.streaming.stream_captions` in 0.1 s chunks at `suite.pace` x real time, so what is
measured is what a deployed captioner would do: windows it cannot keep up with are skipped,
and `latency_s` is real wall time. `pace: 0` judges offline: the audio comes as fast as it
is captioned and no window is skipped, so the verdict does not follow the machine's load. Per scenario:
  - recall by SNR: share of trials where a window reaching past the onset is captioned
    with one of the `detect` phrases;
  - detection latency: onset -> that caption printed, i.e. (window end - onset) in audio
    seconds + the window's latency_s; p50/p99 over detected trials, against the budget;
  - false-alarm rate: share of background-only windows captioned with a `detect` phrase;
  - compute latency p50/p99 (all windows) and the number of skipped windows.
Pass: recall >= min_recall at every SNR >= pass_snr_db, false alarms <= max_false_alarm and
detection latency p99 <= latency_budget_s.
"""

from __future__ import annotations

import time
from typing import Dict, Iterator, List

import numpy as np

from aac.scenarios.suite import ScenarioConf, SuiteConf, detects
from aac.scenarios.synth import render_trial
from aac.streaming import stream_captions

CHUNK_S = 0.1  # how a sound card or a pipe delivers audio


def paced(wave: np.ndarray, rate: int, pace: float) -> Iterator[np.ndarray]:
    """`wave` in CHUNK_S pieces, each handed over when it would exist at `pace` x real time
    (pace 0: at once, as a file would be read)."""
    n = max(1, int(CHUNK_S * rate))
    t0 = time.monotonic()
    for s in range(0, len(wave), n):
        if pace > 0:
            due = t0 + (s + n) / rate / pace  # a piece exists once its last sample was recorded
            time.sleep(max(0.0, due - time.monotonic()))
        yield wave[s : s + n]


def caption_clip(captioner, wave: np.ndarray, suite: SuiteConf) -> List[dict]:
    return [
        r.to_dict()
        for r in stream_captions(
            captioner,
            paced(wave, suite.rate, suite.pace),
            suite.window,
            suite.hop,
            suite.rate,
            realtime=suite.pace > 0,  # pace 0: every window captioned, none skipped
        )
    ]


def percentile(values: List[float], q: float):
    return round(float(np.percentile(values, q)), 4) if values else None


def first_detection(windows: List[dict], onset: float, phrases: List[str]):
    """(seconds from onset to the first detecting caption printed, caption) or None."""
    for w in windows:
        if w["end"] > onset and detects(w["caption"], phrases):
            return round(w["end"] - onset + w["latency_s"], 4), w["caption"]
    return None


def run_scenario(captioner, suite: SuiteConf, index: int, progress=None) -> dict:
    """Results of scenario `index` (a JSON-ready dict; see the module docstring)."""
    sc: ScenarioConf = suite.scenarios[index]
    hits: Dict[float, List[bool]] = {float(s): [] for s in sc.snr_db}
    delays, compute, skipped, false_alarms, bg_windows, examples = [], [], 0, 0, 0, []
    for trial in range(suite.trials):
        clip = render_trial(suite, sc, index, trial)
        for snr in hits:
            windows = caption_clip(captioner, clip.mix(snr), suite)
            found = first_detection(windows, suite.onset_s, sc.detect)
            hits[snr].append(found is not None)
            if found is not None:
                delays.append(found[0])
            compute += [w["latency_s"] for w in windows]
            skipped += sum(w["skipped"] for w in windows)
            examples.append(
                {
                    "trial": trial,
                    "snr_db": snr,
                    "detected": found is not None,
                    "captions": [w["caption"] for w in windows],
                }
            )
            if progress:
                progress()
        windows = caption_clip(captioner, clip.background, suite)
        bg_windows += len(windows)
        false_alarms += sum(detects(w["caption"], sc.detect) for w in windows)
        compute += [w["latency_s"] for w in windows]
        examples.append(
            {
                "trial": trial,
                "snr_db": None,
                "detected": None,
                "captions": [w["caption"] for w in windows],
            }
        )
        if progress:
            progress()
    return judge(sc, hits, delays, compute, skipped, false_alarms, bg_windows, examples)


def judge(
    sc: ScenarioConf, hits, delays, compute, skipped, false_alarms, bg_windows, examples
) -> dict:
    recall = {snr: round(sum(v) / len(v), 4) for snr, v in hits.items()}
    false_alarm = round(false_alarms / bg_windows, 4) if bg_windows else 0.0
    floor = sc.pass_snr_db if sc.pass_snr_db is not None else min(recall)
    reasons = [
        f"recall {r:.2f} < {sc.min_recall} at {snr:g} dB"
        for snr, r in recall.items()
        if snr >= floor and r < sc.min_recall
    ]
    if false_alarm > sc.max_false_alarm:
        reasons.append(f"false-alarm rate {false_alarm:.2f} > {sc.max_false_alarm}")
    p99 = percentile(delays, 99)
    if p99 is not None and p99 > sc.latency_budget_s:
        reasons.append(f"detection latency p99 {p99:.2f} s > budget {sc.latency_budget_s} s")
    return {
        "name": sc.name,
        "passed": not reasons,
        "reasons": reasons,
        "recall_by_snr": {f"{snr:g}": r for snr, r in recall.items()},
        "false_alarm_rate": false_alarm,
        "detection_latency_s": {
            "p50": percentile(delays, 50),
            "p99": p99,
            "budget": sc.latency_budget_s,
        },
        "compute_latency_s": {"p50": percentile(compute, 50), "p99": percentile(compute, 99)},
        "skipped_windows": skipped,
        "detect": list(sc.detect),
        "clips": examples,
    }


def run_suite(captioner, suite: SuiteConf, progress=None) -> List[dict]:
    return [run_scenario(captioner, suite, i, progress) for i in range(len(suite.scenarios))]
