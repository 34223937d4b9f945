"""python -m ram.evaluate scores a checkpoint exactly as the end of its training run did."""

import json

import pytest

import train
from ram.tools import evaluate


@pytest.fixture(scope="module")
def run(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "run"
    assert train.main(["--out", str(out), "--data-dir", data_dir, "--config", "configs/mnist28.yaml",
                       "data.train_size=1024", "data.val_size=500", "model.glimpses=3", "train.epochs=2",
                       "model.start=learned", "model.loc_std_final=0.05", "eval.mc_samples=3",
                       "logger.wandb=disabled"]) == 0
    return out


def test_scores_match_the_runs_own_test_scoring(run, tmp_path, capsys):
    results = json.loads((run / "results.json").read_text())
    assert evaluate.main([str(run), "--json", str(tmp_path / "e.json")]) == 0
    scored = json.loads((tmp_path / "e.json").read_text())
    for mode in ("single", "deterministic", "mc"):  # the annealed std of the best step included
        assert scored[f"test_error_{mode}"] == results[f"test_error_{mode}"], mode
    assert "deterministic" in capsys.readouterr().out


def test_export_ships_the_weights_with_the_config_they_were_trained_with(run, tmp_path):
    out = tmp_path / "shipped" / "row.pt"
    assert evaluate.main([str(run), "--export", str(out)]) == 0
    assert out.with_suffix(".yaml").read_text() == (run / "config.yaml").read_text()
    reloaded = evaluate.score(out)  # the slim copy still scores as the run did
    results = json.loads((run / "results.json").read_text())
    assert reloaded["test_error_deterministic"] == results["test_error_deterministic"]


def test_a_file_that_is_not_a_checkpoint_is_one_line(tmp_path, capsys):
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"not a checkpoint")
    assert evaluate.main([str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "x.pt" in err


def test_shipped_checkpoints_score_as_results_md_prints(data_dir):
    import re

    import torch

    from tests.conftest import REPO

    table = (REPO / "RESULTS.md").read_text()
    shipped = [f for f in sorted((REPO / "pretrained").glob("*.pt")) if not f.name.startswith("catch")]
    assert shipped, "pretrained/ holds no checkpoint"
    for f in shipped:
        torch.load(f, map_location="cpu", weights_only=True)  # plain tensors and numbers only
        row = re.search(rf"\| `pretrained/{f.name}` \| \w+ \| \d+ \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", table)
        assert row, f"RESULTS.md does not list {f.name}"
        scored = evaluate.score(f, data_dir=data_dir)
        for printed, mode in zip(row.groups(), ("single", "deterministic", "mc")):
            assert abs(100 * scored[f"test_error_{mode}"] - float(printed)) <= 0.1, (f.name, mode)


def test_the_shipped_catch_agent_catches_as_catch_md_prints(tmp_path):
    """pretrained/catch.pt: the greedy and sampled catch rates benchmarks/results/catch.md prints for it, and
    the viewer plays it."""
    import re

    from ram.tools import view
    from tests.conftest import REPO

    table = (REPO / "benchmarks/results/catch.md").read_text()
    row = re.search(r"\| `pretrained/catch.pt` \| ([\d.]+)% \| ([\d.]+)% \|", table)
    assert row, "benchmarks/results/catch.md does not list pretrained/catch.pt"
    scored = evaluate.score(REPO / "pretrained/catch.pt")
    assert abs(100 * scored["test_catch_rate_greedy"] - float(row.group(1))) <= 0.1
    assert abs(100 * scored["test_catch_rate_sampled"] - float(row.group(2))) <= 0.1
    assert view.main([str(REPO / "pretrained/catch.pt"), "--n", "4", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "games.gif").is_file()
