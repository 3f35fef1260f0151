"""aac-train with the training levers on: mix-up items, masking, the text-embedding loss,
the Conformer adapter, and best.pt as the mean of the n best epochs."""

import json

import torch
from caption_fixtures import make_experiment_inputs, train_argv, write_yaml

from aac.bin.train import main as train_main
from aac.checkpoint_io import load_checkpoint
from aac.config import build
from aac.expconf import TrainConf
from aac.train.checkpoints import average_states

ALL_LEVERS = [
    "text_embedding.weight=0.5",
    "spec_augment.time_masks=1",
    "spec_augment.time_width=2",
    "spec_augment.channel_masks=1",
    "spec_augment.channel_width=2",
    "model.conformer_layers=1",
    "model.conformer_heads=2",
    "model.conformer_ffn_dim=32",
    "model.conformer_kernel=3",
    "average_best=2",
]


def test_average_states_is_the_elementwise_mean():
    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(3)}
    b = {"w": torch.tensor([3.0, 6.0]), "n": torch.tensor(5)}
    out = average_states([a, b])
    assert torch.equal(out["w"], torch.tensor([2.0, 4.0])) and int(out["n"]) == 3


def test_all_levers_train_end_to_end(tmp_path):
    inputs = make_experiment_inputs(tmp_path / "data", n_train=8, n_valid=4)
    mixups = tmp_path / "mixup.txt"
    mixups.write_text(
        "train_000+train_001 a dog barks and then rain falls\n"
        "train_002+train_003#1 a bell rings then a dog barks\n"
        "train_002+missing_clip a clip without features is skipped\n"
    )
    cfg = write_yaml(tmp_path / "train.yaml", epochs=3)
    out = tmp_path / "exp"
    argv = train_argv(inputs, cfg, out, "--override", *ALL_LEVERS, f"mixup.captions={mixups}")
    assert train_main(argv) == 0
    conf = build(TrainConf, __import__("yaml").safe_load((out / "config.yaml").read_text()), "x")
    assert conf.model.text_embedding_dim == 384  # filled in from all-MiniLM-L6-v2
    log = (out / "train.log").read_text()
    assert "train: 42 captions" in log  # 8 clips x 5 captions + 2 mixtures
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(r["text_infonce"] > 0 for r in rows)
    table = load_checkpoint(out / "text_embeddings.pt")
    assert "a dog barks and then rain falls" in table["captions"]
    best = load_checkpoint(out / "best.pt")
    epochs = best["averaged_epochs"]
    ranked = sorted(rows, key=lambda r: (-r["valid_metric"], r["epoch"]))
    assert epochs == [r["epoch"] for r in ranked[:2]] and best["epoch"] == epochs[0]
    chosen = [load_checkpoint(out / "checkpoints" / f"epoch{e}.pt")["model"] for e in epochs]
    for key, value in best["model"].items():
        if value.is_floating_point():
            assert torch.allclose(value, (chosen[0][key] + chosen[1][key]) / 2, atol=1e-6), key
    assert any(k.startswith("adapter.") for k in best["model"])
    assert any(k.startswith("text_head.") for k in best["model"])


def test_lever_keys_are_checked(tmp_path, capsys):
    inputs = make_experiment_inputs(tmp_path / "data", n_train=4, n_valid=2)
    cfg = write_yaml(tmp_path / "train.yaml", epochs=1)
    for bad, key in (
        ("average_best=3", "average_best"),  # keep_nbest is 2
        ("mixup.mode=overlay", "mixup.mode"),
        ("text_embedding.temperature=0", "text_embedding.temperature"),
        ("model.conformer_heads=3", "model.conformer_heads"),
        ("spec_augment.time_masks=-1", "spec_augment.time_masks"),
        ("mixup.captions=/nonexistent/mix.txt", "mixup.captions"),
    ):
        over = [bad, "model.conformer_layers=1"] if "conformer" in bad else [bad]
        argv = train_argv(inputs, cfg, tmp_path / "exp", "--override", *over)
        assert train_main(argv) == 2, bad
        assert key in capsys.readouterr().err, bad
        assert not (tmp_path / "exp").exists()


def test_a_run_from_before_the_lever_keys_resumes():
    import dataclasses

    from aac.train.loop import config_changes, saved_config

    new = dataclasses.asdict(TrainConf())
    old = {k: v for k, v in new.items() if k not in ("average_best", "mixup", "spec_augment")}
    old["model"] = {k: v for k, v in new["model"].items() if not k.startswith("conformer_")}
    assert config_changes(old, new)  # as saved, the missing keys would read as changes
    assert config_changes(saved_config(old, TrainConf), new) == []
    old["optim"] = {**new["optim"], "lr": 1.0}
    assert config_changes(saved_config(old, TrainConf), new) == ["optim.lr: 1.0 -> 0.0002"]
