"""Reproduce Tables 1 and 2 of Mnih et al. 2014 (NIPS), and write RESULTS.md from the run directories.

    python benchmarks/reproduce.py --seeds 3 --device cuda              # every row; 3 seeds for headline rows
    python benchmarks/reproduce.py --rows 'mnist28_ram7,translated60_*'  # a subset (names or globs)
    python benchmarks/reproduce.py --rows mnist28_ram7 --epochs 1 --set data.train_size=2048   # a quick check
    python benchmarks/reproduce.py --table-only                          # rebuild RESULTS.md from runs/paper
    python benchmarks/reproduce.py --rows cluttered60_ram8 --adopt RUN_DIR --note "round 16"  # a study run

One row of the paper's tables is one config in configs/paper/ (it states the training budget). Each run is
`python train.py --config configs/paper/ROW.yaml --out OUT/ROW/seedS train.seed=S ...`, started as a
subprocess so its exact command line is kept (OUT/ROW/seedS/reproduce.json) and its output goes to
OUT/ROW/seedS/train.log. A run with results.json is skipped; one with checkpoints/last.pt but no results.json
(killed) is continued with `train.py --resume`; so a killed sweep goes on where it stopped when started again.
Model selection is the trainer's: the best validation checkpoint, scored once on the test split.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import shlex
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `python benchmarks/reproduce.py` imports the checkout's ram/

from benchmarks.jobs import Job, run_jobs  # noqa: E402
from ram.tools.compare import CompareError, _duration, _si, load_run  # noqa: E402
from ram.training.config import ConfigError, keys, load_config  # noqa: E402

CONFIGS = REPO / "configs" / "paper"
FULL_COMMAND = "python benchmarks/reproduce.py --seeds 3 --device cuda --jobs 4"  # every row, full budget
MODES = ("single", "deterministic", "mc")


@dataclass(frozen=True)
class Row:
    name: str  # configs/paper/<name>.yaml
    table: str
    label: str  # the paper's wording
    nips: float | None = None  # test error %, NIPS 2014 version
    arxiv: float | None = None  # test error %, the earlier arXiv version (1406.6247v1)
    headline: bool = False  # trained with --seeds seeds; the others with one
    sure: str = "high/high"  # confidence in the NIPS / arXiv numbers (../shared/reference/paper-tables.md)
    paper: bool = True  # a row of the paper's tables; False: ours, beside them (no published number)


TABLES = {
    "1a": "Table 1a: 28x28 MNIST",
    "1b": "Table 1b: 60x60 translated MNIST",
    "2a": "Table 2a: 60x60 cluttered translated MNIST, 4 distractors",
    "2b": "Table 2b: 100x100 cluttered translated MNIST, 8 distractors",
}


def _ram(bench, table, glimpses, size, scales, nips, arxiv, sure="high/high", headline=False) -> Row:
    label = f"RAM, {glimpses} glimpses, {size}x{size}, {scales} scale{'s' if scales > 1 else ''}"
    return Row(f"{bench}_ram{glimpses}", table, label, nips, arxiv, headline, sure)


FC64, FC256, CONV = "FC, 2 layers (64 hiddens each)", "FC, 2 layers (256 hiddens each)", "Convolutional, 2 layers"
OURS_CNN = "Our CNN: 4 conv3x3/BN/ReLU blocks (32-256), global pooling"  # not in the paper


def _ours_cnn(bench: str, table: str) -> Row:
    return Row(f"{bench}_cnn", table, OURS_CNN, sure="-/-", paper=False)


# The published numbers of both versions, from ../shared/reference/paper-tables.md; a "medium" one is printed
# as provisional.
ROWS = [
    Row("mnist28_fc256", "1a", FC256, 1.69, 1.35, sure="high/medium"),
    Row("mnist28_cnn_paper", "1a", CONV, 1.21, 1.12, headline=True, sure="high/medium"),
    _ours_cnn("mnist28", "1a"),
    _ram("mnist28", "1a", 2, 8, 1, 3.79, 6.27),
    _ram("mnist28", "1a", 3, 8, 1, 1.51, 2.7, "high/medium"),
    _ram("mnist28", "1a", 4, 8, 1, 1.54, 1.73),
    _ram("mnist28", "1a", 5, 8, 1, 1.34, 1.55, "high/medium"),
    _ram("mnist28", "1a", 6, 8, 1, 1.12, 1.29),
    _ram("mnist28", "1a", 7, 8, 1, 1.07, 1.47, "high/medium", headline=True),
    Row("translated60_fc64", "1b", FC64, 6.42, 7.56, sure="high/medium"),
    Row("translated60_fc256", "1b", FC256, 2.63, 3.7, sure="high/medium"),
    Row("translated60_cnn_paper", "1b", CONV, 1.62, 2.31, headline=True, sure="high/medium"),
    _ours_cnn("translated60", "1b"),
    _ram("translated60", "1b", 4, 12, 3, 1.54, 2.29),
    _ram("translated60", "1b", 6, 12, 3, 1.22, 1.86),
    _ram("translated60", "1b", 8, 12, 3, 1.20, 1.84, headline=True),
    Row("cluttered60_fc64", "2a", FC64, 28.58, 28.96, sure="high/medium"),
    Row("cluttered60_fc256", "2a", FC256, 11.96, 13.2, sure="high/medium"),
    Row("cluttered60_cnn_paper", "2a", CONV, 8.09, 7.83, headline=True),
    _ours_cnn("cluttered60", "2a"),
    _ram("cluttered60", "2a", 4, 12, 3, 4.96, 7.1, "high/medium"),
    _ram("cluttered60", "2a", 6, 12, 3, 4.08, 5.88, "high/medium"),
    _ram("cluttered60", "2a", 8, 12, 3, 4.04, 5.23, headline=True),
    Row("cluttered60_ram8_random", "2a", "RAM, 8 random glimpses", 14.4, None),
    Row("cluttered100_cnn_paper", "2b", CONV, 14.35, 16.51, headline=True, sure="medium/high"),
    _ours_cnn("cluttered100", "2b"),
    _ram("cluttered100", "2b", 4, 12, 4, 9.41, 14.95, "medium/high"),
    _ram("cluttered100", "2b", 6, 12, 4, 8.31, 11.58, "medium/high"),
    _ram("cluttered100", "2b", 8, 12, 4, 8.11, 10.83, "medium/high", headline=True),
    Row("cluttered100_ram8_random", "2b", "RAM, 8 random glimpses", 28.4, None, sure="medium/medium"),
]


def select(patterns: str | None) -> list[Row]:
    """Rows whose name matches one of the comma-separated names or globs (all rows for None)."""
    if not patterns:
        return list(ROWS)
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    for p in wanted:
        if not any(fnmatch.fnmatchcase(r.name, p) for r in ROWS):
            raise ValueError(f"--rows {p!r} matches no row: pick from {', '.join(r.name for r in ROWS)}")
    return [r for r in ROWS if any(fnmatch.fnmatchcase(r.name, p) for p in wanted)]


def shown(path: Path) -> str:
    """A path as the table shows it: relative to the checkout when inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def train_command(row: Row, seed: int, run_dir: Path, args, resume: bool) -> list[str]:
    cmd = ["python", "train.py"]
    cmd += ["--out", shown(run_dir), "--resume"] if resume else ["--config", f"configs/paper/{row.name}.yaml",
                                                                 "--out", shown(run_dir)]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    cmd += [f"train.seed={seed}", f"train.device={args.device}"]
    if args.threads:
        cmd.append(f"train.threads={args.threads}")
    if args.epochs:
        cmd.append(f"train.epochs={args.epochs}")
    return cmd + list(args.set)


