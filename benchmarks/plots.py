"""Plots of the reproduction, drawn from the run files (no training):

    python benchmarks/plots.py          # benchmarks/results/error_vs_glimpses.png and val_vs_time.png

error_vs_glimpses.png: test error (deterministic policy, mean over seeds) against the number of glimpses,
one panel per benchmark, ours beside the NIPS 2014 and arXiv numbers, with the conv nets as flat lines.
val_vs_time.png: validation error against training time for every RAM and conv-net run, per benchmark.
Both read `benchmarks/results/reproduce.json` (written by `benchmarks/reproduce.py`) and the run
directories it names. Drawn with Pillow, which the project already needs, in log scale for the error.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import yaml
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
BENCHMARKS = {"mnist28": "28x28 MNIST", "translated60": "60x60 translated", "cluttered60": "60x60 cluttered",
              "cluttered100": "100x100 cluttered"}
COLORS = {"ours": (200, 30, 30), "nips": (30, 80, 200), "arxiv": (120, 160, 230), "conv": (40, 140, 60),
          "conv_ours": (40, 140, 60), "conv_paper": (150, 200, 150)}
W, H = 560, 380  # one panel


class Panel:
    """An x-linear, y-log10 panel at (left, top) of an image."""

    def __init__(self, draw: ImageDraw.ImageDraw, left: int, top: int, title: str, xs: tuple[float, float],
                 ys: tuple[float, float], xlabel: str, ylabel: str):
        self.d, self.box = draw, (left + 60, top + 30, left + W - 20, top + H - 60)
        self.x_range, self.y_range = xs, (math.floor(math.log10(ys[0])), math.ceil(math.log10(ys[1])))
        x0, y0, x1, y1 = self.box
        draw.rectangle(self.box, outline="black")
        draw.text((x0, top + 8), title, fill="black")
        draw.text(((x0 + x1) // 2 - 40, y1 + 28), xlabel, fill="black")
        draw.text((left + 4, top + 12), ylabel, fill="black")
        lo, hi = self.y_range
        for e in range(lo, hi + 1):
            for m in (1, 2, 5):
                v = m * 10.0**e
                if 10.0**lo <= v <= 10.0**hi:
                    _, y = self.xy(xs[0], v)
                    draw.line([x0, y, x1, y], fill=(230, 230, 230))
                    draw.text((x0 - 40, y - 6), f"{v:g}%", fill="black")

    def xy(self, x: float, v: float) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        (a, b), (lo, hi) = self.x_range, self.y_range
        px = x0 + (x - a) / max(b - a, 1e-9) * (x1 - x0)
        py = y1 - (math.log10(max(v, 10.0**lo)) - lo) / max(hi - lo, 1) * (y1 - y0)
        return px, py

    def xticks(self, ticks: list[float], fmt=lambda t: f"{t:g}") -> None:
        _, _, _, y1 = self.box
        for t in ticks:
            x, _ = self.xy(t, 1)
            self.d.line([x, y1, x, y1 + 4], fill="black")
            self.d.text((x - 8, y1 + 8), fmt(t), fill="black")

    def line(self, points: list[tuple[float, float]], color, dashed: bool = False, dots: bool = True) -> None:
        pts = [self.xy(x, v) for x, v in points]
        if dashed:
            for (ax, ay), (bx, by) in zip(pts, pts[1:]):
                n = max(int(math.hypot(bx - ax, by - ay) // 8), 1)
                for i in range(0, n, 2):
                    self.d.line([ax + (bx - ax) * i / n, ay + (by - ay) * i / n,
                                 ax + (bx - ax) * (i + 1) / n, ay + (by - ay) * (i + 1) / n], fill=color, width=2)
        elif len(pts) > 1:
            self.d.line(pts, fill=color, width=3)
        if dots:
            for x, y in pts:
                self.d.ellipse([x - 4, y - 4, x + 4, y + 4], fill=color)


def legend(draw, items: list[tuple[str, tuple]], left: int, top: int) -> None:
    for i, (label, color) in enumerate(items):
        x = left + i * 200
        draw.rectangle([x, top, x + 18, top + 10], fill=color)
        draw.text((x + 24, top - 2), label, fill="black")


def grid(n: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGB", (2 * W, (n + 1) // 2 * H + 60), "white")
    return img, ImageDraw.Draw(img)


def glimpse_plot(report: dict, path: Path) -> None:
    rows = report["rows"]
    img, d = grid(len(BENCHMARKS))
    for k, (bench, title) in enumerate(BENCHMARKS.items()):
        ram = sorted((r for r in rows if r["row"].startswith(f"{bench}_ram") and r["row"][len(bench) + 4:].isdigit()), key=lambda r: int(r["row"][len(bench) + 4:]))
        conv = next((r for r in rows if r["row"] == f"{bench}_cnn_paper"), None)
        g = [int(r["row"][len(bench) + 4:]) for r in ram]
        values = [p for r in ram for p in (r["paper"]["nips_pct"], r["paper"]["arxiv_pct"]) if p]
        values += [100 * r["test_error_deterministic"]["mean"] for r in ram + [conv] if r and r.get("runs")]
        values += [conv["paper"]["nips_pct"]] if conv else []
        p = Panel(d, (k % 2) * W, (k // 2) * H, title, (min(g) - 0.5, max(g) + 0.5), (min(values), max(values)),
                  "glimpses", "test error")
        p.xticks(g)
        for key, color in (("arxiv_pct", COLORS["arxiv"]), ("nips_pct", COLORS["nips"])):
            p.line([(n, r["paper"][key]) for n, r in zip(g, ram) if r["paper"][key]], color)
        p.line([(n, 100 * r["test_error_deterministic"]["mean"]) for n, r in zip(g, ram) if r.get("runs")],
               COLORS["ours"])
        if conv:
            ends = (min(g) - 0.5, max(g) + 0.5)
            if conv["paper"]["nips_pct"]:
                p.line([(x, conv["paper"]["nips_pct"]) for x in ends], COLORS["conv_paper"], dashed=True, dots=False)
            if conv.get("runs"):
                p.line([(x, 100 * conv["test_error_deterministic"]["mean"]) for x in ends], COLORS["conv_ours"],
                       dashed=True, dots=False)
    legend(d, [("RAM, ours (deterministic)", COLORS["ours"]), ("RAM, NIPS 2014", COLORS["nips"]),
               ("RAM, arXiv v1", COLORS["arxiv"]), ("conv net, ours (dashed)", COLORS["conv_ours"]),
               ("conv net, NIPS (dashed)", COLORS["conv_paper"])], 20, img.height - 40)
    img.save(path)


def curve(run_dir: Path) -> list[tuple[float, float]]:
    """(training minutes, validation error %) per epoch of a run, from its metrics.jsonl and config.yaml."""
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    batch = config["train"]["batch_size"]
    points = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        m = json.loads(line)
        if m.get("val_error") is not None and m.get("images_per_s"):
            points.append((m["step"] * batch / m["images_per_s"] / 60, 100 * m["val_error"]))  # cumulative average rate
    return points


def time_plot(report: dict, path: Path) -> None:
    img, d = grid(len(BENCHMARKS))
    for k, (bench, title) in enumerate(BENCHMARKS.items()):
        curves = []
        for r in report["rows"]:
            kind = "ram" if r["row"].startswith(f"{bench}_ram") else "conv" if r["row"] == f"{bench}_cnn_paper" else None
            if kind and r.get("runs"):
                curves += [(kind, r["row"], curve(REPO / run["run_dir"])) for run in r["runs"]]
        pts = [p for *_, c in curves for p in c]
        if not pts:
            Panel(d, (k % 2) * W, (k // 2) * H, f"{title}: no runs", (0, 1), (1, 100), "training minutes", "val error")
            continue
        p = Panel(d, (k % 2) * W, (k // 2) * H, title, (0, max(x for x, _ in pts)), (min(v for _, v in pts),
                  max(v for _, v in pts)), "training minutes (CPU, as run)", "val error")
        p.xticks([round(max(x for x, _ in pts) * f) for f in (0, 0.25, 0.5, 0.75, 1)])
        for kind, row, c in curves:
            p.line(c, COLORS["ours"] if kind == "ram" else COLORS["conv"], dots=False)
    legend(d, [("RAM runs", COLORS["ours"]), ("conv net runs", COLORS["conv"])], 20, img.height - 40)
    img.save(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--report", type=Path, default=RESULTS / "reproduce.json")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if not args.report.is_file():
        print(f"error: {args.report} does not exist: run python benchmarks/reproduce.py --table-only first",
              file=sys.stderr)
        return 2
    report = json.loads(args.report.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    glimpse_plot(report, args.out / "error_vs_glimpses.png")
    time_plot(report, args.out / "val_vs_time.png")
    print(f"wrote {args.out / 'error_vs_glimpses.png'} and {args.out / 'val_vs_time.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
