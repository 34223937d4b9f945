"""Where a trained RAM looks, and whether its errors come from looking in the wrong place or from
misreading what it saw.

    python benchmarks/glimpse_hits.py benchmarks/results/paper_runs/cluttered60_ram8/seed1
    python benchmarks/glimpse_hits.py RUN_A RUN_B --split val --out benchmarks/results/glimpse_hits

For every canvas of the split, the distance (in pixels, the larger of |dx| and |dy|) from each glimpse's
centre to the target digit's centre, from the canvas generator's own record of where it put the digit.
The table splits the canvases by how close their closest glimpse came and gives the error inside each
group: if the error stays high even where a glimpse landed on the digit, the classifier (what the glimpse
and core networks make of a glimpse), not the search, is what limits the model. It also says at which
glimpse the path first came within 8 pixels of the digit. Runs on the validation split by default: a
diagnostic that guides the recipe must not look at the test split. Writes OUT.md and OUT.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from envs.canvas import DIGIT  # noqa: E402
from envs.vector_env import fixed_split  # noqa: E402
from ram.build import build_model, make_env  # noqa: E402
from ram.models.rollout import EVAL_SEED, rollout  # noqa: E402
from ram.tools.evaluate import checkpoint_path, progress  # noqa: E402
from ram.training.checkpoint import load_model_checkpoint, load_weights  # noqa: E402

BINS = ((0, 4), (4, 8), (8, 14), (14, 1000))  # pixels from the digit's centre to the closest glimpse's
NEAR = 8  # "on the digit": the fovea's centre within 8 px of the digit's centre (the digit is 28 px wide)


@torch.no_grad()
def distances(model, env, centres: torch.Tensor, deterministic: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(T, N) pixel distance of every glimpse to its digit's centre, and (N,) bool: was the answer right."""
    model.eval()
    generator = torch.Generator(env.device).manual_seed(EVAL_SEED)
    env.generator.manual_seed(EVAL_SEED)  # as evaluate(): random first glimpses are the scored ones
    dist, right = [], []
    for options, valid in env.split_batches():
        r = rollout(model, env, deterministic, generator, options)
        pixels = (r.locations.clamp(-1, 1) + 1) * (env.canvas_size / 2)  # T, B, 2: glimpse centres in pixels
        d = (pixels - centres[options["indices"]][None]).abs().amax(-1)  # T, B
        dist.append(d[:, valid])
        right.append(r.reward.bool()[valid])
    return torch.cat(dist, 1), torch.cat(right)


def analyse(path: str, split: str, data_dir: str | None) -> dict:
    ckpt = checkpoint_path(path)
    cfg, state = load_model_checkpoint(ckpt, map_location="cpu")
    if data_dir is not None:
        cfg.data.data_dir = data_dir
    if cfg.data.benchmark == "catch" or cfg.model.name != "ram":
        raise SystemExit(f"{ckpt}: glimpse_hits analyses RAM on digit canvases, not {cfg.model.name} on {cfg.data.benchmark}")
    model = build_model(cfg)
    load_weights(model, state, ckpt)
    model.set_progress(progress(cfg, state))
    env = make_env(cfg, split, cfg.eval.batch_size, "cpu")
    d = cfg.data
    # the env's own cached call (same arguments): the corners belong to the very canvases it serves
    _, _, corners = fixed_split(split, d.data_dir, d.val_size, d.canvas_size, d.distractors, d.canvas_seed,
                                d.dataset, bool(d.verify))
    centres = corners.float() + DIGIT / 2  # N, 2 (x, y)
    out = {"checkpoint": str(ckpt), "benchmark": d.benchmark, "split": split, "epoch": state.get("epoch"),
           "glimpses": cfg.model.glimpses, "start": cfg.model.start, "policies": {}}
    for mode in ("deterministic", "single"):
        dist, right = distances(model, env, centres, mode == "deterministic")
        closest = dist.min(0).values  # N
        near = dist < NEAR  # T, N
        first = torch.where(near.any(0), near.float().argmax(0), torch.full_like(closest, -1).long())
        groups = []
        for lo, hi in BINS:
            m = (closest >= lo) & (closest < hi)
            groups.append({"from_px": lo, "to_px": hi, "share": m.float().mean().item(),
                           "error": (~right[m]).float().mean().item() if m.any() else None})
        firsts = [{"glimpse": t, "share": (first == t).float().mean().item(),
                   "error": (~right[first == t]).float().mean().item() if (first == t).any() else None}
                  for t in [*range(cfg.model.glimpses), -1]]
        out["policies"][mode] = {"error": (~right).float().mean().item(), "closest": groups, "first_near": firsts,
                                 "error_when_near": (~right[near.any(0)]).float().mean().item()}
    return out


def pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def markdown(results: list[dict], command: str) -> str:
    lines = ["# Where RAM looks, and what its errors come from", "",
             f"Generated by `{command}`. Distances in pixels from the glimpse's "
             "centre to the target digit's centre (the larger of |dx| and |dy|); a digit is 28 px wide. "
             "\"error\": the error among those canvases.", ""]
    for r in results:
        lines += [f"## `{r['checkpoint']}`", "",
                  f"{r['benchmark']}, {r['glimpses']} glimpses, start={r['start']}, epoch {r['epoch']}, "
                  f"{r['split']} split.", "",
                  "| policy | error % | error % when a glimpse came within 8 px | "
                  + " | ".join(f"closest {b['from_px']}-{b['to_px'] if b['to_px'] < 1000 else ''} px: share / error %"
                               for b in r["policies"]["deterministic"]["closest"]) + " |",
                  "|---|---:|---:|" + "---:|" * len(BINS)]
        for mode, p in r["policies"].items():
            lines.append(f"| {mode} | {pct(p['error'])} | {pct(p['error_when_near'])} | "
                         + " | ".join(f"{pct(b['share'])} / {pct(b['error'])}" for b in p["closest"]) + " |")
        lines += ["", "First glimpse within 8 px of the digit (deterministic policy; glimpse 0 is the first):", "",
                  "| first near | " + " | ".join(str(f["glimpse"]) if f["glimpse"] >= 0 else "never"
                                                 for f in r["policies"]["deterministic"]["first_near"]) + " |",
                  "|---|" + "---:|" * len(r["policies"]["deterministic"]["first_near"]),
                  "| share % / error % | " + " | ".join(f"{pct(f['share'])} / {pct(f['error'])}"
                                                       for f in r["policies"]["deterministic"]["first_near"]) + " |",
                  ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="checkpoints (.pt) or run directories (their checkpoints/best.pt)")
    p.add_argument("--split", default="val", choices=("val", "test"))
    p.add_argument("--data-dir", default=None, help="folder with the IDX files (default: as for train.py)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/glimpse_hits", help="writes OUT.md and OUT.json")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    results = [analyse(run, args.split, args.data_dir) for run in args.runs]
    command = "python benchmarks/glimpse_hits.py " + " ".join(argv if argv is not None else sys.argv[1:])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"command": command, "threads": args.threads,
                                                    "seconds": time.perf_counter() - start, "runs": results}, indent=1))
    out.with_suffix(".md").write_text(markdown(results, command))
    print(markdown(results, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
