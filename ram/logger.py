"""The run's own record: metrics.jsonl (one line per epoch) and results.json."""

from __future__ import annotations

import json
from pathlib import Path


def _epoch(line: str) -> float:
    """The epoch of a metrics line; infinite for a torn or empty line, so it is dropped."""
    try:
        return json.loads(line).get("epoch", 0)
    except (ValueError, AttributeError):
        return float("inf")


class RunLogger:
    def __init__(self, run_dir: Path, resume_epoch: int | None = None):
        self.path = Path(run_dir) / "metrics.jsonl"
        if resume_epoch is not None and self.path.exists():
            # a kill between the metrics line and the checkpoint leaves lines the resumed run will redo,
            # and a kill while writing one leaves half a line
            kept = [l for l in self.path.read_text().splitlines() if _epoch(l) <= resume_epoch]
            tmp = self.path.with_suffix(".jsonl.tmp")  # a kill while rewriting must not lose the history
            tmp.write_text("".join(l + "\n" for l in kept))
            tmp.replace(self.path)
        elif resume_epoch is None:
            self.path.unlink(missing_ok=True)  # a fresh run (train.py refuses a directory with a checkpoint)

    def log_epoch(self, record: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def log_step(self, record: dict, step: int) -> None:
        """Per-step training values; the file keeps epochs only, dashboards may keep steps."""

    def finish(self, results: dict) -> None:
        path = self.path.parent / "results.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(results, indent=2) + "\n")
        tmp.replace(path)
