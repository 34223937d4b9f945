"""Train a Recurrent Attention Model (or a baseline) from a YAML config plus KEY=VALUE overrides.

    python train.py                                   # 60x60 cluttered MNIST, 8 glimpses
    python train.py --config configs/mnist28.yaml train.epochs=10
    python train.py --data-dir ../shared/data/mnist train.epochs=1 data.train_size=2048
    python train.py data.dataset=fashion-mnist --data-dir DIR   # Fashion-MNIST (or kmnist); data.verify=false: your own IDX files
    python train.py --out runs/my-run --resume        # continue an interrupted run
    torchrun --nproc_per_node=4 train.py              # 4 GPUs (or CPU processes), DistributedDataParallel
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from envs.mnist import DataError
from ram.errors import ConfigError, RamError
from ram.training.checkpoint import CheckpointError
from ram.training.config import load_config
from ram.training.guard import Interrupted, hold_run_dir, stop_on_sigint

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "cluttered60.yaml"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=None, help=f"YAML config (default: {DEFAULT_CONFIG.relative_to(DEFAULT_CONFIG.parents[1])})")
    p.add_argument("--data-dir", default=None, help="folder with the data.dataset's IDX files (default: $RAM_DATA_DIR for MNIST, "
                   "$RAM_FASHION_MNIST_DIR, $RAM_KMNIST_DIR, else download into the cache)")
    p.add_argument("--out", default=None, help="run directory (default: runs/<benchmark>-<model>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides, e.g. train.epochs=1")
    return p.parse_intermixed_args(argv)  # KEY=VALUE overrides may come before, between or after the flags


def main(argv=None) -> int:
    args = parse_args(argv)
    run_dir = args.out
    try:
        if args.resume:
            if args.out is None:
                raise ConfigError("--resume needs --out RUN_DIR, the run to continue")
            run_dir = Path(args.out)
            if not (run_dir / "checkpoints" / "last.pt").is_file():
                raise CheckpointError(f"nothing to resume in {run_dir}: it has no checkpoints/last.pt")
            cfg = load_config(run_dir / "config.yaml", args.overrides, args.data_dir)
        else:
            cfg = load_config(args.config or DEFAULT_CONFIG, args.overrides, args.data_dir)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            run_dir = Path(args.out or f"runs/{cfg.data.benchmark}-{cfg.model.name}-{stamp}")
            if (run_dir / "checkpoints" / "last.pt").exists():
                raise ConfigError(f"{run_dir} already holds a run: add --resume to continue it, or pick another --out")
        from ram.training import parallel
        from ram.training.trainer import Trainer

        with parallel.session(cfg.train):  # a no-op unless started by torchrun
            run_dir = parallel.agree(run_dir)  # the default name holds a clock: take rank 0's
            with hold_run_dir(run_dir) if parallel.is_main() else contextlib.nullcontext():
                trainer = Trainer(cfg, run_dir, resume=args.resume)
                with stop_on_sigint(trainer):  # Ctrl-C saves a checkpoint at the next step, then stops
                    trainer.fit()
    except (RamError, DataError) as e:  # the project's own errors: the message says what to fix
        print(f"error: {e}", file=sys.stderr)
        return 2  # anything else is a bug and keeps its traceback
    except Interrupted as e:
        print(e, file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        where = f": resume from its last checkpoint with: python train.py --out {run_dir} --resume" if run_dir else ""
        print(f"\ninterrupted without saving{where}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
