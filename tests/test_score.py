"""aac-score: outputs, malformed hypothesis files, the constant-caption baseline."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from aac.bin import score
from aac.datadir import write_kaldi_text
from aac.metrics import assets, scoring

IDS = ["clip_a", "clip_b", "clip_c"]
REFS = {
    "clip_a": [
        "A dog is barking.",
        "Dog barks",
        "a dog barks twice",
        "a loud dog",
        "the dog barks",
    ],
    "clip_b": [
        "Rain is falling on the roof",
        "heavy rain",
        "rain on metal",
        "it rains",
        "rain falls",
    ],
    "clip_c": ["A man talks", "someone is speaking", "a man speaks", "a person talks", "man voice"],
}
HYPS = {"clip_a": "a dog barks", "clip_b": "rain falls on a roof", "clip_c": "a man speaks"}


def make_refs(root: Path) -> Path:
    data = root / "data"
    for k in range(5):
        write_kaldi_text(data / f"text_spk{k + 1}", [(c, REFS[c][k]) for c in IDS])
    return data


def write_lines(path: Path, lines) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cache() -> Path:
    """The installed default cache (tools/install_metric_assets.sh), or skip."""
    root = assets.resolve_cache_dir()
    status = assets.asset_status(root)
    if status["ptb"] or status["meteor"]:
        pytest.skip(f"metric assets not installed: {status['ptb'] or status['meteor']}")
    return root


@pytest.fixture(scope="module")
def scored(cache, tmp_path_factory):
    """One aac-score run with a constant baseline; returns (root, scores.json)."""
    root = tmp_path_factory.mktemp("score")
    data = make_refs(root)
    write_kaldi_text(root / "hyp", HYPS.items())
    train = ["Rain falls", "rain falls", "RAIN FALLS!", "a dog barks", "wind"]
    write_kaldi_text(root / "train_text", [(f"t{i}#1", c) for i, c in enumerate(train)])
    rc = score.main(
        [
            "--hyp",
            str(root / "hyp"),
            "--ref-dir",
            str(data),
            "--output-dir",
            str(root / "out"),
            "--cache-dir",
            str(cache),
            "--metrics",
            "bleu_4",
            "meteor",
            "cider_d",
            "spice",
            "--constant-baseline",
            str(root / "train_text"),
        ]
    )
    assert rc == 0
    return root, json.loads((root / "out" / "scores.json").read_text())


def test_scores_json_holds_values_unavailable_java_and_count(scored, cache):
    _, result = scored
    assert {"bleu_4", "meteor", "cider_d"} <= set(result)
    assert result["num_clips"] == 3
    assert result["num_refs"] == {"min": 5, "max": 5, "histogram": {"5": 3}}
    assert result["java"] == assets.java_version("java")
    # Whether SPICE can run here is decided apart from aac-score: scored, or the reason
    spice_missing = assets.asset_status(cache, assets.resolve_java())["spice"]
    if spice_missing:  # e.g. CoreNLP 3.6.0 absent: the reason, never a placeholder value
        assert "spice" not in result and result["unavailable"]["spice"] == spice_missing
        assert "install" in spice_missing
    else:
        assert 0.0 <= result["spice"] <= 1.0 and "spice" not in result["unavailable"]
    assert not list(scored[0].glob("out/*.tmp"))  # atomic writes leave no temp files


def test_per_clip_csv_matches_sentence_scores(scored):
    root, result = scored
    with open(root / "out" / "per_clip.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["clip_id"] for r in rows] == IDS
    assert [r["hypothesis"] for r in rows] == [HYPS[c] for c in IDS]
    cider = [float(r["cider_d"]) for r in rows]
    assert sum(cider) / len(cider) == pytest.approx(result["cider_d"], rel=1e-12)


def test_constant_baseline_picks_the_best_candidate(scored, cache):
    from aac_metrics.functional.cider_d import cider_d

    root, result = scored
    baseline = result["constant_baseline"]
    assert baseline["caption"] in scoring.constant_candidates(["rain falls", "a dog barks", "wind"])
    refs_tok = scoring.tokenize_refs([REFS[c] for c in IDS], cache, "java")
    for caption in ("rain falls", "a dog barks", "wind", "a person is talking"):
        direct = float(cider_d([caption] * 3, refs_tok)[0]["cider_d"])
        assert baseline["cider_d"] >= direct
    assert baseline["cider_d"] < result["cider_d"]


def test_reference_agreement_scores_each_reference_against_the_others(scored, cache):
    from aac_metrics.functional.cider_d import cider_d

    _, result = scored
    agreement = result["reference_agreement"]
    assert agreement["metric"] == "cider_d" and agreement["against"] == 4
    refs_tok = scoring.tokenize_refs([REFS[c] for c in IDS], cache, "java")
    third = [refs[2] for refs in refs_tok]  # k = 3 held out, scored against the other four
    rest = [refs[:2] + refs[3:] for refs in refs_tok]
    assert agreement["per_reference"][2] == pytest.approx(float(cider_d(third, rest)[0]["cider_d"]))
    values = agreement["per_reference"]
    assert len(values) == 5 and len(set(values)) > 1
    assert (agreement["min"], agreement["max"]) == (min(values), max(values))
    one_ref = scoring.reference_agreement([["a dog"], ["rain"]])
    assert "unavailable" in one_ref  # nothing to agree with


def test_constant_candidates_rank_normalised_training_captions():
    cands = scoring.constant_candidates(
        ["Rain falls.", "rain falls", "A dog!", "wind", "wind", "wind"], top=2
    )
    assert cands[:2] == ["wind", "rain falls"]
    assert "a dog" not in cands and cands[2:] == list(scoring.GENERIC_CAPTIONS)
    everything = scoring.constant_candidates(["Rain falls.", "A dog!", "wind", "wind"])
    assert everything[:3] == ["wind", "a dog", "rain falls"]  # default: every distinct caption


@pytest.mark.parametrize(
    "lines, message",
    [
        (["clip_a a dog", "clip_b rain"], "missing ids (1): clip_c"),
        (["clip_a a dog", "clip_b rain", "clip_c x", "clip_b again"], "duplicate ids (1): clip_b"),
        (["clip_a a dog", "clip_b", "clip_c x"], "empty captions (1): clip_b"),
        (
            ["clip_a a dog", "clip_b rain", "clip_c x", "clip_z extra"],
            "ids not in the references (1): clip_z",
        ),
    ],
)
def test_malformed_hypothesis_files_fail_naming_ids(tmp_path, capsys, lines, message):
    data = make_refs(tmp_path)
    hyp = write_lines(tmp_path / "hyp", lines)
    rc = score.main(
        ["--hyp", str(hyp), "--ref-dir", str(data), "--output-dir", str(tmp_path / "out")]
    )
    assert rc == 2  # a user error, one line
    err = capsys.readouterr().err
    assert message in err and str(hyp) in err
    assert not (tmp_path / "out" / "scores.json").exists()


def test_read_hypotheses_returns_reference_order(tmp_path):
    hyp = write_lines(tmp_path / "hyp", ["clip_c c", "clip_a  a  dog ", "clip_b b"])
    assert list(scoring.read_hypotheses(hyp, IDS).items()) == [
        ("clip_a", "a  dog"),
        ("clip_b", "b"),
        ("clip_c", "c"),
    ]


def test_unknown_metric_is_rejected():
    with pytest.raises(SystemExit):
        score.main(["--hyp", "h", "--ref-dir", "d", "--output-dir", "o", "--metrics", "cider"])


def test_help_names_inputs_and_outputs(capsys):
    with pytest.raises(SystemExit):
        score.main(["--help"])
    out = capsys.readouterr().out
    assert "text_spk1..5" in out and "scores.json" in out and "per_clip.csv" in out


def test_cache_env_variable_is_honoured(monkeypatch, tmp_path):
    monkeypatch.setenv(assets.CACHE_ENV, str(tmp_path))
    assert assets.resolve_cache_dir() == tmp_path
    assert assets.resolve_cache_dir(str(tmp_path / "x")) == tmp_path / "x"
    monkeypatch.delenv(assets.CACHE_ENV)
    assert assets.resolve_cache_dir() == Path(
        os.path.expanduser(os.environ.get("AAC_METRICS_CACHE_PATH", "~/.cache"))
    )


def _refs_without(root: Path, drop_file=None, drop_clip=None) -> Path:
    data = make_refs(root)
    if drop_file:
        (data / drop_file).unlink()
    if drop_clip:
        path = data / drop_clip[0]
        path.write_text(
            "".join(
                line + "\n"
                for line in path.read_text().splitlines()
                if not line.startswith(drop_clip[1] + " ")
            )
        )
    return data


@pytest.mark.parametrize(
    "drop_file, drop_clip, message",
    [
        ("text_spk3", None, "reference files missing: text_spk3"),
        (None, ("text_spk2", "clip_b"), "text_spk2: no reference for 1 clip(s): clip_b"),
    ],
)
def test_missing_references_are_an_error_naming_file_and_clips(
    tmp_path, capsys, drop_file, drop_clip, message
):
    data = _refs_without(tmp_path, drop_file, drop_clip)
    write_kaldi_text(tmp_path / "hyp", HYPS.items())
    hyp = tmp_path / "hyp"
    rc = score.main(
        ["--hyp", str(hyp), "--ref-dir", str(data), "--output-dir", str(tmp_path / "out")]
    )
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "--min-refs" in err
    assert not (tmp_path / "out" / "scores.json").exists()


def test_min_refs_allows_fewer_and_still_checks_each_clip(tmp_path):
    from aac.datadir import DataDirError, read_references, reference_counts

    data = _refs_without(tmp_path, "text_spk3", ("text_spk2", "clip_b"))
    refs = read_references(data, min_refs=3)
    assert {c: len(r) for c, r in refs.items()} == {"clip_a": 4, "clip_b": 3, "clip_c": 4}
    assert reference_counts(refs) == {"min": 3, "max": 4, "histogram": {"3": 1, "4": 2}}
    with pytest.raises(DataDirError, match=r"fewer than 4 references.*clip_b \(3\)"):
        read_references(data, min_refs=4)
    assert len(read_references(data)["clip_b"]) == 3  # training's lenient default


def test_scores_record_carries_num_refs():
    from aac.metrics.scoring import Scores, scores_record

    record = scores_record(
        Scores({"cider_d": 0.5}, {}, {}, "java 11"),
        3,
        None,
        {"min": 5, "max": 5, "histogram": {"5": 3}},
    )
    assert record["num_refs"] == {"min": 5, "max": 5, "histogram": {"5": 3}}
    assert record["num_clips"] == 3 and record["cider_d"] == 0.5
