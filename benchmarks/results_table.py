"""RESULTS.md and benchmarks/results/reproduce.json from the run directories of the paper's rows.

Each row's finished seeds are collected (the trainer's best-validation checkpoint, scored once on test),
averaged, and set beside the paper's numbers; a run made with less than its config's budget, or with a
changed config, marks the whole table as a pipeline check. The plots, the shipped checkpoints and
benchmarks/reproduce_notes.md follow the tables.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from benchmarks.paper_rows import ROWS, TABLES, Row
from ram.tools.compare import _duration, _si, load_run
from ram.training.config import keys, load_config

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs" / "paper"
FULL_COMMAND = "python benchmarks/reproduce.py --seeds 3 --device cuda --jobs 4"  # every row, full budget
MODES = ("single", "deterministic", "mc")


def shown(path: Path) -> str:
    """A path as the table shows it: relative to the checkout when inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def collect(out: Path) -> dict[str, list[dict]]:
    """Row name -> one compare.load_run dict per finished seed (with the command that made it)."""
    found = {}
    for row in ROWS:
        runs = []
        for run_dir in sorted((out / row.name).glob("seed*")):
            if not (run_dir / "results.json").is_file():
                continue
            run = load_run(run_dir)
            meta_path = run_dir / "reproduce.json"
            meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
            stopped = json.loads((run_dir / "results.json").read_text()).get("stopped_early", False)
            run.update(commands=meta.get("commands", []), gpu=meta.get("gpu"), run_dir=shown(run_dir),
                       stopped_early=stopped)
            runs.append(run)
        found[row.name] = runs
    return found


def mean_std(values: list[float]) -> dict:
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else None,
            "n": len(values)}


def verdict(ours_pct: float | None, paper_pct: float | None) -> str:
    """Our mean error against the paper's: 'meets' when not above it."""
    if ours_pct is None:
        return "not run"
    if paper_pct is None:
        return "-"
    return "meets" if ours_pct <= paper_pct + 1e-9 else f"**MISSES** (+{ours_pct - paper_pct:.2f})"


# keys that leave the experiment as the paper config states it (where and how fast it runs, where the data is)
NEUTRAL = ("train.seed", "train.device", "train.threads", "train.log_every", "train.checkpoint_every", "logger.",
           "eval.batch_size", "eval.snapshots_from",  # extra weights kept on disk: training and selection as they were
           "eval.compare_ema",  # a second average, validated and logged only: training, selection and best.pt as they were
           "data.data_dir", "train.epochs", "data.train_size")  # the last two: see "reduced"


PLATEAU_ONLY = ("train.lr_gamma", "train.lr_patience")


def macs_per_image(cfg) -> int:
    """One image's inference cost of a row's model, counted from its config (no run needed)."""
    from ram.build import build_model  # only here: the rest of the table needs no torch
    from ram.tools.macs import model_macs

    return model_macs(build_model(cfg), cfg.data.canvas_size)


def config_changes(run_dir: str | Path, cfg) -> list[str]:
    """KEY=VALUE for each key whose value in the run's saved config.yaml differs from the row's config now.
    That covers the run's command-line overrides (e.g. model.glimpses=2), and a run of an older version of
    the config must not pass for a run of this one. Keys the run's config lacks came later, with defaults
    that keep the earlier behaviour."""
    import yaml

    path = REPO / run_dir / "config.yaml"
    if not path.is_file():
        return []
    saved = yaml.safe_load(path.read_text()) or {}
    # the plateau schedule's own keys do nothing under any other schedule: they change no experiment then
    idle = () if "plateau" in (cfg.train.lr_schedule, (saved.get("train") or {}).get("lr_schedule")) else PLATEAU_ONLY
    changes = []
    for key, value, _ in keys(cfg):
        if key.startswith(NEUTRAL) or key in idle:
            continue
        section, name = key.split(".", 1)
        if name in (saved.get(section) or {}) and saved[section][name] != value:
            changes.append(f"{key}={saved[section][name]}")
    return changes


