"""Catch's results table: RAM, the full-screen policy and the random agent on the same fixed test games.

    python benchmarks/catch_results.py     # writes benchmarks/results/catch.json and catch.md

Reads each run directory under benchmarks/results/catch_runs/ (its results.json when the run finished,
else its metrics.jsonl, marked unfinished: those rows have validation figures only) and
benchmarks/results/catch_random.json (python benchmarks/catch_random.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere: the checkout's packages

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = RESULTS / "catch_runs"
REPO = RESULTS.parent.parent


def setting(cfg: dict) -> str:
    """What the run changed from its config file (configs/catch.yaml or catch_screen.yaml), in words."""
    from ram.training.config import Config, load_config, to_dict  # the file with every default filled in

    name = "catch_screen" if cfg["model"]["name"] == "screen_catch" else "catch"
    base = to_dict(load_config(REPO / "configs" / f"{name}.yaml"))
    defaults = to_dict(Config())  # a key newer than the run took its default, which kept the old behaviour
    cfg = {section: {**defaults.get(section, {}), **cfg.get(section, {})} for section in ("game", "model", "train")}
    changed = [f"{section}.{key}={value}" for section in ("game", "model", "train")
               for key, value in cfg[section].items()
               if key not in IGNORED and base[section].get(key) != value]
    return ", ".join(changed) or "as configured"


IGNORED = {"threads", "device", "seed", "epochs"}  # how a run was placed (epochs: its own column; resume extends it)


def run_row(run: Path) -> dict:
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    epochs = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if '"val_error"' in l]
    frames_per_game = cfg["game"]["screen_size"] - 1
    row = {"run": str(run.relative_to(RESULTS.parent.parent)), "model": cfg["model"]["name"],
           "command": f"python train.py --config configs/{'catch_screen' if cfg['model']['name'] == 'screen_catch' else 'catch'}.yaml"
                      f" --out {run.relative_to(RESULTS.parent.parent)}",
           "epochs_done": len(epochs), "epochs": cfg["train"]["epochs"],
           "val_catch_best": max((1 - e["val_error"] for e in epochs), default=None),
           "frames": len(epochs) * cfg["game"]["episodes"] * frames_per_game,
           "setting": setting(cfg)}
    done = run / "results.json"
    if done.is_file():
        r = json.loads(done.read_text())
        row.update(finished=True, epochs=r["epochs"], test_catch_greedy=r["test_catch_rate_greedy"],
                   test_catch_sampled=r["test_catch_rate_sampled"], macs_per_frame=r["macs"],
                   train_time_s=r["train_time_s"], frames=r["train_episodes"] * frames_per_game)
    else:
        row.update(finished=False)
    return row


def main() -> None:
    rows = [run_row(r) for r in sorted(RUNS.iterdir()) if (r / "metrics.jsonl").is_file()]
    rand = json.loads((RESULTS / "catch_random.json").read_text())
    out = {"runs": rows, "random_agent": rand}
    (RESULTS / "catch.json").write_text(json.dumps(out, indent=1) + "\n")
    fmt = lambda v: "" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    lines = ["Catch, 24x24 screen, fixed test games (10,000). Greedy and sampled catch rates; unfinished runs show "
             "their best validation rate only. `python benchmarks/catch_results.py`", "",
             "| agent | run | changed from its config | test greedy | test sampled | best val (greedy) | frames trained "
             "| epochs | train time |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
             f"| random agent | benchmarks/catch_random.py | | {fmt(rand['rate'])} | {fmt(rand['rate'])} | | 0 | | |"]
    for r in rows:
        time_s = f"{r['train_time_s'] / 60:.0f} min" if r.get("train_time_s") else ""
        lines.append(f"| {r['model']} | `{r['run']}` | {r['setting']} | {fmt(r.get('test_catch_greedy'))} | {fmt(r.get('test_catch_sampled'))} | "
                     f"{fmt(r['val_catch_best'])} | {r['frames']:,} | {r['epochs_done']}/{r['epochs']}"
                     f"{'' if r['finished'] else ' (unfinished)'} | {time_s} |")
    shipped = REPO / "pretrained" / "catch.pt"
    if shipped.is_file():  # the shipped agent, rescored by tests/test_evaluate.py against this line
        import torch

        scores = torch.load(shipped, map_location="cpu", weights_only=True)["scores"]
        lines += ["", "The shipped agent, `python -m ram.evaluate pretrained/catch.pt` (test, greedy | sampled):", "",
                  "| file | greedy | sampled |", "| --- | ---: | ---: |",
                  f"| `pretrained/catch.pt` | {100 * (1 - scores['test_error_deterministic']):.2f}% | "
                  f"{100 * (1 - scores['test_error_single']):.2f}% |"]
    notes = Path(__file__).with_name("catch_notes.md")
    if notes.is_file():
        lines += ["", notes.read_text().rstrip()]
    (RESULTS / "catch.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
