"""A run's level late in training, and the recipe rounds' registered decision on it.

    python benchmarks/tail_level.py RUN...                                  # each run's last-50 mean val error
    python benchmarks/tail_level.py RUN... --reference REF_RUN...           # and the verdict against today's recipe
    python benchmarks/tail_level.py RUN... --reference REF_RUN... --out benchmarks/results/tail_level_r31  # .md, .json

The level of a run is the mean of its deterministic validation error (`val_error` in metrics.jsonl) over its last
N epochs (--last, 50 by default): a level, not one lucky epoch, and it never looks at the test split. Recipe rounds
29-31 (docs/recipe.md) registered their decisions on it: a candidate recipe is **adopted** only if the mean level
of its runs lies below the mean level of today's recipe (the reference runs) by more than twice the standard error
of the difference, with the reference runs' standard deviation s standing for both:

    bar = mean(reference) - 2 * sqrt(s^2 / n_candidate + s^2 / n_reference)

Below the reference mean but not below the bar is **promising** (more seeds, registered before they run); anything
else is **not adopted**. The script refuses a run that has not finished its configured epochs (its last epochs
would not be the recipe's) unless --partial.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python benchmarks/...` imports the checkout's ram/

from benchmarks import selection_rules  # noqa: E402
from ram.errors import RamError  # noqa: E402


def level(run: Path, last: int, partial: bool = False) -> float:
    """Mean `val_error` (a fraction) over the run's last `last` validated epochs."""
    if not (run / "metrics.jsonl").is_file():
        raise RamError(f"{run} has no metrics.jsonl: pass the run directory that train.py --out wrote")
    by_epoch = selection_rules.whole(run)  # epoch -> val_error: an epoch a resumed run logged twice counts once
    config = run / "config.yaml"
    planned = (yaml.safe_load(config.read_text()) or {}).get("train", {}).get("epochs") if config.is_file() else None
    if planned is not None and len(by_epoch) < planned and not partial:
        raise RamError(f"{run} has validated {len(by_epoch)} of its {planned} epochs: finish it "
                       f"(python train.py --out {run} --resume) or pass --partial")
    if len(by_epoch) < last:
        raise RamError(f"{run} has validated {len(by_epoch)} epochs, fewer than --last {last}: lower --last")
    tail = [by_epoch[e] for e in sorted(by_epoch)[-last:]]
    return sum(tail) / last


def verdict(candidate: list[float], reference: list[float], sigmas: float = 2.0) -> dict:
    """The registered rule: mean levels, the bar and the word for it (levels as fractions)."""
    if len(reference) < 2:
        raise RamError("--reference needs at least 2 runs to give a standard deviation between runs")
    ref_mean, ref_std = statistics.mean(reference), statistics.stdev(reference)
    mean = statistics.mean(candidate)
    bar = ref_mean - sigmas * math.sqrt(ref_std ** 2 / len(candidate) + ref_std ** 2 / len(reference))
    word = "adopted" if mean < bar else "promising" if mean < ref_mean else "not adopted"
    return {"mean": mean, "n": len(candidate), "reference_mean": ref_mean, "reference_std": ref_std,
            "reference_n": len(reference), "sigmas": sigmas, "bar": bar, "verdict": word}


def report(runs: dict[str, float], reference: dict[str, float], decision: dict | None, last: int) -> str:
    lines = [f"| run | last-{last} mean val det % |", "| --- | ---: |"]
    lines += [f"| {name} | {100 * v:.3f} |" for name, v in runs.items()]
    lines.append(f"| **mean of {len(runs)}** | **{100 * statistics.mean(runs.values()):.3f}** |")
    if reference:
        lines += ["", f"| reference run | last-{last} mean val det % |", "| --- | ---: |"]
        lines += [f"| {name} | {100 * v:.3f} |" for name, v in reference.items()]
    if decision:
        ref, std = 100 * decision["reference_mean"], 100 * decision["reference_std"]
        lines += ["", f"Reference: {ref:.3f}%, std {std:.3f} over {decision['reference_n']} runs. "
                      f"Bar: {ref:.3f} - {decision['sigmas']:g} x sqrt({std:.3f}^2/{decision['n']} + "
                      f"{std:.3f}^2/{decision['reference_n']}) = {100 * decision['bar']:.3f}%. "
                      f"Candidate mean {100 * decision['mean']:.3f}%: **{decision['verdict']}**."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="the candidate's run directories (their metrics.jsonl)")
    p.add_argument("--reference", nargs="+", type=Path, default=[], help="today's recipe's run directories")
    p.add_argument("--last", type=int, default=50, help="how many final epochs make the level (default 50)")
    p.add_argument("--sigmas", type=float, default=2.0, help="standard errors the bar lies below (default 2)")
    p.add_argument("--partial", action="store_true", help="accept runs that have not finished their epochs")
    p.add_argument("--out", type=Path, default=None, help="write OUT.md and OUT.json as well as printing")
    args = p.parse_args(argv)
    if args.last < 1:
        print(f"error: --last must be a positive number of epochs, got {args.last}", file=sys.stderr)
        return 2
    try:
        runs = {str(r): level(r, args.last, args.partial) for r in args.runs}
        reference = {str(r): level(r, args.last, args.partial) for r in args.reference}
        decision = verdict(list(runs.values()), list(reference.values()), args.sigmas) if reference else None
    except RamError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = report(runs, reference, decision, args.last)
    print(text, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".md").write_text(text)
        args.out.with_suffix(".json").write_text(json.dumps(
            {"last": args.last, "runs": runs, "reference": reference, "decision": decision}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
