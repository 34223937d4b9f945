"""The run's own record: metrics.jsonl (one line per epoch) and results.json."""

from __future__ import annotations

import json
from pathlib import Path


class RunLogger:
    def __init__(self, run_dir: Path, resume_epoch: int | None = None):
        self.path = Path(run_dir) / "metrics.jsonl"
        if resume_epoch is not None and self.path.exists():
            # a kill between the metrics line and the checkpoint leaves lines the resumed run will redo
            lines = [l for l in self.path.read_text().splitlines() if l.strip()]
            kept = [l for l in lines if json.loads(l).get("epoch", 0) <= resume_epoch]
            self.path.write_text("".join(l + "\n" for l in kept))

    def log_epoch(self, record: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def log_step(self, record: dict, step: int) -> None:
        """Per-step training values; the file keeps epochs only, dashboards may keep steps."""

    def log_media(self, key: str, path: Path, step: int) -> None:
        """A file already written into the run dir (a rollout GIF); the file is the record, dashboards
        may upload it."""

    def finish(self, results: dict) -> None:
        path = self.path.parent / "results.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(results, indent=2) + "\n")
        tmp.replace(path)
