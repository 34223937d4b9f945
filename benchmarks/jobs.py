"""Training runs as `python train.py` subprocesses, a few at a time: the queue the sweeps share.

Each run keeps its command lines in a JSON file in its run directory (a resumed run adds one), its output
in train.log there, and says when it starts, finishes or fails. benchmarks/reproduce.py (the paper's
rows) and benchmarks/recipe_study.py (recipe variants) differ only in which runs they queue and in what
they report of a finished one.
"""

from __future__ import annotations

import json
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Job:
    name: str  # how the progress lines call it, e.g. "cluttered60_ram8 seed 1"
    run_dir: Path
    cmd: list[str]  # "python", "train.py", ...: kept as written, run with this interpreter
    meta: dict = field(default_factory=dict)  # more fields for the run's JSON file (variant, gpu, ...)


def run_jobs(jobs: list[Job], parallel: int, meta_name: str, report: Callable[[dict], str]) -> int:
    """Run every job, ``parallel`` at a time; report(results.json) says what a finished one reached.
    Returns how many failed (a non-zero exit, or no results.json)."""
    queue, running, failed = list(jobs), [], 0
    while queue or running:
        while queue and len(running) < parallel:
            job = queue.pop(0)
            job.run_dir.mkdir(parents=True, exist_ok=True)
            meta_path = job.run_dir / meta_name
            meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {"commands": []}
            meta["commands"].append(shlex.join(job.cmd))
            meta.update(host=platform.node(), **job.meta)
            meta_path.write_text(json.dumps(meta, indent=2) + "\n")
            log = open(job.run_dir / "train.log", "a")
            print(f"start {job.name}: {shlex.join(job.cmd)}", flush=True)
            proc = subprocess.Popen([sys.executable, *job.cmd[1:]], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
            running.append((job, proc, log, time.perf_counter()))
        time.sleep(0.2)
        for item in [r for r in running if r[1].poll() is not None]:
            job, proc, log, t0 = item
            running.remove(item)
            log.close()
            took, results = time.perf_counter() - t0, job.run_dir / "results.json"
            if proc.returncode == 0 and results.is_file():
                print(f"done  {job.name} in {took:.0f}s: {report(json.loads(results.read_text()))}", flush=True)
            else:
                failed += 1
                print(f"FAILED {job.name} (exit {proc.returncode}) after {took:.0f}s: see {job.run_dir}/train.log",
                      flush=True)
    return failed
