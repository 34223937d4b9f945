"""The random agent's catch rate on Catch's fixed test episodes (issue #17's first baseline).

    python benchmarks/catch_random.py        # writes benchmarks/results/catch_random.json

The agent moves (and looks) uniformly at random. Its paddle then does a symmetric random walk clamped
to the screen, which keeps a uniform start uniform, and on the default game (speed 1, 23 frames) the
landing column is uniform too, so over all starts it catches with probability exactly
paddle_width / screen_size = 1/12 (tests/test_catch.py derives this, and the expectation on the fixed
episodes, from a plain-Python copy of the rules).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere: the checkout's packages

from envs.catch import SPLIT_SIZE, random_agent_catch_rate

OUT = Path(__file__).resolve().parent / "results" / "catch_random.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=SPLIT_SIZE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="test", choices=["val", "test"])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    result = random_agent_catch_rate(episodes=args.episodes, seed=args.seed, split=args.split)
    rate, n = result["rate"], result["episodes"]
    row = {"env": "RAM/Catch-v0", "split": args.split, "seed": args.seed, **result,
           "stderr": math.sqrt(rate * (1 - rate) / n), "analytic": 2 / 24,
           "note": "uniformly random moves and locations on the first `episodes` fixed episodes of the split; "
                   "analytic = paddle_width / screen_size, the exact rate over all starts",
           "command": "python benchmarks/catch_random.py"}
    row["seconds"] = round(time.perf_counter() - start, 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(row, indent=2) + "\n")
    print(f"random agent: caught {result['caught']} of {n} ({rate:.4f} +- {row['stderr']:.4f}); "
          f"analytic {row['analytic']:.4f} -> {args.out}")


if __name__ == "__main__":
    main()
