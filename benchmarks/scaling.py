"""Compute scaling: does attention's cost stay flat while the CNN's grows with the pixels?

    python benchmarks/scaling.py                 # 1 torch thread, CPU; about a minute
    python benchmarks/scaling.py --threads 2     # or --device cuda

For square canvases of 60, 100, 200 and 400 pixels, with the clutter density of 60x60 cluttered MNIST
kept constant (4 distractors at 60x60, scaled with the area: 4, 11, 44, 178), it counts forward
multiply-accumulates per image (ram/tools/macs.py) and measures inference images per second of
- ram: RAM with 8 glimpses of 12x12 at 3 scales, the same network at every size (its coarsest patch
  stays 48 px, so on large canvases it sees less of the image per glimpse);
- ram_wide: RAM whose scale count grows with the canvas so the coarsest patch spans at least 80% of
  it (3, 4, 5, 6 scales: 48, 96, 192, 384 px; the paper used 3 at 60x60 and 4 at 100x100);
- cnn: the strong modern CNN of ram/models/fullimage.py (width 32); cnn_paper: the paper's small CNN.
Weights are untrained (speed does not depend on them). RAM's timing includes its sensor: the integral
image of each canvas and every glimpse read from it. Canvases are real test digits with clutter, built
before timing. Writes benchmarks/results/scaling.json and scaling.png and prints the table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere: the checkout's packages

from envs.canvas import make_canvases  # noqa: E402
from envs.data import digits  # noqa: E402
from envs.mnist import DataError  # noqa: E402
from envs.retina import Retina  # noqa: E402
from ram.models.fullimage import ModernCNN, PaperCNN  # noqa: E402
from ram.tools.macs import integral_adds, model_macs, retina_adds  # noqa: E402
from ram.models.ram import RAM  # noqa: E402

SIZES = (60, 100, 200, 400)
GLIMPSE, GLIMPSES = 12, 8
RESULTS = Path(__file__).resolve().parent / "results"
COLORS = {"ram": (31, 119, 180), "ram_wide": (44, 160, 44), "cnn": (214, 39, 40), "cnn_paper": (255, 127, 14)}


def distractors_for(size: int) -> int:
    return round(4 * (size / 60) ** 2)


def wide_scales(size: int) -> int:
    """Fewest scales (at least 3) whose coarsest patch, 12 * 2**(k-1) px, spans 80% of the canvas."""
    return max(3, math.ceil(math.log2(0.8 * size / GLIMPSE)) + 1)


class RAMInference(torch.nn.Module):
    """RAM as deployed: sensor (integral image + glimpses) and networks, mean locations, class logits."""

    def __init__(self, scales: int):
        super().__init__()
        self.ram, self.retina = RAM(glimpse_size=GLIMPSE, scales=scales, glimpses=GLIMPSES), Retina(GLIMPSE, scales)

    def forward(self, canvas: torch.Tensor) -> torch.Tensor:
        table = self.retina.integral(canvas)  # B, S+1, S+1
        loc = torch.zeros(canvas.shape[0], 2, device=canvas.device)
        state = self.ram.initial_state(canvas.shape[0], canvas.device)
        for _ in range(GLIMPSES):
            step = self.ram.step(self.retina.glimpse(table, loc), loc, state, deterministic=True)
            state, loc = step.state, step.loc
        return self.ram.classify(state)


def images_per_s(model, canvas: torch.Tensor, min_time: float) -> float:
    """Inference throughput from the fastest batch: one warm-up batch, then batches until min_time has
    passed (2 at least). The fastest batch is the one least slowed by whatever else shares the machine."""
    sync = torch.cuda.synchronize if canvas.is_cuda else (lambda: None)
    times = []
    with torch.no_grad():
        model(canvas)
        sync()
        start = time.perf_counter()
        while len(times) < 2 or time.perf_counter() - start < min_time:
            t = time.perf_counter()
            model(canvas)
            sync()
            times.append(time.perf_counter() - t)
    return canvas.shape[0] / min(times)


def measure(args) -> list[dict]:
    device = torch.device(args.device)
    images, _ = digits("test", args.data_dir)
    generator = torch.Generator().manual_seed(0)
    index = torch.randint(len(images), (args.batch,), generator=generator)
    rows = []
    for size in SIZES:
        canvas = make_canvases(images, index, size, distractors_for(size), generator=generator).to(device)
        models = {"ram": (RAMInference(3), 3), "ram_wide": (RAMInference(wide_scales(size)), wide_scales(size)),
                  "cnn": (ModernCNN(width=32), None), "cnn_paper": (PaperCNN(canvas_size=size), None)}
        for name, (model, scales) in models.items():
            model = model.to(device).eval()
            core = model.ram if scales else model
            row = {"canvas": size, "distractors": distractors_for(size), "model": name,
                   "params": sum(p.numel() for p in core.parameters()), "macs": model_macs(core, size),
                   "images_per_s": images_per_s(model, canvas, args.min_time)}
            if scales:  # the integral image is RAM's one cost that grows with the pixels: timed on its own too
                row |= {"scales": scales, "retina_adds": retina_adds(GLIMPSE, scales, GLIMPSES),
                        "integral_adds": integral_adds(size),
                        "integral_images_per_s": images_per_s(model.retina.integral, canvas, args.min_time / 4)}
            rows.append(row)
            print(f"  {size}x{size} {name:9s} {row['macs'] / 1e6:9.2f}M MACs {row['images_per_s']:10.1f} img/s",
                  flush=True)
    return rows


def share(row: dict) -> str:
    """Fraction of RAM's inference time spent building the integral image ('' for the CNNs)."""
    if "integral_images_per_s" not in row:
        return ""
    return f"{min(row['images_per_s'] / row['integral_images_per_s'], 1):.0%}"


