"""What the diagnostics of a trained RAM share: loading a checkpoint onto a split, and writing OUT.md / OUT.json.

The diagnostics (glimpse_hits.py, path_noise.py) each answer one question about a trained agent; this file
keeps their command lines, checkpoint handling and report files alike, so a reader learns them once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from envs.mnist import DataError  # noqa: E402
from ram.build import build_model, make_env  # noqa: E402
from ram.errors import RamError  # noqa: E402
from ram.tools.evaluate import checkpoint_path, progress  # noqa: E402
from ram.training.checkpoint import load_model_checkpoint, load_weights  # noqa: E402


def load_ram(path: str, split: str, data_dir: str | None, tool: str):
    """(checkpoint path, config, checkpoint state, model in eval mode, env of the split) for a digit RAM."""
    ckpt = checkpoint_path(path)
    cfg, state = load_model_checkpoint(ckpt, map_location="cpu")
    if data_dir is not None:
        cfg.data.data_dir = data_dir
    if cfg.data.benchmark == "catch" or cfg.model.name != "ram":
        raise SystemExit(f"{ckpt}: {tool} analyses RAM on digit canvases, not {cfg.model.name} on {cfg.data.benchmark}")
    model = build_model(cfg)
    load_weights(model, state, ckpt)
    model.set_progress(progress(cfg, state))  # a scheduled std is scored where training left it
    model.eval()
    return ckpt, cfg, state, model, make_env(cfg, split, cfg.eval.batch_size, "cpu")


def parser(doc: str, tool: str) -> argparse.ArgumentParser:
    """The arguments every diagnostic takes; a tool adds its own before parsing."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="checkpoints (.pt) or run directories (their checkpoints/best.pt)")
    # the validation split by default: a diagnostic that guides the recipe must not look at the test split
    p.add_argument("--split", default="val", choices=("val", "test"))
    p.add_argument("--data-dir", default=None, help="folder with the IDX files (default: as for train.py)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=f"benchmarks/results/{tool}", help="writes OUT.md and OUT.json")
    return p


def report(tool: str, args: argparse.Namespace, argv: list[str] | None, analyse: Callable[[str], dict],
           markdown: Callable[[list[dict], str], str]) -> int:
    """Analyse every run at args.threads threads, then write and print the report; returns the exit status."""
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    try:
        results = [analyse(run) for run in args.runs]
    except (RamError, DataError) as e:  # a missing or foreign checkpoint, a bad data folder: one line, no report
        print(f"error: {e}", file=sys.stderr)
        return 2
    command = f"python benchmarks/{tool}.py " + " ".join(argv if argv is not None else sys.argv[1:])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"command": command, "threads": args.threads,
                                                    "seconds": time.perf_counter() - start, "runs": results}, indent=1))
    text = markdown(results, command)
    out.with_suffix(".md").write_text(text)
    print(text)
    return 0
