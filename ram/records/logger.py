"""The run's own record: metrics.jsonl (one line per epoch) and results.json, mirrored to Weights & Biases.

The files are written first and whatever wandb does they are complete: the dashboard is a copy, never
the only one. Only the main process (rank 0) writes; other ranks get a logger that writes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

from ram.training.parallel import is_main


def _epoch(line: str) -> float:
    """The epoch of a metrics line; infinite for a torn or empty line, so it is dropped."""
    try:
        return json.loads(line).get("epoch", 0)
    except (ValueError, AttributeError):
        return float("inf")


class RunLogger:
    def __init__(self, run_dir: Path, resume_epoch: int | None = None, cfg=None):
        """cfg: the run's Config; its ``logger`` section sets up the wandb mirror (None: files only)."""
        self.path = Path(run_dir) / "metrics.jsonl"
        self.main = is_main()
        self.dashboard = None
        if not self.main:
            return
        if resume_epoch is not None and self.path.exists():
            # a kill between the metrics line and the checkpoint leaves lines the resumed run will redo,
            # and a kill while writing one leaves half a line
            kept = [l for l in self.path.read_text().splitlines() if _epoch(l) <= resume_epoch]
            tmp = self.path.with_suffix(".jsonl.tmp")  # a kill while rewriting must not lose the history
            tmp.write_text("".join(l + "\n" for l in kept))
            tmp.replace(self.path)
        elif resume_epoch is None:
            self.path.unlink(missing_ok=True)  # a fresh run (train.py refuses a directory with a checkpoint)
        if cfg is not None:
            from ram.records.dashboard import start

            self.dashboard = start(cfg, Path(run_dir), resume=resume_epoch is not None)

    def log_epoch(self, record: dict) -> None:
        if not self.main:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.dashboard:
            data = {"epoch": record.get("epoch")}
            for k, v in record.items():
                if k.startswith("val_"):
                    data[f"val/{k[4:]}"] = v
                elif k.startswith("train_"):
                    data[f"train_epoch/{k[6:]}"] = v
                elif k not in ("epoch", "step"):
                    data[f"epoch/{k}"] = v
            self.dashboard.log(data, step=record.get("step", 0))

    def log_step(self, record: dict, step: int) -> None:
        """Per-step training values; the file keeps epochs only, the dashboard keeps steps."""
        if self.main and self.dashboard:
            self.dashboard.log({f"train/{k}": v for k, v in record.items()}, step=step)

    def log_media(self, key: str, path: Path, step: int) -> None:
        """A file already saved in the run dir (a rollout GIF, a PNG) shown on the dashboard at ``step``."""
        if self.main and self.dashboard:
            self.dashboard.log_media(key, Path(path), step)

    def finish(self, results: dict) -> None:
        if not self.main:
            return
        path = self.path.parent / "results.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(results, indent=2) + "\n")
        tmp.replace(path)
        if self.dashboard:
            self.dashboard.finish(results, best=self.path.parent / "checkpoints" / "best.pt")
            self.dashboard = None
