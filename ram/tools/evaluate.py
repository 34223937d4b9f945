"""Score a checkpoint on the fixed test split, exactly as train.py scores its best checkpoint at the end:

    python -m ram.evaluate pretrained/mnist28.pt            # a checkpoint file
    python -m ram.evaluate runs/c60                         # a run directory: its checkpoints/best.pt
    python -m ram.evaluate runs/c60 --split val --mc 10
    python -m ram.evaluate runs/c60 --export pretrained/c60.pt   # a weights-only copy to ship (no optimizer)
                                                                 # and its config beside it, pretrained/c60.yaml

Prints the single (one sampled rollout), deterministic (the mean-location policy) and MC (class
probabilities averaged over --mc rollouts) errors, and writes them as JSON with --json. The canvases
are the fixed, seeded ones of the split, so any machine gets the same numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from envs.mnist import DataError
from ram.build import build_model, make_env, pick_device
from ram.errors import RamError
from ram.training.checkpoint import load_model_checkpoint, load_weights, save_checkpoint
from ram.training.config import save_config

SHIPPED = ("model_name", "config", "model", "epoch", "global_step", "best_val", "world_size")  # what --export keeps
TRAIN_DIGITS = 60000  # the training file of every MNIST-format set; data.val_size of them are held out


def checkpoint_path(path: str | Path) -> Path:
    path = Path(path)
    return path / "checkpoints" / "best.pt" if path.is_dir() else path


def progress(cfg, state: dict) -> float:
    """How far into its run the checkpoint was saved (what a scheduled exploration std follows)."""
    digits = (cfg.game.episodes if cfg.data.benchmark == "catch"
              else cfg.data.train_size or TRAIN_DIGITS - cfg.data.val_size)  # an epoch's episodes
    steps = digits // (cfg.train.batch_size * state.get("world_size", 1)) * cfg.train.epochs
    return state.get("global_step", 0) / max(steps, 1)


def score(path: str | Path, split: str = "test", mc_samples: int | None = None, data_dir: str | None = None,
          device: str = "cpu", batch: int | None = None) -> dict:
    """{'test_error_single', 'test_error_deterministic', 'test_error_mc', ...} of a checkpoint on a split."""
    ckpt = checkpoint_path(path)
    cfg, state = load_model_checkpoint(ckpt, map_location=device)
    if data_dir is not None:
        cfg.data.data_dir = data_dir
    model = build_model(cfg).to(device)
    load_weights(model, state, ckpt)
    model.set_progress(progress(cfg, state))
    env = make_env(cfg, split, batch or cfg.eval.batch_size, device)
    errors = model.test_errors(env, mc_samples or cfg.eval.mc_samples)
    return {"checkpoint": str(ckpt), "benchmark": cfg.data.benchmark, "model": cfg.model.name, "split": split,
            "epoch": state.get("epoch"), **errors}


def export(path: str | Path, out: str | Path, scores: dict) -> None:
    """A checkpoint with only what scoring and viewing need (about half the size), and the scores it got; its
    config goes beside it (OUT.yaml) so that a reader sees how the shipped model was trained without loading it."""
    out = Path(out)
    cfg, state = load_model_checkpoint(checkpoint_path(path))
    slim = {k: state[k] for k in SHIPPED if k in state}
    save_checkpoint({**slim, "scores": {k: v for k, v in scores.items() if k.startswith("test_error")}}, out)
    save_config(cfg, out.with_suffix(".yaml"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="a checkpoint (.pt) or a run directory (its checkpoints/best.pt)")
    p.add_argument("--split", default="test", choices=("test", "val"))
    p.add_argument("--mc", type=int, default=None, help="rollouts averaged for the MC error (default: the run's)")
    p.add_argument("--data-dir", default=None, help="folder with the dataset's IDX files (default: as for train.py)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads on CPU (default 1)")
    p.add_argument("--json", default=None, help="also write the errors to this JSON file")
    p.add_argument("--export", default=None, help="also write a weights-only copy of the checkpoint here, and its config beside it (.yaml)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    try:
        if args.mc is not None and args.mc < 1:
            raise RamError(f"--mc must be at least 1, got {args.mc}")
        result = score(args.checkpoint, args.split, args.mc, args.data_dir, str(pick_device(args.device)))
        if args.export:
            export(args.checkpoint, args.export, result)
    except (RamError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result["seconds"] = round(time.perf_counter() - start, 1)
    head = f"{result['checkpoint']} ({result['benchmark']} {result['model']}, epoch {result['epoch']}) on {args.split}: "
    if "test_catch_rate_greedy" in result:  # a game: balls caught, not digits missed
        print(head + f"caught greedy {100 * result['test_catch_rate_greedy']:.2f}%, sampled "
              f"{100 * result['test_catch_rate_sampled']:.2f}% of {result['test_games']} games ({result['seconds']:.0f}s)")
    else:
        print(head + f"error single {100 * result['test_error_single']:.2f}%, deterministic "
              f"{100 * result['test_error_deterministic']:.2f}%, MC {100 * result['test_error_mc']:.2f}% "
              f"({result['seconds']:.0f}s)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
