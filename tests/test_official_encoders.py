"""The official checkpoint table: consistent with the encoder registry, the recipe's paper
rows and the README's copyable table (names, files, hashes, paper figures)."""

import re
from pathlib import Path

from aac.encoders import ENCODERS
from aac.official_encoders import OFFICIAL, official_checkpoint
from aac.paper import load_rows

ROOT = Path(__file__).resolve().parent.parent
ROWS = load_rows(ROOT / "egs2" / "clotho" / "aac1" / "conf" / "paper")


def _readme_rows():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Reproducing the paper", 1)[1].split("\n## ", 1)[0]
    table = [
        line for line in section.splitlines() if line.startswith("| ") and "--paper_row" in line
    ]
    return [[c.strip().strip("`") for c in line.strip("|").split("|")] for line in table]


def test_every_entry_names_a_registered_encoder_and_its_file():
    for name, entry in OFFICIAL.items():
        assert entry.encoder in ENCODERS and ENCODERS[entry.encoder].has_weights
        assert official_checkpoint(name) is entry is official_checkpoint(entry.filename)
        assert entry.pin.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", entry.pin.sha256)
        assert entry.pin.md5 is None or re.fullmatch(r"[0-9a-f]{32}", entry.pin.md5)
        assert all(u.startswith("https://") for u in entry.all_urls)


def test_paper_rows_use_official_checkpoints_in_the_paper_order():
    assert [r.name for r in ROWS] == [
        "pann_mlac",
        "pann_mlac_atcl",
        "beats_malm",
        "beats_malm_mlac",
    ]
    for row in ROWS:
        entry = OFFICIAL[row.official]
        assert (row.encoder, row.checkpoint_file, row.sample_rate) == (
            entry.encoder,
            entry.filename,
            entry.sample_rate,
        )
        assert entry.paper_row.startswith(f"Table 1 row {row.order}:")


def test_readme_table_matches_the_package_table():
    readme = _readme_rows()
    assert len(readme) == len(ROWS)
    for (title, command, filename, sha, spider_fl, table2), row in zip(readme, ROWS):
        entry = OFFICIAL[row.official]
        assert title == row.title
        assert command == f"./run.sh --paper_row {row.name}"
        assert filename == entry.filename
        assert sha == entry.pin.text()
        assert float(spider_fl) == row.paper.spider_fl
        sweep = ", ".join(str(p.downsample) for p in row.sweep)
        means = ", ".join(f"{p.rtf_mean:.1f}" for p in row.sweep)
        assert table2 == (f"downsample {sweep}: RTF mean {means}" if sweep else "-")
