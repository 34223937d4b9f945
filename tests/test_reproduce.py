"""benchmarks/reproduce.py and the modules it runs on (paper_rows.py: the rows; results_table.py: the table):
the paper configs, the sweep (real train.py runs), the table, resuming."""

import importlib.util
import json
import re
import statistics
import sys
from pathlib import Path

import pytest
import yaml

from ram.training.config import load_config

REPO = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("reproduce", REPO / "benchmarks" / "reproduce.py")
reproduce = sys.modules["reproduce"] = importlib.util.module_from_spec(SPEC)  # dataclasses look it up
SPEC.loader.exec_module(reproduce)
from benchmarks import paper_rows, results_table  # noqa: E402  (importable once reproduce.py set the path)

TINY = ["--epochs", "1", "--threads", "1", "--device", "cpu", "--set", "data.train_size=256",
        "--set", "model.glimpses=2", "--set", "data.val_size=500", "--set", "eval.batch_size=500",
        "--set", "eval.mc_samples=2", "--set", "logger.wandb=disabled"]
SHAPES = {"mnist28": (28, 0, 8, 1), "translated60": (60, 0, 12, 3), "cluttered60": (60, 4, 12, 3),
          "cluttered100": (100, 8, 12, 4)}  # canvas, distractors, glimpse size, scales (the paper's tables)


def test_every_row_has_a_config_that_loads_and_states_its_budget(data_dir):
    files = sorted((REPO / "configs" / "paper").glob("*.yaml"))
    assert sorted(f.stem for f in files) == sorted(r.name for r in paper_rows.ROWS)
    assert len(files) == 30  # the 24 rows of Tables 1 and 2, the two random-glimpse controls, our CNN on each table
    for f in files:
        cfg = load_config(f)
        assert yaml.safe_load(f.read_text())["train"]["epochs"] == cfg.train.epochs > 0, f
        bench, model = f.stem.split("_", 1)
        canvas, distractors, size, scales = SHAPES[bench]
        assert (cfg.data.benchmark, cfg.data.canvas_size, cfg.data.distractors) == (bench, canvas, distractors)
        if model.startswith("ram"):
            glimpses, _, control = model[3:].partition("_")
            assert (cfg.model.name, cfg.model.glimpses) == ("ram", int(glimpses))
            assert cfg.model.policy == ("random" if control == "random" else "learned"), f
            assert (cfg.model.glimpse_size, cfg.model.scales, cfg.model.core) == (size, scales, "rnn")
        elif model.startswith("fc"):
            assert (cfg.model.name, cfg.model.fc_hidden) == ("fc", int(model[2:]))
        elif model == "cnn":  # ours, not the paper's
            assert cfg.model.name == "cnn"
        else:
            assert cfg.model.name == model == "cnn_paper"
        row = next(r for r in paper_rows.ROWS if r.name == f.stem)
        assert f'Row: "{row.label}"' in f.read_text()  # the config names the paper's row


