"""What does going through the Gymnasium env cost the RAM trainer? Training images/s, env vs sensor.

Both paths run the same RAM train step (rollout + hybrid loss + backward + gradient clipping + Adam):
  env     rollout() through GlimpseVectorEnv(backend='torch'), exactly as ram/training/trainer.py does;
  direct  the same episode written against the sensor itself: make_canvases + Retina.integral/glimpse.
With the same seeds both paths produce the same canvases, glimpses and loss (checked before timing).
Repeats alternate env/direct so that load from other processes on a shared machine hits both alike.

    python benchmarks/env_overhead.py [--threads 1 2] [--repeats 15] [--steps 5] [--device cpu]
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

from envs import ENV_IDS  # noqa: E402
from envs.canvas import make_canvases  # noqa: E402
from envs.vector_env import GlimpseVectorEnv  # noqa: E402
from ram.models.ram import RAM  # noqa: E402
from ram.models.rollout import Rollout, hybrid_loss, rollout  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "env_overhead.json"


def direct_rollout(model: RAM, images: torch.Tensor, labels: torch.Tensor, index: torch.Tensor, sensor, canvas_size: int,
                   distractors: int, env_rng: torch.Generator, policy_rng: torch.Generator) -> Rollout:
    """The env's episode without the env: canvases, integral image, T glimpses, a scored guess."""
    B = len(index)
    canvas = make_canvases(images, index, canvas_size, distractors, generator=env_rng)  # B, S, S
    table = sensor.integral(canvas)
    loc = torch.zeros(B, 2, device=images.device)
    state = model.initial_state(B, images.device)
    locs, log_probs, baselines = [loc], [], []
    for t in range(model.glimpses):
        step = model.step(sensor.glimpse(table, loc), loc, state, False, policy_rng)
        state = step.state
        if t < model.glimpses - 1:
            log_probs.append(step.log_prob)
            baselines.append(step.baseline)
            loc = step.loc.clamp(-1, 1)
            locs.append(loc)
    logits = model.classify(state)
    target = labels[index]
    reward = (logits.argmax(1) == target).float()
    return Rollout(logits, torch.stack(log_probs), torch.stack(baselines), reward, target, torch.stack(locs))


def train_step(model: RAM, optimizer: torch.optim.Optimizer, r: Rollout) -> torch.Tensor:
    """ram/training/trainer.py's Trainer.train_step without the LR schedule (which costs the same on both paths)."""
    loss, _ = hybrid_loss(r)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    optimizer.step()
    return loss.detach()


class TrainPath:
    """One way of training: a model, its optimizer, its generators, and a step(index) method."""

    def __init__(self, kind: str, env: GlimpseVectorEnv, seed: int = 0):
        torch.manual_seed(seed)
        self.kind, self.env = kind, env
        self.model = RAM(glimpse_size=env.retina.size, scales=env.retina.scales, glimpses=env.glimpses).to(env.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.env_rng = torch.Generator(env.device).manual_seed(seed)
        self.policy_rng = torch.Generator(env.device).manual_seed(seed + 1)
        env.generator = self.env_rng  # the env draws its clutter from the same stream as the direct path

    def step(self, index: torch.Tensor) -> torch.Tensor:
        if self.kind == "env":
            r = rollout(self.model, self.env, generator=self.policy_rng, options={"indices": index})
        else:
            e = self.env
            r = direct_rollout(self.model, e._images, e._all_labels, index, e.retina, e.canvas_size,
                               e.distractors, self.env_rng, self.policy_rng)
        return train_step(self.model, self.optimizer, r)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(path: TrainPath, batches: list[torch.Tensor]) -> tuple[float, float]:
    """(images per wall-clock second, images per CPU second of this process) over the given batches."""
    sync(path.env.device)
    wall, cpu = time.perf_counter(), time.process_time()
    for index in batches:
        path.step(index)
    sync(path.env.device)
    images = sum(len(i) for i in batches)
    return images / (time.perf_counter() - wall), images / (time.process_time() - cpu)


def measure(threads: int, args) -> dict:
    torch.set_num_threads(threads)
    kwargs = dict(ENV_IDS["cluttered60"][1])
    make = lambda: GlimpseVectorEnv(num_envs=args.batch, backend="torch", device=args.device,
                                    data_dir=args.data_dir, **kwargs)
    paths = {"env": TrainPath("env", make()), "direct": TrainPath("direct", make())}
    size, device = paths["env"].env.size, paths["env"].env.device
    order = torch.randperm(size, generator=torch.Generator().manual_seed(0)).to(device)
    batch = lambda i: order[(i * args.batch) % (size - args.batch):][:args.batch]
    # same seeds, same batches -> the same loss on both paths, step after step
    losses = {k: torch.stack([p.step(batch(i)) for i in range(3)]) for k, p in paths.items()}
    if not torch.allclose(losses["env"], losses["direct"], rtol=1e-5, atol=1e-6):
        raise SystemExit(f"env and direct paths differ: {losses}")
    for p in paths.values():  # warm-up
        timed(p, [batch(i) for i in range(args.warmup)])
    wall, cpu = {"env": [], "direct": []}, {"env": [], "direct": []}
    for r in range(args.repeats):  # interleaved, and the order flips every repeat
        for kind in (("env", "direct") if r % 2 == 0 else ("direct", "env")):
            w, c = timed(paths[kind], [batch(args.warmup + r * args.steps + i) for i in range(args.steps)])
            wall[kind].append(w)
            cpu[kind].append(c)
    median = statistics.median
    # overhead of each back-to-back pair, then the median: robust to load that drifts between repeats
    paired = lambda rates: 100 * median(d / e - 1 for e, d in zip(rates["env"], rates["direct"]))
    return {"threads": threads, "env_images_per_s": median(wall["env"]), "direct_images_per_s": median(wall["direct"]),
            "overhead_percent": paired(wall), "cpu_overhead_percent": paired(cpu),
            "env_images_per_cpu_s": median(cpu["env"]), "direct_images_per_cpu_s": median(cpu["direct"]),
            "env_repeats": wall["env"], "direct_repeats": wall["direct"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=15, help="timed repeats per path (medians reported)")
    parser.add_argument("--steps", type=int, default=5, help="train steps per timed repeat")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows = [measure(t, args) for t in args.threads]
    print(f"cluttered60, batch {args.batch}, device {args.device}, {args.repeats} interleaved repeats x {args.steps} "
          f"train steps (rollout + hybrid loss + backward + Adam); medians; load average {os.getloadavg()[0]:.1f}")
    print(f"{'threads':>7} {'env img/s':>10} {'direct img/s':>13} {'env overhead':>13} {'overhead (CPU time)':>20}")
    for row in rows:
        print(f"{row['threads']:>7} {row['env_images_per_s']:>10.0f} {row['direct_images_per_s']:>13.0f} "
              f"{row['overhead_percent']:>12.1f}% {row['cpu_overhead_percent']:>19.1f}%")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"benchmark": "cluttered60", "batch": args.batch, "device": args.device, "repeats": args.repeats,
            "steps_per_repeat": args.steps, "warmup_steps": args.warmup, "torch": torch.__version__,
            "cpus": os.cpu_count(), "load_average": os.getloadavg(), "machine": platform.machine(),
            "overhead": "median over back-to-back pairs of direct/env - 1 (positive: the env path is slower)"}
    args.out.write_text(json.dumps({**meta, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
