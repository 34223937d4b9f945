"""benchmarks/recipe_study.py: variants as real train.py runs at equal episodes, the table, skipping finished runs."""

import importlib.util
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("recipe_study", REPO / "benchmarks" / "recipe_study.py")
study = sys.modules["recipe_study"] = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(study)

TINY = ["--set", "data.train_size=128", "model.glimpses=2", "data.val_size=200", "eval.batch_size=200",
        "eval.mc_samples=2", "model.glimpse_size=6", "model.scales=1"]


def test_variants_get_equal_episodes_and_a_table_from_their_runs(data_dir, tmp_path, capsys):
    out, results = tmp_path / "runs", tmp_path / "study"
    argv = ["--config", "configs/mnist28.yaml", "--variants", "today,random_m4", "--seeds", "1", "--epochs", "4",
            "--jobs", "2", "--out", str(out), "--results", str(results), *TINY]
    assert study.main(argv) == 0
    for variant, epochs in (("today", 4), ("random_m4", 1)):  # 4 rollouts per image: a quarter of the epochs
        run = out / variant / "seed0"
        assert json.loads((run / "results.json").read_text())["epochs"] == epochs
        meta = json.loads((run / "study.json").read_text())
        assert meta["variant"] == variant and meta["commands"][0].startswith("python train.py --config")
    table = results.with_suffix(".md").read_text()
    assert "| `today` |" in table and "| `random_m4` |" in table and "reference" in table
    assert json.loads(results.with_suffix(".json").read_text())["rows"][0]["seeds"] == 1
    capsys.readouterr()
    assert study.main(argv) == 0  # finished runs are not trained again
    assert not [line for line in capsys.readouterr().out.splitlines() if line.startswith("start ")]


def test_the_table_keeps_the_rows_of_variants_not_named_this_time(data_dir, tmp_path):
    out, results = tmp_path / "runs", tmp_path / "study"
    common = ["--config", "configs/mnist28.yaml", "--seeds", "1", "--epochs", "1", "--jobs", "1",
              "--out", str(out), "--results", str(results), *TINY]
    assert study.main(["--variants", "today", *common]) == 0
    assert study.main(["--variants", "random", *common]) == 0
    table = results.with_suffix(".md").read_text()
    assert "| `today` |" in table and "| `random` |" in table
    assert {r["variant"] for r in json.loads(results.with_suffix(".json").read_text())["rows"]} == {"today", "random"}
