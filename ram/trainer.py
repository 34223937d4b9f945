"""Train a model on a benchmark, select it on validation, score it on test, and keep the run."""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from envs.vector_env import GlimpseVectorEnv
from ram.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ram.config import Config, from_dict, save_config, to_dict
from ram.logger import RunLogger
from ram.model import RAM
from ram.rollout import hybrid_loss, rollout
from ram.speed import adam, configure

EVAL_SEED = 1234  # evaluation rollouts draw from their own generator: scores are reproducible


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def make_env(cfg: Config, split: str, batch: int, device) -> GlimpseVectorEnv:
    d, m = cfg.data, cfg.model
    return GlimpseVectorEnv(num_envs=batch, canvas_size=d.canvas_size, distractors=d.distractors,
                            glimpse_size=m.glimpse_size, scales=m.scales, glimpses=m.glimpses, split=split,
                            data_dir=d.data_dir, val_size=d.val_size, train_size=d.train_size or None,
                            canvas_seed=d.canvas_seed, start=m.start, device=device, backend="torch")


def build_model(cfg: Config) -> torch.nn.Module:
    return RAM.from_config(cfg.model)


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def evaluate(model: RAM, env: GlimpseVectorEnv, mode: str, mc_samples: int = 10) -> float:
    """Error (fraction) over the env's whole fixed split. mode: single, deterministic or mc."""
    model.eval()
    generator = torch.Generator(env.device).manual_seed(EVAL_SEED)
    N, B = env.size, env.num_envs
    wrong = torch.zeros((), device=env.device)
    for start in range(0, N, B):
        index = torch.arange(start, start + B, device=env.device)
        valid = index < N  # the last batch wraps around; the repeats are not counted
        options = {"indices": index % N}
        if mode == "mc":
            probs = sum(rollout(model, env, False, generator, options).logits.softmax(1) for _ in range(mc_samples))
            correct = probs.argmax(1) == env._labels
        else:
            correct = rollout(model, env, mode == "deterministic", generator, options).reward.bool()
        wrong += (~correct & valid).sum()
    model.train()
    return wrong.item() / N