def paper_tables() -> dict[tuple[str, str], tuple]:
    """(table, row label) -> (NIPS %, arXiv %, 'nips/arxiv' confidence), read from the shared reference file."""
    found, table = {}, None
    for line in (REPO.parent / "shared" / "reference" / "paper-tables.md").read_text().splitlines():
        if line.startswith("## Table "):
            table = line.split()[2].rstrip(":")
        elif table and line.startswith("| ") and not line.startswith(("| row", "| ---")):
            cells = [c.strip() for c in line.strip("|").split("|")]
            number = lambda c: None if c == "-" else float(c)
            sure = cells[3].replace(" ", "").split("/")
            found[table, cells[0]] = (number(cells[1]), number(cells[2]), "/".join(sure * (2 // len(sure))))
        elif line.startswith("## ") and not line.startswith("## Table"):
            table = None
    return found


def test_paper_numbers_are_the_shared_reference():
    published = paper_tables()
    for row in paper_rows.ROWS:
        if row.paper:
            assert (row.nips, row.arxiv, row.sure) == published[row.table, row.label], row.name
        else:  # our rows carry no published number, and the paper has no row of that name
            assert (row.nips, row.arxiv) == (None, None) and (row.table, row.label) not in published, row.name
    assert sum(r.paper for r in paper_rows.ROWS) == len(published) == 26


def test_verdict():
    assert results_table.verdict(1.07, 1.07) == "meets"
    assert results_table.verdict(0.9, 1.07) == "meets"
    assert results_table.verdict(1.5, 1.07) == "**MISSES** (+0.43)"
    assert results_table.verdict(1.5, None) == "-"
    assert results_table.verdict(None, 1.07) == "not run"


def test_row_filter_and_bad_input(capsys, tmp_path):
    assert [r.name for r in paper_rows.select("mnist28_ram7,cluttered100_*")] == [
        "mnist28_ram7", "cluttered100_cnn_paper", "cluttered100_cnn", "cluttered100_ram4", "cluttered100_ram6",
        "cluttered100_ram8", "cluttered100_ram8_random"]
    assert reproduce.main(["--rows", "mnist29_*", "--out", str(tmp_path)]) == 2
    assert "matches no row" in capsys.readouterr().err
    # a bad override stops the sweep before anything trains
    assert reproduce.main(["--rows", "mnist28_ram7", "--out", str(tmp_path), "--set", "model.glimpses=0"]) == 2
    assert "model.glimpses=0 must be greater than 0" in capsys.readouterr().err
    assert not (tmp_path / "mnist28_ram7").exists()


@pytest.fixture(scope="module")
def sweep(data_dir, tmp_path_factory):
    """Two real tiny runs (headline row, 2 seeds) through reproduce.py -> train.py subprocesses."""
    out = tmp_path_factory.mktemp("paper")
    args = ["--rows", "mnist28_ram7", "--seeds", "2", "--out", str(out), *TINY,
            "--results-md", str(out / "RESULTS.md"), "--results-json", str(out / "reproduce.json")]
    assert reproduce.main(args) == 0
    return out, args


def test_table_from_real_runs(sweep):
    out, _ = sweep
    results = [json.loads((out / "mnist28_ram7" / f"seed{s}" / "results.json").read_text()) for s in (0, 1)]
    report = json.loads((out / "reproduce.json").read_text())
    row = next(r for r in report["rows"] if r["row"] == "mnist28_ram7")
    assert row["seeds"] == [0, 1] and report["pipeline_check"] is True
    for mode in results_table.MODES:
        values = [r[f"test_error_{mode}"] for r in results]
        assert row[f"test_error_{mode}"]["mean"] == pytest.approx(statistics.mean(values))
        assert row[f"test_error_{mode}"]["std"] == pytest.approx(statistics.stdev(values))
    det = [100 * r["test_error_deterministic"] for r in results]
    mean_pct = 100 * statistics.mean(r["test_error_deterministic"] for r in results)  # as the table rounds it
    assert row["verdict_vs_nips"] == results_table.verdict(mean_pct, 1.07)
    if statistics.mean(det) > 1.07:  # one epoch on 256 digits: always, but the check follows the numbers
        assert row["verdict_vs_nips"].startswith("**MISSES**")
    assert row["changed"] == ["data.val_size=500", "eval.mc_samples=2", "model.glimpses=2"]

    md = (out / "RESULTS.md").read_text()
    assert "PIPELINE CHECK, NOT THE REPRODUCTION" in md and results_table.FULL_COMMAND in md
    single = [r["test_error_single"] for r in results]
    cell = f"{100 * statistics.mean(single):.2f} ± {100 * statistics.stdev(single):.2f}"
    line = next(line for line in md.splitlines() if "(`mnist28_ram7`)" in line)
    budget = load_config(REPO / "configs" / "paper" / "mnist28_ram7.yaml").train.epochs
    assert f"| 2 | {cell} |" in line and "| 1.07 |" in line and f"1/{budget} epochs, 256 digits, cpu" in line
    assert "changed: data.val_size=500, eval.mc_samples=2, model.glimpses=2" in line
    assert md.count("| not run | not run | not run |") == len(paper_rows.ROWS) - 1
    for s in (0, 1):  # each run's exact command is in the table and in its run dir
        command = json.loads((out / "mnist28_ram7" / f"seed{s}" / "reproduce.json").read_text())["commands"][0]
        assert command.startswith("python train.py --config configs/paper/mnist28_ram7.yaml --out ")
        assert f"train.seed={s}" in command and command in md


def test_a_run_of_an_older_config_is_marked_changed(sweep, tmp_path):
    import shutil

    out, _ = sweep
    run = tmp_path / "mnist28_ram7" / "seed0"
    shutil.copytree(out / "mnist28_ram7" / "seed0", run)
    (run / "reproduce.json").write_text(json.dumps({"commands": ["python train.py --config "
                                                                 "configs/paper/mnist28_ram7.yaml"]}))
    saved = yaml.safe_load((run / "config.yaml").read_text())
    saved["model"]["loc_std"] = 0.3  # the config said 0.3 when the run was made; it says 0.15 now
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    row = next(r for r in paper_rows.ROWS if r.name == "mnist28_ram7")
    summary = results_table.summarize(row, results_table.collect(tmp_path)["mnist28_ram7"])
    assert "model.loc_std=0.3" in summary["changed"] and summary["reduced"]


def copied_run(sweep, tmp_path):
    """A copy of the sweep's mnist28_ram7 seed 0 to edit, the row's config now, and the run's saved config."""
    import shutil

    out, _ = sweep
    run = tmp_path / "seed0"
    shutil.copytree(out / "mnist28_ram7" / "seed0", run)
    return run, load_config(REPO / "configs" / "paper" / "mnist28_ram7.yaml"), yaml.safe_load(
        (run / "config.yaml").read_text())


def test_plateau_keys_count_only_where_a_plateau_schedule_runs(sweep, tmp_path):
    run, cfg, saved = copied_run(sweep, tmp_path)
    patience = f"train.lr_patience={cfg.train.lr_patience + 3}"
    for schedule, counts in (("cosine", False), ("plateau", True)):
        cfg.train.lr_schedule = saved["train"]["lr_schedule"] = schedule
        saved["train"]["lr_patience"] = cfg.train.lr_patience + 3
        (run / "config.yaml").write_text(yaml.safe_dump(saved))
        assert (patience in results_table.config_changes(run, cfg)) is counts  # cosine decay never reads the patience


def test_kept_snapshots_and_logged_averages_change_no_experiment_but_the_selection_rule_does(sweep, tmp_path):
    """eval.snapshots_from only keeps more weights on disk and eval.compare_ema only logs a second average's
    validation errors; eval.select_from changes which epoch is scored."""
    run, cfg, saved = copied_run(sweep, tmp_path)
    saved["eval"].update(snapshots_from=0.5, compare_ema=0.9999, select_from=0.8)
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    changes = results_table.config_changes(run, cfg)  # the sweep's own reductions (data.val_size) are there too
    assert "eval.select_from=0.8" in changes
    assert not any(c.startswith(("eval.snapshots_from", "eval.compare_ema")) for c in changes)


def test_finished_runs_are_skipped_and_killed_ones_resumed(sweep, capsys):
    out, args = sweep
    seed0, seed1 = out / "mnist28_ram7" / "seed0", out / "mnist28_ram7" / "seed1"
    stamp = (seed0 / "results.json").stat().st_mtime_ns
    capsys.readouterr()
    assert reproduce.main(args) == 0
    printed = capsys.readouterr().out
    assert "skip mnist28_ram7 seed 0" in printed and "skip mnist28_ram7 seed 1" in printed
    started = [line for line in printed.splitlines() if line.startswith("start ")]  # the queue's own lines
    assert not started and (seed0 / "results.json").stat().st_mtime_ns == stamp
    # a run without results.json but with a checkpoint (killed) continues with train.py --resume
    (seed1 / "results.json").unlink()
    assert reproduce.main(args) == 0
    commands = json.loads((seed1 / "reproduce.json").read_text())["commands"]
    assert len(commands) == 2 and "--resume" in commands[1] and "--config" not in commands[1]
    assert (seed1 / "results.json").is_file() and (seed0 / "results.json").stat().st_mtime_ns == stamp


def test_table_only_on_no_runs(tmp_path, capsys):
    md, js = tmp_path / "R.md", tmp_path / "r.json"
    assert reproduce.main(["--table-only", "--out", str(tmp_path / "none"), "--results-md", str(md),
                           "--results-json", str(js)]) == 0
    text = md.read_text()
    assert "PIPELINE CHECK" not in text and text.count("| not run | not run | not run |") == len(paper_rows.ROWS)
    assert f"0 of {len(paper_rows.ROWS)} rows have finished runs" in text


def test_plots_are_drawn_from_the_committed_run_files(tmp_path):
    from PIL import Image

    spec = importlib.util.spec_from_file_location("plots", REPO / "benchmarks" / "plots.py")
    plots = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plots)
    assert plots.main(["--out", str(tmp_path)]) == 0
    for name in ("error_vs_glimpses.png", "val_vs_time.png"):
        image = Image.open(tmp_path / name)
        assert image.size == (2 * plots.W, 2 * plots.H + 60)
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or ()) > 10  # something was drawn
    # a run's training minutes come from its own metrics: they grow with the epochs
    run = next(r for r in json.loads((REPO / "benchmarks/results/reproduce.json").read_text())["rows"] if r["runs"])
    minutes = [m for m, _ in plots.curve(REPO / run["runs"][0]["run_dir"])]
    assert minutes == sorted(minutes) and minutes[-1] > 0


def test_results_md_shows_the_plots_it_names():
    text = (REPO / "RESULTS.md").read_text()
    shown = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)
    assert {"benchmarks/results/error_vs_glimpses.png", "benchmarks/results/val_vs_time.png"} <= set(shown)
    assert all((REPO / p).is_file() for p in shown), shown


