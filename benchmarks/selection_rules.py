"""Which epoch to keep, judged without the test split: select on one half of the validation digits, score the
pick on the other half.

    python benchmarks/selection_rules.py benchmarks/results/paper_runs/translated60_ram8/seed*
    python benchmarks/selection_rules.py RUN... --out benchmarks/results/selection_rules   # .md and .json
    python benchmarks/selection_rules.py RUN... --score-test "last epoch"   # once a rule is chosen: its test error

The trainer logs, every epoch, the validation error of the even and the odd validation episodes
(`val_error_a`, `val_error_b` in metrics.jsonl; runs trained before these were logged are skipped). A rule
picks an epoch from one half's curve; the other half, which the pick never saw, scores it. Each run counts
twice (pick on a, score on b, and the reverse). A rule that picks on noise (the minimum over hundreds of
noisy scores) shows its optimism as the gap between the score it picked on and the held-out one.

Choose the rule on the halves alone; then --score-test RULE applies it to each run's whole validation curve and
scores the picked epoch's weights on the test split, from checkpoints/epochs/ (runs trained with
eval.snapshots_from < 1) or best.pt when the pick is the best epoch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Callable

Curve = dict[int, float]  # epoch -> validation error (fraction)
Rule = Callable[[Curve], int]


def best(curve: Curve, after: float = 0.0) -> int:
    """The epoch of the lowest error among the epochs from the fraction `after` of the run on (the earliest on
    ties): what train.py keeps with eval.select_from=after."""
    last = max(curve)
    eligible = [e for e in curve if e >= after * last] or [last]
    return min(eligible, key=lambda e: (curve[e], e))


def smoothed(curve: Curve, k: int) -> int:
    """The epoch whose centred mean over k epochs is the lowest: one lucky score cannot win alone."""
    epochs = sorted(curve)
    means = {e: statistics.mean(curve[x] for x in epochs[max(0, i - k // 2): i + k // 2 + 1])
             for i, e in enumerate(epochs)}
    return min(means, key=lambda e: (means[e], e))


def trailing(curve: Curve, k: int) -> int:
    """The epoch whose mean over itself and the k - 1 epochs before it is the lowest. Unlike the centred mean it
    needs no later epoch, so a trainer can apply it as it goes and save that epoch's weights."""
    epochs = sorted(curve)
    means = {e: statistics.mean(curve[x] for x in epochs[max(0, i - k + 1): i + 1]) for i, e in enumerate(epochs)}
    return min(means, key=lambda e: (means[e], e))


RULES: dict[str, Rule] = {
    "best epoch (today's rule)": best,  # eval.select_from=0
    "best epoch of the second half": lambda c: best(c, 0.5),  # eval.select_from=0.5
    "best epoch of the last fifth": lambda c: best(c, 0.8),  # eval.select_from=0.8
    "best 5-epoch mean": lambda c: smoothed(c, 5),
    "best 11-epoch mean": lambda c: smoothed(c, 11),
    "best trailing 5-epoch mean": lambda c: trailing(c, 5),
    "best trailing 11-epoch mean": lambda c: trailing(c, 11),
    "last epoch": lambda c: max(c),  # eval.select_from=1
}
TODAY = "best epoch (today's rule)"


def curve(run: Path, key: str) -> Curve:
    """epoch -> the run's logged `key` (val_error, val_error_a or val_error_b) from metrics.jsonl."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {r["epoch"]: r[key] for r in records if r.get(key) is not None}


def halves(run: Path) -> tuple[Curve, Curve] | None:
    """The run's two validation-half curves, or None if it did not log them."""
    a, b = curve(run, "val_error_a"), curve(run, "val_error_b")
    return (a, b) if a else None


def whole(run: Path) -> Curve:
    """The run's validation curve over every validation episode, the one train.py selects on."""
    return curve(run, "val_error")


def picked_checkpoint(run: Path, epoch: int, last_epoch: int) -> Path:
    """The weights the run validated at that epoch: its snapshot, last.pt's for the last epoch, or best.pt if
    that epoch was the best."""
    snapshot = run / "checkpoints" / "epochs" / f"epoch_{epoch:03d}.pt"
    if snapshot.is_file():
        return snapshot
    if epoch == last_epoch and (run / "checkpoints" / "last.pt").is_file():
        return snapshot_from_last(run / "checkpoints" / "last.pt", snapshot)
    results = json.loads((run / "results.json").read_text()) if (run / "results.json").is_file() else {}
    if results.get("best_epoch") == epoch:
        return run / "checkpoints" / "best.pt"
    raise SystemExit(f"error: {run} kept no weights of epoch {epoch}; train it with eval.snapshots_from below "
                     f"{epoch / last_epoch:.2f} to score this rule")