def table(rows: list[dict]) -> str:
    ram = {r["canvas"]: r for r in rows if r["model"] == "ram"}
    lines = ["| canvas | distractors | model | params | MACs/image | vs RAM MACs | images/s | vs RAM speed "
             "| integral image share of RAM time |", "|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        base = ram[r["canvas"]]
        name = f"{r['model']} ({r['scales']} scales)" if "scales" in r else r["model"]
        lines.append(f"| {r['canvas']} | {r['distractors']} | {name} | {r['params']:,} | {r['macs'] / 1e6:.2f}M | "
                     f"{r['macs'] / base['macs']:.1f}x | {r['images_per_s']:,.0f} | "
                     f"{r['images_per_s'] / base['images_per_s']:.3g}x | {share(r)} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path, footer: str) -> None:
    """Two log-log panels, MACs and images/s against canvas size, drawn with Pillow."""
    from PIL import Image, ImageDraw

    W, H, pad = 1100, 500, 70
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    names = list(dict.fromkeys(r["model"] for r in rows))
    for panel, (key, title) in enumerate((("macs", "multiply-accumulates per image"),
                                          ("images_per_s", "inference images / s (measured)"))):
        x0, x1, y0, y1 = panel * W // 2 + pad, (panel + 1) * W // 2 - 20, 40, H - 110
        values = [r[key] for r in rows]
        lo, hi = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
        lx = [math.log(s) for s in SIZES]

        def xy(size, v):
            x = x0 + (math.log(size) - lx[0]) / (lx[-1] - lx[0]) * (x1 - x0)
            return x, y1 - (math.log10(v) - lo) / max(hi - lo, 1) * (y1 - y0)

        d.rectangle([x0, y0, x1, y1], outline="black")
        d.text((x0, 15), title, fill="black")
        for e in range(lo, hi + 1):
            _, y = xy(SIZES[0], 10.0**e)
            d.line([x0, y, x1, y], fill=(225, 225, 225))
            d.text((x0 - 45, y - 6), f"1e{e}", fill="black")
        for s in SIZES:
            x, _ = xy(s, 10.0**lo)
            d.line([x, y0, x, y1], fill=(225, 225, 225))
            d.text((x - 12, y1 + 8), f"{s}px", fill="black")
        d.text(((x0 + x1) // 2 - 60, y1 + 28), "canvas side (log scale)", fill="black")
        for name in names:
            pts = [xy(r["canvas"], r[key]) for r in rows if r["model"] == name]
            d.line(pts, fill=COLORS.get(name, "black"), width=3)
            for x, y in pts:
                d.ellipse([x - 4, y - 4, x + 4, y + 4], fill=COLORS.get(name, "black"))
    labels = {"ram": "RAM, 8 glimpses, 3 scales", "ram_wide": "RAM, 8 glimpses, 3-6 scales",
              "cnn": "modern CNN (width 32)", "cnn_paper": "paper CNN"}
    for i, name in enumerate(names):
        x = pad + i * 230
        d.rectangle([x, H - 46, x + 20, H - 34], fill=COLORS.get(name, "black"))
        d.text((x + 26, H - 46), labels.get(name, name), fill="black")
    d.text((pad, H - 20), footer, fill=(90, 90, 90))
    img.save(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (default 1: RAM's many small ops stall with 2 on a busy machine)")
    p.add_argument("--batch", type=int, default=32, help="canvases per forward pass (default 32)")
    p.add_argument("--min-time", type=float, default=1.0, help="seconds of timed batches per point (default 1)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    p.add_argument("--data-dir", default=None, help="MNIST folder (default: $RAM_DATA_DIR, else download)")
    p.add_argument("--out", default=str(RESULTS), help="folder for scaling.json and scaling.png")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"scaling: {args.threads} torch threads, batch {args.batch}, device {args.device}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__}", flush=True)
    try:
        rows = measure(args)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"threads": torch.get_num_threads(), "batch": args.batch, "min_time_s": args.min_time,
            "device": args.device, "cpus": os.cpu_count(), "machine": platform.machine(), "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(["python", "benchmarks/scaling.py", *(argv or sys.argv[1:])]),
            "glimpse": f"{GLIMPSES} glimpses of {GLIMPSE}x{GLIMPSE}", "distractors": "4 at 60x60, scaled with the area",
            "weights": "untrained (timing and MACs do not depend on them)"}
    (out / "scaling.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    plot(rows, out / "scaling.png", f"torch threads: {meta['threads']}, batch {args.batch}, {args.device}, {meta['date'][:10]}")
    print(table(rows))
    print(f"wrote {out / 'scaling.json'} and {out / 'scaling.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
