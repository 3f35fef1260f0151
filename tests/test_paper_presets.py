"""The paper row presets (both recipes) hold every figure of the paper's Table 1 and Table 2.

The figures below were typed from Wu et al. (2023), Table 1 and Table 2, cell by cell, apart
from the presets, so a preset that drifts from the paper fails here.
"""

from pathlib import Path

import pytest

from aac.paper import TABLE1_METRICS, TABLE2_METRICS, load_rows

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ["egs2/clotho/aac1", "egs2/mini_clotho/aac1"]

# Table 1: BLEU-4, ROUGE-L, METEOR, CIDEr, SPICE, SPIDEr, SPIDEr-FL (Clotho evaluation).
TABLE1 = {
    "pann_mlac": (1, (0.148, 0.366, 0.170, 0.387, 0.117, 0.252, 0.248)),  # PANN, MLAC
    "pann_mlac_atcl": (2, (0.154, 0.371, 0.173, 0.415, 0.123, 0.269, 0.263)),  # PANN, MLAC+ATCL
    "beats_malm": (3, (0.156, 0.375, 0.176, 0.406, 0.122, 0.264, 0.261)),  # BEATs, MALM
    "beats_malm_mlac": (4, (0.170, 0.383, 0.184, 0.448, 0.129, 0.289, 0.287)),  # BEATs, both
}
# Table 2: (downsample, frame rate, RTF mean, median, 10th percentile,
#           BLEU-4, ROUGE-L, METEOR, CIDEr, SPICE, SPIDEr-FL); BEATs is MALM+MLAC, PANN MLAC+ATCL.
TABLE2 = {
    "beats_malm_mlac": [
        (1, 50, 42.9, 45.3, 33.5, 0.170, 0.383, 0.184, 0.448, 0.129, 0.287),
        (2, 25, 45.7, 47.4, 42.7, 0.165, 0.384, 0.183, 0.434, 0.128, 0.279),
        (4, 13, 46.5, 47.8, 43.6, 0.162, 0.379, 0.183, 0.423, 0.126, 0.273),
        (8, 6, 46.5, 47.7, 43.2, 0.164, 0.378, 0.180, 0.420, 0.122, 0.269),
    ],
    "pann_mlac_atcl": [(1, 1, 104.6, 108.4, 81.9, 0.154, 0.371, 0.173, 0.415, 0.123, 0.263)],
}


@pytest.mark.parametrize("recipe", RECIPES)
def test_table1_cell_by_cell(recipe):
    rows = load_rows(ROOT / recipe / "conf" / "paper")
    assert [r.name for r in rows] == list(TABLE1)  # the paper's row order
    for row in rows:
        order, figures = TABLE1[row.name]
        assert row.order == order
        for metric, value in zip(TABLE1_METRICS, figures):
            assert getattr(row.paper, metric) == value, (recipe, row.name, metric)


@pytest.mark.parametrize("recipe", RECIPES)
def test_table2_cell_by_cell(recipe):
    rows = {r.name: r for r in load_rows(ROOT / recipe / "conf" / "paper")}
    assert {name for name, r in rows.items() if r.sweep} == set(TABLE2)
    for name, points in TABLE2.items():
        sweep = rows[name].sweep
        assert [p.downsample for p in sweep] == [p[0] for p in points], (recipe, name)
        for point, (_, rate, mean, median, p10, *quality) in zip(sweep, points):
            where = (recipe, name, point.downsample)
            assert point.frame_rate == rate, where
            assert (point.rtf_mean, point.rtf_median, point.rtf_p10) == (mean, median, p10), where
            for metric, value in zip(TABLE2_METRICS, quality):
                assert getattr(point.paper, metric) == value, (*where, metric)
            assert point.paper.spider is None, where  # Table 2 gives no SPIDEr


def test_the_mini_driver_runs_a_short_sweep_but_shows_all_of_it():
    rows = {r.name: r for r in load_rows(ROOT / "egs2/mini_clotho/aac1/conf/paper")}
    sweep = rows["beats_malm_mlac"].sweep
    assert [p.downsample for p in sweep if p.run] == [1, 4]
    full = {r.name: r for r in load_rows(ROOT / "egs2/clotho/aac1/conf/paper")}
    assert all(p.run for r in full.values() for p in r.sweep)  # Clotho runs every point