class Trainer:
    def __init__(self, cfg: Config, run_dir: Path, resume: bool = False):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        t = cfg.train
        if t.threads:
            torch.set_num_threads(t.threads)
        self.device = pick_device(t.device)
        torch.manual_seed(t.seed)
        self.model = configure(build_model(cfg).to(self.device), t, self.device)
        self.env = make_env(cfg, "train", t.batch_size, self.device)
        if self.env.size < t.batch_size:
            raise ValueError(f"train.batch_size={t.batch_size} is larger than the {self.env.size} training digits")
        self.env.generator.manual_seed(t.seed)
        self.policy_rng = torch.Generator(self.device).manual_seed(t.seed + 1)
        self.steps_per_epoch = self.env.size // t.batch_size  # the last partial batch is dropped
        self.total_steps = self.steps_per_epoch * t.epochs
        self.optimizer = adam(self.model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
        floor = t.lr_min / t.lr
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(s / self.total_steps, 1))))
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.best_val, self.best_epoch, self.train_time, self.train_images = math.inf, 0, 0.0, 0
        self.ckpt_dir = self.run_dir / "checkpoints"
        if resume:
            self._restore(load_checkpoint(self.ckpt_dir / "last.pt", self.device))
        else:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.run_dir / "config.yaml")
        self.logger = RunLogger(self.run_dir, resume_epoch=self.epoch if resume else None)

    # ----------------------------------------------------------------------------------- state
    def _state(self) -> dict:
        return {
            "model_name": self.cfg.model.name, "config": to_dict(self.cfg),
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "global_step": self.global_step,
            "best_val": self.best_val, "best_epoch": self.best_epoch,
            "train_time": self.train_time, "train_images": self.train_images,
            "rng": {"torch": torch.get_rng_state(), "env": self.env.generator.get_state(),
                    "policy": self.policy_rng.get_state()},
        }

    def _restore(self, state: dict) -> None:
        saved = from_dict(state["config"])
        if to_dict(saved)["model"] != to_dict(self.cfg)["model"] or to_dict(saved)["data"] != to_dict(self.cfg)["data"]:
            raise CheckpointError(f"checkpoint in {self.ckpt_dir} was trained with another model or data config: "
                                  "resume with the run's own config.yaml")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        for key in ("epoch", "step_in_epoch", "global_step", "best_val", "best_epoch", "train_time", "train_images"):
            setattr(self, key, state[key])
        torch.set_rng_state(state["rng"]["torch"])
        self.env.generator.set_state(state["rng"]["env"])
        self.policy_rng.set_state(state["rng"]["policy"])

    def save(self, name: str = "last.pt") -> None:
        save_checkpoint(self._state(), self.ckpt_dir / name)

    # ----------------------------------------------------------------------------------- training
    def epoch_order(self, epoch: int) -> torch.Tensor:
        """The order digits are shown in during an epoch; derived from (seed, epoch) so resume repeats it."""
        g = torch.Generator().manual_seed(self.cfg.train.seed * 1_000_003 + epoch)
        return torch.randperm(self.env.size, generator=g).to(self.device)

    def train_step(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        r = rollout(self.model, self.env, generator=self.policy_rng, options={"indices": index})
        loss, stats = hybrid_loss(r, self.cfg.train.reinforce_weight)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.train.grad_clip:
            stats["grad_norm"] = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        stats["error"] = 1 - stats["reward"]
        return stats

    def train_epoch(self) -> dict[str, float]:
        t, B = self.cfg.train, self.cfg.train.batch_size
        order = self.epoch_order(self.epoch)
        totals: dict[str, torch.Tensor] = {}
        bar = tqdm(range(self.step_in_epoch, self.steps_per_epoch), desc=f"epoch {self.epoch + 1}/{t.epochs}",
                   leave=False, dynamic_ncols=True, mininterval=1.0)
        start, done_steps = time.perf_counter(), 0
        for i in bar:
            stats = self.train_step(order[i * B:(i + 1) * B])
            for k, v in stats.items():
                totals[k] = totals.get(k, 0) + v.detach()
            self.step_in_epoch, self.global_step, done_steps = i + 1, self.global_step + 1, done_steps + 1
            if self.global_step % t.log_every == 0:  # .item() syncs with the device: only here
                values = {k: v.item() for k, v in stats.items()}
                rate = done_steps * B / (time.perf_counter() - start)
                bar.set_postfix(loss=f"{values['loss']:.3f}", err=f"{values['error']:.3f}", img_s=f"{rate:.0f}")
                self.logger.log_step({**values, "lr": self.scheduler.get_last_lr()[0], "images_per_s": rate},
                                     self.global_step)
            if t.checkpoint_every and self.global_step % t.checkpoint_every == 0 and i + 1 < self.steps_per_epoch:
                self._account(start, done_steps)
                start, done_steps = time.perf_counter(), 0
                self.save()
        bar.close()
        self._account(start, done_steps)
        n = max(sum(1 for _ in range(self.steps_per_epoch)), 1)
        return {f"train_{k}": (v / n).item() if torch.is_tensor(v) else v / n for k, v in totals.items()}

    def _account(self, start: float, steps: int) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.train_time += time.perf_counter() - start
        self.train_images += steps * self.cfg.train.batch_size

    def fit(self) -> dict:
        cfg, t0 = self.cfg, time.perf_counter()
        val_env = make_env(cfg, "val", cfg.eval.batch_size, self.device)
        print(f"run {self.run_dir}: {cfg.data.benchmark} {cfg.model.name}, {count_params(self.model):,} parameters, "
              f"{self.env.size} training digits, device {self.device}, {torch.get_num_threads()} threads")
        while self.epoch < cfg.train.epochs:
            train_stats = self.train_epoch()
            self.epoch, self.step_in_epoch = self.epoch + 1, 0
            val = {"val_error": evaluate(self.model, val_env, cfg.eval.select)}
            improved = val["val_error"] < self.best_val
            if improved:
                self.best_val, self.best_epoch = val["val_error"], self.epoch
            record = {"epoch": self.epoch, "step": self.global_step, **train_stats, **val,
                      "lr": self.scheduler.get_last_lr()[0],
                      "images_per_s": self.train_images / max(self.train_time, 1e-9)}
            self.logger.log_epoch(record)
            print(f"epoch {self.epoch}/{cfg.train.epochs}: loss {train_stats['train_loss']:.4f} "
                  f"train err {train_stats['train_error']:.4f} val err {val['val_error']:.4f}"
                  f"{' (best)' if improved else ''} {record['images_per_s']:.0f} img/s")
            if improved:
                self.save("best.pt")
            self.save("last.pt")
        return self.test(time.perf_counter() - t0)

    def test(self, wall_time: float) -> dict:
        cfg = self.cfg
        best = load_checkpoint(self.ckpt_dir / "best.pt", self.device)
        self.model.load_state_dict(best["model"])
        test_env = make_env(cfg, "test", cfg.eval.batch_size, self.device)
        results = {
            "benchmark": cfg.data.benchmark, "model": cfg.model.name,
            "test_error_single": evaluate(self.model, test_env, "single"),
            "test_error_deterministic": evaluate(self.model, test_env, "deterministic"),
            "test_error_mc": evaluate(self.model, test_env, "mc", cfg.eval.mc_samples),
            "mc_samples": cfg.eval.mc_samples,
            "val_error_best": self.best_val, "best_epoch": self.best_epoch, "epochs": self.epoch,
            "params": count_params(self.model),
            "train_images_per_s": self.train_images / max(self.train_time, 1e-9),
            "train_time_s": self.train_time, "wall_time_s": wall_time,
            "device": str(self.device), "threads": torch.get_num_threads(), "torch": torch.__version__,
        }
        self.logger.finish(results)
        print("test error: single {test_error_single:.4f}, deterministic {test_error_deterministic:.4f}, "
              "mc {test_error_mc:.4f}".format(**results))
        return results