def gpu_name() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def plan(rows: list[Row], out: Path, seeds: int) -> list[tuple[Row, int, Path]]:
    return [(r, s, out / r.name / f"seed{s}") for r in rows for s in range(seeds if r.headline else 1)]


def run_sweep(todo: list[tuple[Row, int, Path]], args) -> int:
    """Train every (row, seed) without results.json, `args.jobs` at a time. Returns the number that failed."""
    jobs, gpu = [], gpu_name()
    for row, seed, run_dir in todo:
        if (run_dir / "results.json").is_file():
            print(f"skip {row.name} seed {seed}: {shown(run_dir)}/results.json exists")
            continue
        resume = (run_dir / "checkpoints" / "last.pt").is_file()
        jobs.append(Job(f"{row.name} seed {seed}", run_dir, train_command(row, seed, run_dir, args, resume), {"gpu": gpu}))
    if args.dry_run:
        for job in jobs:
            print(shlex.join(job.cmd))
        return 0
    return run_jobs(jobs, args.jobs, "reproduce.json",
                    lambda res: f"test error deterministic {100 * res['test_error_deterministic']:.2f}%")


def adopt(run_dir: Path, row: Row, out: Path, note: str) -> Path:
    """Copy a finished run made elsewhere (a recipe study's) into OUT/ROW/seedS as one of the row's runs, with
    a reproduce.json that keeps its command and where it came from. Only a run of the row's config as it
    stands now (every key the same but where and how fast it ran) and of its full budget is taken."""
    import shutil

    import yaml

    for name in ("results.json", "config.yaml"):
        if not (run_dir / name).is_file():
            raise ValueError(f"--adopt {shown(run_dir)} has no {name}: only a finished run of train.py can be adopted")
    saved = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    cfg = load_config(CONFIGS / f"{row.name}.yaml")
    changes = config_changes(run_dir, cfg)
    if changes:
        raise ValueError(f"--adopt {shown(run_dir)} is not a run of configs/paper/{row.name}.yaml as it stands: it "
                         f"has {', '.join(changes)}; change the config first, or leave the run where it is")
    epochs = saved.get("train", {}).get("epochs")
    if epochs != cfg.train.epochs:
        raise ValueError(f"--adopt {shown(run_dir)} ran {epochs} epochs, configs/paper/{row.name}.yaml states "
                         f"{cfg.train.epochs}: a run of another length is another schedule")
    seed = saved.get("train", {}).get("seed", 0)
    target = out / row.name / f"seed{seed}"
    if target.exists():
        raise ValueError(f"{shown(target)} exists already: move it away first (e.g. into a paper_runs_recipeN/ "
                         f"folder) to adopt {shown(run_dir)} as seed {seed}")
    metas = [json.loads(m.read_text()) for m in (run_dir / "reproduce.json", run_dir / "study.json") if m.is_file()]
    meta = {"commands": [], "host": None, "gpu": None, **(metas[0] if metas else {})}
    meta.update(copied_from=shown(run_dir), note=note or "adopted by benchmarks/reproduce.py --adopt")
    shutil.copytree(run_dir, target)
    (target / "reproduce.json").write_text(json.dumps(meta, indent=2) + "\n")
    (target / "study.json").unlink(missing_ok=True)  # the meta file of the run's first home, now reproduce.json
    return target


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
           "eval.batch_size", "data.data_dir", "train.epochs", "data.train_size")  # the last two: see "reduced"


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


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default=None, help="comma-separated row names or globs, e.g. 'mnist28_*,cluttered60_ram8'")
    p.add_argument("--seeds", type=int, default=1, help="seeds for the headline rows (others: one); default 1")
    p.add_argument("--epochs", type=int, default=0, help="override every config's train.epochs (quick checks)")
    p.add_argument("--device", default="auto", help="train.device for every run (auto, cpu, cuda, cuda:N)")
    p.add_argument("--threads", type=int, default=0, help="train.threads (CPU intra-op threads); 0 = torch default")
    p.add_argument("--jobs", type=int, default=1, help="runs trained at the same time (several fit on one GPU)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra train.py override for every run, repeatable (e.g. --set data.train_size=2048)")
    p.add_argument("--data-dir", default=None, help="passed to train.py --data-dir")
    p.add_argument("--out", default="runs/paper", help="folder of the run directories (default runs/paper)")
    p.add_argument("--table-only", action="store_true", help="train nothing: rebuild the table from --out")
    p.add_argument("--adopt", default=None, metavar="RUN_DIR",
                   help="train nothing: copy this finished run (e.g. a recipe study's) into --out as a run of the "
                        "one row --rows names (its seed from the run's config), then rebuild the table")
    p.add_argument("--note", default="", help="with --adopt: why the run counts for the row (kept in reproduce.json)")
    p.add_argument("--dry-run", action="store_true", help="print the train.py commands that would run, then stop")
    p.add_argument("--results-md", default=str(REPO / "RESULTS.md"), help="where to write the table")
    p.add_argument("--results-json", default=str(REPO / "benchmarks" / "results" / "reproduce.json"))
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out).resolve()
    failed = 0
    try:
        if args.seeds < 1 or args.jobs < 1 or args.epochs < 0:
            raise ValueError("--seeds and --jobs must be at least 1 and --epochs not negative")
        rows = select(args.rows)
        if args.adopt:
            if len(rows) != 1:
                raise ValueError(f"--adopt needs --rows to name exactly one row, not {len(rows)}")
            source = Path(args.adopt).resolve()
            print(f"adopted {shown(source)} as {shown(adopt(source, rows[0], out, args.note))}")
        elif not args.table_only:
            for row in rows:  # every config (with the overrides) must load before anything trains
                load_config(CONFIGS / f"{row.name}.yaml", [f"train.device={args.device}", *args.set], args.data_dir)
            if not args.dry_run:
                out.mkdir(parents=True, exist_ok=True)
                with open(out / "sweeps.txt", "a") as f:
                    f.write(shlex.join(["python", "benchmarks/reproduce.py", *(argv if argv is not None
                                                                                else sys.argv[1:])]) + "\n")
            failed = run_sweep(plan(rows, out, args.seeds), args)
            if args.dry_run:
                return 0
        text = write_table(out, Path(args.results_md), Path(args.results_json))
    except (ValueError, ConfigError, CompareError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(text)
    print(f"wrote {args.results_md} and {args.results_json}" + (f"; {failed} run(s) FAILED" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
