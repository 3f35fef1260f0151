"""Identities of what made a result: feature cache tags, stage records (aac-provenance)."""

import json

import pytest

from aac.bin import provenance as cli
from aac.feature_info import feats_tag, mismatches, requested_encoder_info
from aac.provenance import changes, read_record, stage_record, write_record


def info(**kw):
    args = dict(
        encoder="cnn_small",
        checkpoint=None,
        random_init=False,
        conf={},
        stride=1,
        chunk_seconds=60.0,
        dtype="float32",
    )
    args.update(kw)
    return requested_encoder_info(**args)


def test_the_cache_tag_changes_with_everything_that_changes_the_features(tmp_path):
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    a.write_bytes(b"A")
    b.write_bytes(b"B")
    tags = [
        feats_tag(info(checkpoint=str(a))),
        feats_tag(info(checkpoint=str(b))),
        feats_tag(info(random_init=True)),
        feats_tag(info(checkpoint=str(a), conf={"channels": 8})),
        feats_tag(info(checkpoint=str(a), stride=2)),
        feats_tag(info(checkpoint=str(a), chunk_seconds=0)),
        feats_tag(info(checkpoint=str(a), dtype="float16")),
        feats_tag(info(encoder="logmel")),
    ]
    assert len(set(tags)) == len(tags)
    assert tags[0].startswith("cnn_small_") and len(tags[0]) == len("cnn_small_") + 8
    assert tags[2].startswith("cnn_small_random_")
    assert feats_tag(info(checkpoint=str(a))) == tags[0]  # a function of the inputs only
    (tmp_path / "moved.pt").write_bytes(b"A")
    assert feats_tag(info(checkpoint=str(tmp_path / "moved.pt"))) == tags[0]


def test_mismatches_name_the_attribute_and_both_values():
    block = {"name": "beats", "checkpoint": "/a/x.pt", "extract_stride": 1, "conf": {}}
    attrs = {"encoder": "beats", "checkpoint": "/b/x.pt", "extract_stride": 2}
    assert mismatches(block, attrs) == [("extract_stride", 1, 2)]  # the path is not compared


def test_feats_tag_cli_refuses_a_missing_checkpoint(tmp_path, capsys):
    assert cli.main(["feats-tag", "--encoder", "beats", "--encoder-checkpoint", "nope.pt"]) == 2
    assert capsys.readouterr().err == (
        "aac-provenance: error: encoder checkpoint not found: nope.pt\n"
    )


def test_a_stage_record_says_what_changed(tmp_path):
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "best.pt").write_bytes(b"epoch 3")
    data = tmp_path / "data"
    data.mkdir()
    (data / "utt2dur").write_text("c1 1.0\n")
    marker = tmp_path / ".done"

    def record(beam="4"):
        return stage_record([], [str(data)], [(str(exp), "best")], {"beam": beam})

    write_record(marker, record())
    assert changes(read_record(marker), record()) == []
    (exp / "best.pt").write_bytes(b"epoch 9")
    (data / "utt2dur").write_text("c1 1.0\nc2 2.0\n")
    why = changes(read_record(marker), record(beam="2"))
    assert [w.split(":")[0] for w in why] == [
        f"checkpoint {exp} best",
        f"data {data}",
        "option beam",
    ]
    assert why[2] == "option beam: 4 -> 2"
    marker.write_text("Wed Dec  2 10:00:00 UTC 2026\n")  # an older aac.sh's marker
    assert changes(read_record(marker), record()) == [
        "its marker records no inputs (written by an older aac.sh)"
    ]


def test_check_cli_exits_1_with_the_reason(tmp_path, capsys):
    f = tmp_path / "conf.yaml"
    f.write_text("a: 1\n")
    assert cli.main(["record", "--file", str(f), "--option", "beam=4"]) == 0
    marker = tmp_path / ".done"
    marker.write_text(capsys.readouterr().out)
    assert json.loads(marker.read_text())["inputs"]["option beam"] == "4"
    assert cli.main(["check", str(marker), "--file", str(f), "--option", "beam=4"]) == 0
    f.write_text("a: 2\n")
    assert cli.main(["check", str(marker), "--file", str(f), "--option", "beam=4"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"inputs changed since {marker}: file {f}: ") and " -> " in out


@pytest.mark.parametrize("bad", ["beam", "=4"])
def test_an_option_needs_a_name_and_a_value(tmp_path, capsys, bad):
    assert cli.main(["record", "--option", bad]) == 2
    assert "expected NAME=VALUE" in capsys.readouterr().err