def snapshot_from_last(last: Path, out: Path) -> Path:
    """The last epoch's validated weights from last.pt, which holds the raw weights it trains on and, with
    train.ema, their average beside them: the snapshot eval.snapshots_from would have written."""
    from ram.build import build_model
    from ram.training.averaging import WeightAverage
    from ram.training.checkpoint import load_model_checkpoint, save_checkpoint

    cfg, state = load_model_checkpoint(last)
    model = build_model(cfg)
    model.load_state_dict(state["model"])
    weights = model.state_dict()
    if "ema" in state:
        average = WeightAverage(model, cfg.train.ema)
        average.load_state_dict(state["ema"])
        weights = average.model_state()
    kept = ("model_name", "config", "epoch", "global_step", "world_size")  # as Trainer.save_snapshot writes
    save_checkpoint({**{k: state[k] for k in kept if k in state}, "model": weights}, out)
    return out


def score_test(runs: list[Path], rule: str, data_dir: str | None) -> list[dict]:
    """The rule applied to each run's whole validation curve, and the picked weights' test errors."""
    from ram.tools.evaluate import score

    rows = []
    for run in runs:
        val = whole(run)
        epoch = RULES[rule](val)
        errors = score(picked_checkpoint(run, epoch, max(val)), split="test", data_dir=data_dir)
        rows.append({"run": str(run), "epoch": epoch, "val_error": val[epoch],
                     **{k: v for k, v in errors.items() if k.startswith("test_error_")}})
    return rows


def judge(runs: list[tuple[Curve, Curve]]) -> list[dict]:
    """Per rule: the mean held-out error of its picks, the mean error on the half it picked on, and the paired
    difference to today's rule (pick by pick, the same run and direction) with its standard error."""
    held, seen = {}, {}
    for name, rule in RULES.items():
        held[name], seen[name] = [], []
        for a, b in runs:
            for pick_on, score_on in ((a, b), (b, a)):
                epoch = rule(pick_on)
                held[name].append(score_on[epoch])
                seen[name].append(pick_on[epoch])
    rows = []
    for name in RULES:
        diff = [x - y for x, y in zip(held[name], held[TODAY])]
        se = statistics.stdev(diff) / len(diff) ** 0.5 if len(diff) > 1 else float("nan")
        rows.append({"rule": name, "held_out": statistics.mean(held[name]), "picked_on": statistics.mean(seen[name]),
                     "vs_today": statistics.mean(diff), "vs_today_se": se, "picks": len(diff)})
    return rows


def table(rows: list[dict], runs: list[str]) -> str:
    lines = ["# Selection rules, judged on held-out validation halves", "",
             "Generated by `python benchmarks/selection_rules.py` from: " + ", ".join(f"`{r}`" for r in runs) + ".",
             "Each rule picks an epoch on one half of the validation digits; the other half scores it (error %, "
             "mean over runs and both directions). Lower held-out error is the better rule. \"vs today\": the held-out "
             "error minus that of today's rule, pick by pick, mean ± standard error (points): a rule is better only "
             "where that is below zero by more than twice its standard error.", "",
             "| rule | held-out error % | error % on the half it picked on | optimism (points) | vs today (points) | picks |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in sorted(rows, key=lambda r: r["held_out"]):
        lines.append(f"| {r['rule']} | {100 * r['held_out']:.3f} | {100 * r['picked_on']:.3f} | "
                     f"{100 * (r['held_out'] - r['picked_on']):.3f} | "
                     f"{100 * r['vs_today']:+.3f} ± {100 * r['vs_today_se']:.3f} | {r['picks']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="run directories (their metrics.jsonl)")
    p.add_argument("--out", type=Path, default=None, help="write OUT.md and OUT.json as well as printing")
    p.add_argument("--score-test", choices=tuple(RULES), default=None, metavar="RULE",
                   help="score the rule's pick on the test split (choose the rule on the halves first)")
    p.add_argument("--data-dir", default=None, help="folder with the dataset's IDX files (default: as for train.py)")
    args = p.parse_args(argv)
    if args.score_test:
        import torch

        torch.set_num_threads(1)
        rows = score_test(args.runs, args.score_test, args.data_dir)
        print(f"| run | epoch picked by {args.score_test} | val % | test single % | deterministic % | MC % |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for r in rows:
            print(f"| {r['run']} | {r['epoch']} | {100 * r['val_error']:.2f} | {100 * r['test_error_single']:.2f} | "
                  f"{100 * r['test_error_deterministic']:.2f} | {100 * r['test_error_mc']:.2f} |")
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.with_suffix(".test.json").write_text(json.dumps({"rule": args.score_test, "runs": rows},
                                                                     indent=2) + "\n")
        return 0
    found, skipped = [], []
    for run in args.runs:
        h = halves(run)
        if h:
            found.append((str(run), h))
        else:
            skipped.append(str(run))
    if skipped:
        print(f"skipped (no val_error_a/b in metrics.jsonl): {', '.join(skipped)}", file=sys.stderr)
    if not found:
        print("error: none of the runs logged validation halves (val_error_a, val_error_b); train them with "
              "this version of train.py", file=sys.stderr)
        return 2
    rows = judge([h for _, h in found])
    text = table(rows, [name for name, _ in found])
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".md").write_text(text)
        args.out.with_suffix(".json").write_text(json.dumps({"runs": [n for n, _ in found], "rules": rows},
                                                            indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
