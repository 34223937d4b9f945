"""Catch's training and playing throughput, in game frames per second, for RAM and the full-screen policy.

    python benchmarks/catch_fps.py [--threads 1] [--batch 256] [--repeats 5]
        # writes benchmarks/results/catch_fps.json and .md

A training step is what the trainer runs for a Catch config: a batch of fresh games played to the end
through the retina (or the whole screen), the REINFORCE loss, backward, clipping and Adam. Playing is
greedy games on the fixed validation set without gradients. Each figure is the median of ``--repeats``
timed blocks after a warm-up; frames per CPU-second of this process are recorded too (they move less
than wall time on a shared machine). MACs are per frame (one step of the network).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere: the checkout's packages

from ram.build import build_model, make_env
from ram.models.play import catch_rate
from ram.tools.macs import model_macs
from ram.training.config import load_config

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "catch_fps.json"
CONFIGS = {"ram_catch": "configs/catch.yaml", "screen_catch": "configs/catch_screen.yaml"}


def timed(fn, repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of fn() over repeats, after one warm-up call."""
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def measure(name: str, batch: int, steps: int, repeats: int) -> dict:
    cfg = load_config(ROOT / CONFIGS[name], [f"train.batch_size={batch}"])
    torch.manual_seed(0)
    model = build_model(cfg)
    env = make_env(cfg, "train", batch, "cpu")
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    generator = torch.Generator().manual_seed(0)

    def train_block():
        for _ in range(steps):
            loss, _ = model.loss(env, {}, generator, cfg.train)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
            optimizer.step()

    frames = steps * batch * env.episode_steps
    wall, cpu = timed(train_block, repeats)
    val = make_env(cfg, "val", 1000, "cpu")
    play_wall, play_cpu = timed(lambda: catch_rate(model, val, greedy=True), max(1, repeats // 2))
    play_frames = val.size * val.episode_steps
    return {"model": name, "config": CONFIGS[name], "batch": batch, "frames_per_game": env.episode_steps,
            "train_frames_per_s": frames / wall, "train_frames_per_cpu_s": frames / cpu,
            "play_frames_per_s": play_frames / play_wall, "play_frames_per_cpu_s": play_frames / play_cpu,
            "macs_per_frame": model_macs(model, cfg.game.screen_size),
            "params": sum(p.numel() for p in model.parameters())}


def markdown(result: dict) -> str:
    s = result["settings"]
    lines = [f"Catch throughput, CPU, {s['threads']} thread(s), batch {s['batch']} games "
             f"({result['machine']}; load {result['loadavg_start']} at the start). "
             "`python benchmarks/catch_fps.py`", "",
             "| agent | MACs / frame | params | train frames/s | train frames / CPU-s | play frames/s |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in result["rows"]:
        lines.append(f"| {r['model']} | {r['macs_per_frame']:,} | {r['params']:,} | {r['train_frames_per_s']:,.0f} | "
                     f"{r['train_frames_per_cpu_s']:,.0f} | {r['play_frames_per_s']:,.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=256, help="games per training step (configs/catch.yaml's: 256)")
    p.add_argument("--steps", type=int, default=10, help="training steps per timed block")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    result = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
                         f"torch {torch.__version__}",
              "loadavg_start": [round(x, 2) for x in os.getloadavg()],
              "settings": {"threads": torch.get_num_threads(), "batch": args.batch, "steps": args.steps,
                           "repeats": args.repeats},
              "rows": [measure(name, args.batch, args.steps, args.repeats) for name in CONFIGS]}
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result), end="")
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