def test_adopt_takes_a_finished_run_of_the_row_as_it_stands_and_nothing_else(sweep, tmp_path, capsys):
    import shutil

    out, _ = sweep
    study = tmp_path / "study" / "variant" / "seed1"  # a run made elsewhere, as a recipe study makes them
    shutil.copytree(out / "mnist28_ram7" / "seed1", study)
    (study / "reproduce.json").rename(study / "study.json")
    paper = tmp_path / "paper_runs"
    table = ["--results-md", str(tmp_path / "R.md"), "--results-json", str(tmp_path / "r.json")]
    adopt = ["--rows", "mnist28_ram7", "--adopt", str(study), "--out", str(paper), *table]
    # the tiny run's overrides make it another experiment than the row's config
    assert reproduce.main(adopt) == 2
    assert "is not a run of configs/paper/mnist28_ram7.yaml as it stands" in capsys.readouterr().err
    assert not paper.exists()
    cfg = load_config(REPO / "configs" / "paper" / "mnist28_ram7.yaml")
    saved = yaml.safe_load((study / "config.yaml").read_text())
    for key in ("model.glimpses", "data.val_size", "eval.mc_samples"):
        section, name = key.split(".")
        saved[section][name] = getattr(getattr(cfg, section), name)
    (study / "config.yaml").write_text(yaml.safe_dump(saved))
    assert reproduce.main(adopt) == 2  # a shorter schedule is another schedule too
    assert f"ran 1 epochs, configs/paper/mnist28_ram7.yaml states {cfg.train.epochs}" in capsys.readouterr().err
    saved["train"]["epochs"] = cfg.train.epochs
    (study / "config.yaml").write_text(yaml.safe_dump(saved))
    assert reproduce.main([*adopt, "--note", "the study's run"]) == 0
    run = paper / "mnist28_ram7" / "seed1"  # the seed is the run's own
    assert json.loads((run / "results.json").read_text()) == json.loads((study / "results.json").read_text())
    meta = json.loads((run / "reproduce.json").read_text())
    assert meta["copied_from"] == str(study) and meta["note"] == "the study's run"
    assert meta["commands"] == json.loads((study / "study.json").read_text())["commands"]
    assert not (run / "study.json").exists()
    report = json.loads((tmp_path / "r.json").read_text())
    assert next(r for r in report["rows"] if r["row"] == "mnist28_ram7")["seeds"] == [1]
    capsys.readouterr()
    assert reproduce.main(adopt) == 2  # never over a run that is there
    assert "exists already" in capsys.readouterr().err
    assert reproduce.main(["--adopt", str(study), "--out", str(paper), *table]) == 2
    assert "exactly one row" in capsys.readouterr().err
    (study / "results.json").unlink()
    assert reproduce.main(["--rows", "mnist28_ram7", "--adopt", str(study), "--out", str(tmp_path / "p2"), *table]) == 2
    assert "has no results.json" in capsys.readouterr().err