def summarize(row: Row, runs: list[dict]) -> dict:
    cfg = load_config(CONFIGS / f"{row.name}.yaml")
    summary = {"row": row.name, "table": row.table, "label": row.label, "config": f"configs/paper/{row.name}.yaml",
               "paper": {"nips_pct": row.nips, "arxiv_pct": row.arxiv, "confidence": row.sure}, "headline": row.headline,
               "in_paper": row.paper, "budget_epochs": cfg.train.epochs, "macs": macs_per_image(cfg), "runs": runs,
               "seeds": [r["seed"] for r in runs]}
    if runs:
        for mode in MODES:
            summary[f"test_error_{mode}"] = mean_std([r[f"test_error_{mode}"] for r in runs])
        summary["wall_time_s"] = mean_std([r["wall_time_s"] for r in runs if r["wall_time_s"] is not None] or [0.0])
        summary["changed"] = sorted({o for r in runs for o in config_changes(r["run_dir"], cfg)})
        short = [r for r in runs if (r["epochs"] or 0) < cfg.train.epochs and not r["stopped_early"]]
        summary["reduced"] = bool(summary["changed"] or short or any(r["train_size"] for r in runs))
    ours = 100 * summary["test_error_deterministic"]["mean"] if runs else None
    summary["verdict_vs_nips"] = verdict(ours, row.nips)
    return summary


def _paper(pct: float | None, sure: str) -> str:
    if pct is None:
        return "-"
    return f"{pct:.2f}" + (" (provisional)" if sure == "medium" else "")


def _cell(stat: dict | None) -> str:
    if not stat:
        return "-"
    mean = f"{100 * stat['mean']:.2f}"
    return mean if stat["std"] is None else f"{mean} ± {100 * stat['std']:.2f}"


def _budget(s: dict) -> str:
    if not s["runs"]:
        return f"(config: {s['budget_epochs']} epochs)"
    r = s["runs"][0]
    digits = f", {r['train_size']} digits" if r["train_size"] else ""
    device = r["device"] + (f" ({r['gpu']})" if r.get("gpu") and str(r["device"]).startswith("cuda") else "")
    reduced = " **reduced**" if s["reduced"] else ""
    if s["changed"]:
        reduced += f", changed: {', '.join(s['changed'])}"
    early = " (early stop)" if r.get("stopped_early") else ""
    return f"{r['epochs']}/{s['budget_epochs']} epochs{early}{digits}, {device}, {_duration(s['wall_time_s']['mean'])}{reduced}"


def markdown(summaries: list[dict], out: Path, sweeps: list[str], notes: str) -> str:
    reduced = any(s.get("reduced") for s in summaries)
    ran = sum(bool(s["runs"]) for s in summaries)
    lines = ["# Reproducing Mnih et al. 2014, Tables 1 and 2", ""]
    if reduced:
        lines += ["> **PIPELINE CHECK, NOT THE REPRODUCTION.** At least one row below was trained with less than "
                  "its config's budget (fewer epochs or a subset of the training digits) or with a changed config, "
                  "so these numbers only show that the pipeline runs end to end; they say nothing about how well "
                  f"RAM reproduces the paper. The full run needs a GPU machine: `{FULL_COMMAND}`.", ""]
    if ran < len(summaries):
        lines += [f"{ran} of {len(summaries)} rows have finished runs; the others say \"not run\".", ""]
    lines += [f"Generated by `python benchmarks/reproduce.py --table-only --out {shown(out)}` from the run directories "
              f"under `{shown(out)}`. Test error in % on the fixed 10,000-canvas test split for the checkpoint with "
              "the best validation error (model selection never sees the test split): one sampled rollout "
              "(single), the mean-location policy (deterministic) and class probabilities averaged over MC rollouts "
              "(MC). Full-image baselines make one deterministic pass, so their three columns are equal. Cells are "
              "mean ± sample std over seeds (n = number of seeds). \"vs NIPS\" compares our *deterministic* mean "
              "with the NIPS 2014 number (not the MC average, which can hide a weak policy). The paper's numbers "
              "are from `../shared/reference/paper-tables.md`; \"(provisional)\": read in one source only. A row in "
              "*italics* is not in the paper: our strong CNN, a modern full-image network beside the paper's conv "
              "net. MACs per image: multiply-accumulates of one image's inference, counted by PyTorch from the "
              "operations that run (`ram/tools/macs.py`): RAM's grow with its glimpses, a full-image network's with "
              "the canvas.", ""]
    head = ["row (paper)", "n", "ours single", "ours deterministic", "ours MC", "NIPS 2014", "arXiv v1", "vs NIPS",
            "MACs per image", "budget (epochs, device, wall time per seed)"]
    for table, title in TABLES.items():
        lines += [f"## {title}", "", "| " + " | ".join(head) + " |", "|---|" + "---:|" * 8 + "---|"]
        for s in (s for s in summaries if s["table"] == table):
            paper = [_paper(p, sure) for p, sure in zip((s["paper"]["nips_pct"], s["paper"]["arxiv_pct"]),
                                                           s["paper"]["confidence"].split("/"))]
            cells = [_cell(s.get(f"test_error_{m}")) for m in MODES] if s["runs"] else ["not run"] * 3
            label = f"{s['label']} (`{s['row']}`)" if s["in_paper"] else f"*{s['label']}* (`{s['row']}`)"
            lines.append("| " + " | ".join([label, str(len(s["runs"])), *cells, *paper, s["verdict_vs_nips"],
                                            _si(s["macs"]), _budget(s)]) + " |")
        lines.append("")
    lines += ["## Commands", "", "Each finished run's command line (run from the checkout's root); a killed run "
              "continued with `--resume` lists both.", "", "```bash"]
    for s in summaries:
        for r in s["runs"]:
            lines += r["commands"] or [f"# {r['run_dir']}: no reproduce.json (not started by reproduce.py)"]
    lines += ["```", ""]
    if sweeps:
        lines += ["Sweeps started on this folder (finished runs are skipped, so a later sweep may have trained "
                  "nothing):", "", "```bash", *sweeps, "```", ""]
    lines += plots_section()
    lines += pretrained_section()
    if notes:
        lines += [notes.rstrip(), ""]
    return "\n".join(lines)


