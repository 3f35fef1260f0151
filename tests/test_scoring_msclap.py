"""aac-metrics works without msclap (which caps numpy<2 and transformers<5); CLAP says why."""

import subprocess
import sys
from pathlib import Path

import pytest

from aac.metrics import scoring

ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter where msclap cannot be imported, whether or not it is installed.
NO_MSCLAP = """
import importlib.util, sys
real_find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name == "msclap" else real_find_spec(name, *a)
class NoMsclap:
    def find_spec(self, name, path=None, target=None):
        if name == "msclap":
            raise ModuleNotFoundError("No module named 'msclap'", name="msclap")
sys.meta_path.insert(0, NoMsclap())
"""


def run_without_msclap(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", NO_MSCLAP + code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_aac_metrics_imports_without_msclap_and_clap_says_why():
    out = run_without_msclap(
        """
from aac.metrics.scoring import ClapUnavailableError, import_aac_metrics
am = import_aac_metrics()
refs = [["a dog barks", "a dog is barking"], ["rain falls", "heavy rain is falling"]]
corpus, _ = am.functional.cider_d(["a dog barks", "rain falls"], refs)
print("cider", float(corpus["cider_d"]) > 0)
try:
    am.functional.clap_sim(["a dog barks"], [["a dog barks"]])
except ClapUnavailableError as err:
    print("clap:", err)
"""
    )
    assert out.returncode == 0, out.stderr
    assert "cider True" in out.stdout
    assert "clap: CLAP-based metrics (clap_sim, mace) need msclap" in out.stdout


def test_without_the_stand_in_aac_metrics_does_not_import():
    """What the stand-in is for: aac-metrics 0.6.0 imports msclap when it is imported."""
    out = run_without_msclap("import aac_metrics")
    assert out.returncode != 0 and "msclap" in out.stderr


@pytest.mark.parametrize("metric", scoring.CLAP_METRICS)
def test_asking_for_a_clap_metric_names_what_it_needs(metric):
    with pytest.raises(scoring.ClapUnavailableError, match=f"{metric}: .*msclap"):
        scoring.score_captions(["a dog barks"], [["a dog barks"]], metrics=[metric])
