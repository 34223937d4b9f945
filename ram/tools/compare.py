"""Compare finished runs: one row per run directory, as a markdown table and a JSON file.

    python -m ram.compare runs/cluttered60-ram-* runs/cluttered60-cnn-* --out results/

Each RUN_DIR is what ``train.py`` leaves behind (config.yaml and results.json). Test errors are on the
full fixed test split, for the checkpoint picked on validation. RAM has three: one sampled rollout
(single), the mean locations (deterministic) and the class probabilities averaged over MC rollouts;
a full-image baseline is one deterministic forward pass, so its three columns hold the same number.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from envs.canvas import BENCHMARKS
from ram.errors import RamError
from ram.models.registry import MODELS

MODEL_ORDER = tuple(MODELS)
COLUMNS = ("model", "benchmark", "test error single", "test error deterministic", "test error MC", "parameters",
           "MACs per image", "train images/s", "wall time")


class CompareError(RamError, ValueError):
    """A run directory that cannot be compared."""


def describe(model: dict) -> str:
    """A short human name for a run's model section (a run from before model.name existed is RAM)."""
    name = model.get("name", "ram")
    return MODELS[name].describe({**model, "name": name}) if name in MODELS else str(name)


def load_run(run_dir: Path) -> dict:
    """One table row (raw numbers) from a run directory."""
    results_path, config_path = run_dir / "results.json", run_dir / "config.yaml"
    if not run_dir.is_dir():
        raise CompareError(f"{run_dir} is not a directory: pass run directories made by train.py")
    if not results_path.is_file():
        raise CompareError(f"{run_dir} has no results.json: the run has not finished (train.py writes it at the end)")
    try:
        results = json.loads(results_path.read_text())
        config = yaml.safe_load(config_path.read_text()) if config_path.is_file() else {}
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise CompareError(f"{run_dir}: unreadable results.json or config.yaml ({e.__class__.__name__}): rerun the "
                           "test step or remove the run") from None
    if results.get("benchmark") == "catch":
        raise CompareError(f"{run_dir} is a Catch run: this table compares digit classifiers; Catch runs are tabled "
                           "by python benchmarks/catch_results.py")
    missing = [k for k in ("test_error_single", "test_error_deterministic", "test_error_mc", "params")
               if k not in results]
    if missing:
        raise CompareError(f"{results_path} lacks {', '.join(missing)}: it was not written by this train.py")
    macs = results.get("macs")
    if macs is None and config:  # a run from before results.json held MACs: count them from its config
        from ram.build import build_model
        from ram.tools.macs import model_macs
        from ram.training.config import from_dict

        cfg = from_dict(config)
        macs = model_macs(build_model(cfg), cfg.data.canvas_size)
    return {
        "run_dir": str(run_dir), "model": results.get("model", config.get("model", {}).get("name")),
        "description": describe(config.get("model", {"name": results.get("model")})),
        "benchmark": results.get("benchmark"),
        "test_error_single": results["test_error_single"],
        "test_error_deterministic": results["test_error_deterministic"],
        "test_error_mc": results["test_error_mc"], "mc_samples": results.get("mc_samples"),
        "params": results["params"], "macs": macs,
        "train_images_per_s": results.get("train_images_per_s"), "wall_time_s": results.get("wall_time_s"),
        "epochs": results.get("epochs"), "device": results.get("device"), "threads": results.get("threads"),
        "val_error_best": results.get("val_error_best"), "best_epoch": results.get("best_epoch"),
        "seed": config.get("train", {}).get("seed"), "train_size": config.get("data", {}).get("train_size"),
    }


def _order(row: dict) -> tuple:
    bench = list(BENCHMARKS).index(row["benchmark"]) if row["benchmark"] in BENCHMARKS else len(BENCHMARKS)
    model = MODEL_ORDER.index(row["model"]) if row["model"] in MODEL_ORDER else len(MODEL_ORDER)
    return bench, str(row["benchmark"]), model, row["description"]


def _si(n) -> str:
    if n is None:
        return "?"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(n)


def _duration(s) -> str:
    if s is None:
        return "?"
    if s < 60:
        return f"{s:.1f}s"
    h, rem = divmod(int(round(s)), 3600)
    return f"{h}h{rem // 60:02d}m" if h else f"{rem // 60}m{rem % 60:02d}s"


def markdown(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(COLUMNS) - 2)) + "|"]
    for r in rows:
        errors = [f"{100 * r[k]:.2f}%" for k in ("test_error_single", "test_error_deterministic", "test_error_mc")]
        rate = "?" if r["train_images_per_s"] is None else f"{r['train_images_per_s']:,.0f}"
        lines.append("| " + " | ".join([r["description"], str(r["benchmark"]), *errors, f"{r['params']:,}",
                                        _si(r["macs"]), rate, _duration(r["wall_time_s"])]) + " |")
    notes = ["", "Test errors on the full fixed test split, checkpoint picked on validation. RAM: one sampled rollout "
             "(single), mean locations (deterministic), class probabilities averaged over MC rollouts. Baselines "
             "are one deterministic pass: the same number in all three columns. MACs: multiply-accumulates of one "
             "image's inference (ram/tools/macs.py). Wall time: training and validation, without the final test."]
    return "\n".join(lines + notes) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories written by train.py")
    p.add_argument("--out", default=".", help="folder for comparison.md and comparison.json (default: here)")
    args = p.parse_args(argv)
    try:
        rows = sorted((load_run(Path(d)) for d in args.run_dirs), key=_order)
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise CompareError(f"--out {out} is a file: give a folder")
        out.mkdir(parents=True, exist_ok=True)
    except CompareError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    table = markdown(rows)
    (out / "comparison.md").write_text(table)
    (out / "comparison.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(table, end="")
    print(f"wrote {out / 'comparison.md'} and {out / 'comparison.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