def plots_section() -> list[str]:
    """The figures of benchmarks/plots.py, when they have been drawn."""
    figures = [(REPO / "benchmarks/results" / name, text) for name, text in (
        ("error_vs_glimpses.png", "Test error (deterministic) against glimpse count, ours and the paper's"),
        ("val_vs_time.png", "Validation error against wall time, RAM and the conv net"))]
    figures = [(f, text) for f, text in figures if f.is_file()]
    if not figures:
        return []
    lines = ["## Plots", "", "Drawn from the run files by `python benchmarks/plots.py`.", ""]
    for f, text in figures:
        lines += [f"{text}:", "", f"![{text}]({shown(f)})", ""]
    return lines


def pretrained_section() -> list[str]:
    """The shipped checkpoints (pretrained/*.pt) with the test errors they scored when exported."""
    import torch  # only here: the rest of the table needs no torch

    files = [f for f in sorted((REPO / "pretrained").glob("*.pt"))  # the game's are in benchmarks/results/catch.md
             if torch.load(f, map_location="cpu", weights_only=True)["config"]["data"]["benchmark"] != "catch"]
    if not files:
        return []
    lines = ["## Trained models in `pretrained/`", "",
             "Best-validation checkpoints of finished runs, weights only (`python -m ram.evaluate RUN_DIR --export "
             "pretrained/ROW.pt`). `python -m ram.evaluate pretrained/ROW.pt` scores one on the fixed test split in "
             "seconds, and `python -m ram.view pretrained/ROW.pt` draws its glimpses. Test error %:", "",
             "| file | benchmark | epoch | single | deterministic | MC |", "|---|---|---:|---:|---:|---:|"]
    for f in files:
        state = torch.load(f, map_location="cpu", weights_only=True)
        e = state["scores"]
        lines.append(f"| `{shown(f)}` | {state['config']['data']['benchmark']} | {state['epoch']} | "
                     f"{100 * e['test_error_single']:.2f} | {100 * e['test_error_deterministic']:.2f} | "
                     f"{100 * e['test_error_mc']:.2f} |")
    return lines + [""]


def write_table(out: Path, md_path: Path, json_path: Path) -> str:
    summaries = [summarize(row, runs) for row, runs in zip(ROWS, collect(out).values())]
    log = out / "sweeps.txt"
    sweeps = log.read_text().splitlines() if log.is_file() else []
    notes_path = REPO / "benchmarks" / "reproduce_notes.md"
    text = markdown(summaries, out, sweeps, notes_path.read_text() if notes_path.is_file() else "")
    md_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(text)
    report = {"out": shown(out), "pipeline_check": any(s.get("reduced") for s in summaries), "rows": summaries}
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    return text
