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
import json
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `python benchmarks/reproduce.py` imports the checkout's ram/

from benchmarks.jobs import Job, run_jobs  # noqa: E402
from benchmarks.paper_rows import Row, select  # noqa: E402
from benchmarks.results_table import CONFIGS, config_changes, shown, write_table  # noqa: E402
from ram.tools.compare import CompareError  # noqa: E402
from ram.training.config import ConfigError, load_config  # noqa: E402


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
