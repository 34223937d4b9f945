"""Train a model on a benchmark, select it on validation, score it on test, and keep the run."""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from envs.vector_env import GlimpseVectorEnv
from ram.build import build_model, count_params, epoch_size, make_env, pick_device
from ram.errors import ConfigError
from ram.models.base import LossCall
from ram.records.logger import RunLogger
from ram.tools.macs import model_macs
from ram.training.averaging import TailAverage, WeightAverage
from ram.training.checkpoint import (capture_rng, check_compatible, load_checkpoint, own_rng, restore_rng,
                                     save_checkpoint, seed_all)
from ram.training.clipping import clip_gradients
from ram.training.config import Config, save_config, to_dict
from ram.training.guard import Interrupted, NonFiniteError, all_ranks_ok, finite, nonfinite_message, params_finite
from ram.training.parallel import (average, data_parallel, gather, is_main, local_device, lr_scale, on_main, rank,
                                   rank_seed, shard, world_size)
from ram.training.schedule import lr_factor
from ram.training.speed import adam, configure


class Trainer:
    def __init__(self, cfg: Config, run_dir: Path, resume: bool = False):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        t = cfg.train
        if t.threads:
            torch.set_num_threads(t.threads)
        self.device = local_device(pick_device(t.device))
        seed_all(t.seed)
        self.model = configure(build_model(cfg).to(self.device), t, self.device)
        self.env = make_env(cfg, "train", t.batch_size * t.rollouts, self.device)  # M episodes per image
        self.epoch_size = epoch_size(cfg, self.env)  # digits, or games of Catch
        if self.epoch_size < t.batch_size * world_size():
            raise ConfigError(f"train.batch_size={t.batch_size} x {world_size()} process(es) is larger than the "
                              f"{self.epoch_size} training episodes of an epoch")
        self.env.generator.manual_seed(rank_seed(t.seed))  # each rank its own canvases and policy noise
        self.policy_rng = torch.Generator(self.device).manual_seed(rank_seed(t.seed) + 1)
        # the model's own loss, as a module call so that DDP (under torchrun only) can average its gradients
        self.loss = data_parallel(LossCall(self.model, t), self.device, self.model.unused_parameters)
        self.steps_per_epoch = self.epoch_size // (t.batch_size * world_size())  # the last partial batch is dropped
        self.total_steps = self.steps_per_epoch * t.epochs
        self.optimizer = adam(self.model.parameters(), lr=t.lr * lr_scale(t.lr_scaling), weight_decay=t.weight_decay,
                              decoupled=t.optimizer == "adamw")
        self.average = WeightAverage(self.model, t.ema) if t.ema else None  # what validation and best.pt hold
        # eval.compare_ema: a second average, validated and logged only, so two decays share one trajectory
        self.compare = WeightAverage(self.model, cfg.eval.compare_ema) if cfg.eval.compare_ema else None
        self.tail = TailAverage() if cfg.eval.average_from < 1 else None  # eval.average_from: what best.pt ends as
        self.tail_val: dict | None = None  # the tail average's validation errors, once it is kept
        floor = t.lr_min / t.lr
        self.lr_drop, self.last_drop_epoch = 1.0, 0  # the plateau schedule's drops so far (1 = none)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(  # the lambda reads lr_drop: drops apply from the next step
            self.optimizer, lambda s: max(lr_factor(t.lr_schedule, s / self.total_steps, floor) * self.lr_drop, floor))
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.best_val, self.best_epoch, self.train_time, self.train_images = math.inf, 0, 0.0, 0
        self.wall_time, self.session_start = 0.0, time.perf_counter()  # wall time of earlier sessions, this one's start
        self.totals: dict[str, torch.Tensor] = {}  # sums of this epoch's step stats so far (saved mid-epoch)
        self.stop_requested, self.saved_step = False, None  # set by Ctrl-C (ram.training.guard.stop_on_sigint)
        self.ckpt_dir = self.run_dir / "checkpoints"
        if resume:
            self._restore(load_checkpoint(self.ckpt_dir / "last.pt", self.device))
        elif is_main():
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.run_dir / "config.yaml")
        self.logger = RunLogger(self.run_dir, resume_epoch=self.epoch if resume else None, cfg=cfg)  # rank-aware

    # ----------------------------------------------------------------------------------- state
    def _state(self) -> dict:
        return {
            "model_name": self.cfg.model.name, "config": to_dict(self.cfg),
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "global_step": self.global_step,
            "best_val": self.best_val, "best_epoch": self.best_epoch,
            "lr_drop": self.lr_drop, "last_drop_epoch": self.last_drop_epoch,
            "train_time": self.train_time, "train_images": self.train_images,
            "wall_time": self.wall_time + time.perf_counter() - self.session_start,
            "totals": {k: torch.as_tensor(v).cpu() for k, v in self.totals.items()},
            **({"ema": self.average.state_dict()} if self.average else {}),
            **({"ema_compare": self.compare.state_dict()} if self.compare else {}),
            **({"tail": self.tail.state_dict(), "tail_val": self.tail_val} if self.tail else {}),
            "rng": {**capture_rng(self.device), "env": self.env.generator.get_state(),
                    "policy": self.policy_rng.get_state()},
        }

    def _restore(self, state: dict) -> None:
        check_compatible(state, self.cfg, self.ckpt_dir / "last.pt", purpose="resume")
        state = {**state, "rng": own_rng(state, self.ckpt_dir / "last.pt", rank(), world_size())}
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.average:  # train.ema must match to resume, so a run with it saved it
            self.average.load_state_dict(state["ema"])
        if self.compare:  # eval.compare_ema must match to resume too
            self.compare.load_state_dict(state["ema_compare"])
        if self.tail:  # eval.average_from must match to resume, so a run with it saved it
            self.tail.load_state_dict(state["tail"])
            self.tail_val = state["tail_val"]
        for key in ("epoch", "step_in_epoch", "global_step", "best_val", "best_epoch", "train_time", "train_images"):
            setattr(self, key, state[key])
        self.wall_time = state.get("wall_time", 0.0)
        self.lr_drop, self.last_drop_epoch = state.get("lr_drop", 1.0), state.get("last_drop_epoch", 0)
        totals = state["totals_ranks"][rank()] if "totals_ranks" in state else state.get("totals", {})
        self.totals = {k: v.to(self.device) for k, v in totals.items()}
        self.saved_step = self.global_step
        restore_rng(state["rng"])
        self.env.generator.set_state(state["rng"]["env"])
        self.policy_rng.set_state(state["rng"]["policy"])

    def save(self, name: str = "last.pt", weights: dict | None = None) -> None:
        """Only a finite model is saved, so the last good checkpoint survives a numerical fault. ``weights``:
        what best.pt holds instead of the validated weights of this epoch (the tail average)."""
        loss_ok = "loss" not in self.totals or finite(self.totals["loss"])
        if not all_ranks_ok(loss_ok and params_finite(self.model), self.device):  # every rank stops together
            self._stop_nonfinite("the loss" if not loss_ok else "a parameter", "non-finite")
        state = self._state()
        if name == "best.pt" and self.average:  # the model that was validated: evaluate, export and test read it
            state["model"] = self.average.model_state()
        if weights is not None:
            state["model"] = weights
        ranks = gather({"rng": state["rng"], "totals": state["totals"]})  # every rank resumes its own streams
        if is_main():
            save_checkpoint({**state, "world_size": len(ranks), "rng_ranks": [r["rng"] for r in ranks],
                             "totals_ranks": [r["totals"] for r in ranks]}, self.ckpt_dir / name)
        self.saved_step = self.global_step

    def validated_weights(self) -> dict:
        """The weights validation scores: the moving average with train.ema, else the model's own."""
        return self.average.model_state() if self.average else {k: v.detach().clone()
                                                               for k, v in self.model.state_dict().items()}

    def save_snapshot(self, weights: dict) -> Path:
        """checkpoints/epochs/epoch_XXX.pt: the weights this epoch validated, and nothing to resume from (eval.snapshots_from)."""
        path = self.ckpt_dir / "epochs" / f"epoch_{self.epoch:03d}.pt"
        save_checkpoint({"model_name": self.cfg.model.name, "config": to_dict(self.cfg), "model": weights,
                         "epoch": self.epoch, "global_step": self.global_step, "world_size": world_size()}, path)
        return path

    def _stop_nonfinite(self, what: str, value) -> None:
        raise NonFiniteError(nonfinite_message(what, value, self.global_step, self.epoch, self.saved_step,
                                               self.run_dir))

    # ----------------------------------------------------------------------------------- training
    def epoch_order(self, epoch: int) -> torch.Tensor:
        """The order digits are shown in during an epoch; derived from (seed, epoch) so resume repeats it."""
        g = torch.Generator().manual_seed(self.cfg.train.seed * 1_000_003 + epoch)
        return torch.randperm(self.epoch_size, generator=g).to(self.device)

    def progress(self, step: int | None = None) -> float:
        """Fraction of the run's steps done (the schedules' clock)."""
        return (self.global_step if step is None else step) / max(self.total_steps, 1)

    def set_progress(self, step: int | None = None) -> None:
        """Tell the model how far training is (RAM anneals its policy's std by it)."""
        self.model.set_progress(self.progress(step))

    def train_step(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        """One optimizer step on the digits ``index``: the model's loss, backward, clipping, Adam, schedule."""
        self.set_progress()
        loss, stats = self.loss(self.env, {"indices": index}, self.policy_rng)  # DDP: gradients all-reduce
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.train.grad_clip:
            stats["grad_norm"] = clip_gradients(self.model, self.cfg.train.grad_clip, self.cfg.train.grad_clip_parts)
        self.optimizer.step()
        if self.average:
            self.average.update()
        if self.compare:
            self.compare.update()
        self.scheduler.step()
        stats["error"] = 1 - stats["reward"]
        return stats

    def train_epoch(self) -> dict[str, float]:
        t, B = self.cfg.train, self.cfg.train.batch_size * world_size()  # the global batch
        order = self.epoch_order(self.epoch)
        totals = self.totals = self.totals if self.step_in_epoch else {}  # resumed mid-epoch: keep the sums
        bar = tqdm(range(self.step_in_epoch, self.steps_per_epoch), desc=f"epoch {self.epoch + 1}/{t.epochs}",
                   leave=False, dynamic_ncols=True, mininterval=1.0, disable=not is_main())
        start, done_steps = time.perf_counter(), 0
        for i in bar:
            if self.stop_requested:  # Ctrl-C: save between two steps, where the state is whole
                self._account(start, done_steps)
                self.save()
                raise Interrupted(f"interrupted at step {self.global_step} (epoch {self.epoch + 1}): saved "
                                  f"{self.ckpt_dir / 'last.pt'}; resume with: python train.py --out {self.run_dir} --resume")
            stats = self.train_step(shard(order[i * B:(i + 1) * B]))
            for k, v in stats.items():
                totals[k] = totals.get(k, 0) + v.detach()
            self.step_in_epoch, self.global_step, done_steps = i + 1, self.global_step + 1, done_steps + 1
            if self.global_step % t.log_every == 0:  # .item() syncs with the device: only here
                values = {k: v.item() for k, v in stats.items()}
                if not all_ranks_ok(finite(values["loss"]), self.device):
                    self._stop_nonfinite("the loss", values["loss"] if not finite(values["loss"]) else "non-finite")
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
        n = max(self.steps_per_epoch, 1)
        totals = average(totals)
        means = {f"train_{k}": (v / n).item() if torch.is_tensor(v) else v / n for k, v in totals.items()}
        if not finite(means["train_loss"]):  # averaged over ranks: every rank decides the same
            self._stop_nonfinite("the epoch's mean loss", means["train_loss"])
        return means

    def _account(self, start: float, steps: int) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.train_time += time.perf_counter() - start
        self.train_images += steps * self.cfg.train.batch_size * world_size()

    def fit(self) -> dict:
        cfg = self.cfg
        val_env = make_env(cfg, "val", cfg.eval.batch_size, self.device)
        print(f"run {self.run_dir}: {cfg.data.benchmark} {cfg.model.name}, {count_params(self.model):,} parameters, "
              f"{self.epoch_size} training episodes an epoch, device {self.device}, {torch.get_num_threads()} threads")
        while self.epoch < cfg.train.epochs and not self.patience_out():
            train_stats = self.train_epoch()
            self.epoch, self.step_in_epoch = self.epoch + 1, 0
            val = on_main(lambda: self._validate(val_env, cfg.eval.select))  # one decision
            if self.compare:  # eval.compare_ema: logged only, it decides nothing
                compared = on_main(lambda: self._validate(val_env, cfg.eval.select, self.compare))
                val |= {k.replace("val_error", "val_error_compare"): v for k, v in compared.items()}
            eligible = self.epoch >= cfg.eval.select_from * cfg.train.epochs  # eval.select_from: the tail only
            improved = eligible and val["val_error"] < self.best_val
            if improved:
                self.best_val, self.best_epoch = val["val_error"], self.epoch
            self._plateau()
            record = {"epoch": self.epoch, "step": self.global_step, **train_stats, **val,
                      "lr": self.scheduler.get_last_lr()[0],
                      "images_per_s": self.train_images / max(self.train_time, 1e-9)}
            self.logger.log_epoch(record)
            print(f"epoch {self.epoch}/{cfg.train.epochs}: loss {train_stats['train_loss']:.4f} "
                  f"train err {train_stats['train_error']:.4f} val err {val['val_error']:.4f}"
                  f"{' (best)' if improved else ''} {record['images_per_s']:.0f} img/s")
            if improved:
                self.save("best.pt")
            snapshot = self.epoch > cfg.eval.snapshots_from * cfg.train.epochs and is_main()
            averaged = self.tail and self.epoch > cfg.eval.average_from * cfg.train.epochs
            weights = self.validated_weights() if snapshot or averaged else None  # built once for both
            if snapshot:
                self.save_snapshot(weights)
            if averaged:
                self.tail.add(weights, self.epoch)
            if self.tail and self.tail.count and self.epoch == cfg.train.epochs:
                self.keep_tail_average(val_env)
            self.save("last.pt")
            if cfg.view.every and self.epoch % cfg.view.every == 0 and is_main():
                self.log_rollouts()
        return self.test(self.wall_time + time.perf_counter() - self.session_start) if is_main() else {}

    def patience_out(self) -> bool:
        """train.early_stop: no better validation error for that many epochs."""
        patience = self.cfg.train.early_stop
        return bool(patience) and self.epoch - self.best_epoch >= patience

    def _plateau(self) -> None:
        """train.lr_schedule=plateau: lower the learning rate after lr_patience epochs without improvement."""
        t = self.cfg.train
        if t.lr_schedule == "plateau" and self.epoch - max(self.best_epoch, self.last_drop_epoch) >= t.lr_patience:
            self.lr_drop, self.last_drop_epoch = self.lr_drop * t.lr_gamma, self.epoch

    def _validate(self, env: GlimpseVectorEnv, mode: str, second: WeightAverage | None = None) -> dict[str, float]:
        """{'val_error'} that selects the best epoch, and for models scored per episode also the errors of its
        two halves (even and odd episodes), 'val_error_a' and 'val_error_b': selecting on one half and scoring
        on the other tells how much a selection rule's pick owes to the noise of the score it picks on
        (benchmarks/selection_rules.py), without the test split. ``second``: score that average's weights instead
        (eval.compare_ema's)."""
        with second.swapped_in() if second else self.averaged():
            return validation_errors(self.model, env, mode, self.cfg.eval.mc_samples)

    def keep_tail_average(self, val_env) -> None:
        """eval.average_from, at the end of the last epoch: validate the average of the tail's validated weights and
        keep it as best.pt in place of the best epoch (which stays in metrics.jsonl and results.json)."""
        weights = self.tail.model_state()
        raw = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.model.load_state_dict(weights)
        self.tail_val = on_main(lambda: validation_errors(self.model, val_env, self.cfg.eval.select,
                                                          self.cfg.eval.mc_samples))
        self.model.load_state_dict(raw)
        self.save("best.pt", weights=weights)
        t = self.tail
        print(f"kept the average of epochs {t.first}-{t.last} ({t.count} epochs): val err {self.tail_val['val_error']:.4f}")

    def kept(self) -> dict:
        """results.json's account of what best.pt holds and test scored: the best epoch, or the tail average."""
        if self.tail_val is None:
            return {"kept": "best epoch"}
        return {"kept": "average", "average_epochs": [self.tail.first, self.tail.last],
                **{k.replace("val_error", "val_error_kept"): v for k, v in self.tail_val.items()}}

    def averaged(self):
        """train.ema: the averaged weights inside the block; else the model as it is."""
        return self.average.swapped_in() if self.average else contextlib.nullcontext(self.model)

    def log_rollouts(self) -> Path:
        """RUN_DIR/rollouts/epoch_XXX.gif: the current policy on the same validation canvases each time."""
        from ram.tools.view import rollout_gif  # drawing code loads only in runs that draw

        with self.averaged():
            path = rollout_gif(self.model, self.cfg, self.run_dir / "rollouts" / f"epoch_{self.epoch:03d}.gif",
                               self.cfg.view.n, self.device, heading=f"epoch {self.epoch}: ")
        self.logger.log_media("rollouts", path, self.global_step)
        return path

    def test(self, wall_time: float) -> dict:
        cfg = self.cfg
        best = load_checkpoint(self.ckpt_dir / "best.pt", self.device)
        self.model.load_state_dict(best["model"])
        self.set_progress(best["global_step"])  # sampled test rollouts use the std the best model had
        test_env = make_env(cfg, "test", cfg.eval.batch_size, self.device)
        results = {
            "benchmark": cfg.data.benchmark, "model": cfg.model.name,
            **self.model.test_errors(test_env, cfg.eval.mc_samples),  # RAM: three ways; full-image: one pass
            "val_error_best": self.best_val, "best_epoch": self.best_epoch, "epochs": self.epoch,
            **self.kept(),
            "stopped_early": self.epoch < cfg.train.epochs, "rollouts": cfg.train.rollouts,
            "train_episodes": self.train_images * cfg.train.rollouts,
            "params": count_params(self.model), "macs": model_macs(self.model, cfg.data.canvas_size),
            "train_images_per_s": self.train_images / max(self.train_time, 1e-9),
            "train_time_s": self.train_time, "wall_time_s": wall_time,
            "device": str(self.device), "threads": torch.get_num_threads(), "torch": torch.__version__,
        }
        self.logger.finish(results)
        print("test error: " + ", ".join(f"{k[len('test_error_'):]} {v:.4f}" for k, v in results.items()
                                         if k.startswith("test_error_") and isinstance(v, float)))
        return results


def validation_errors(model, env, mode: str, mc_samples: int) -> dict[str, float]:
    """{'val_error'} of the weights the model holds, and for models scored per episode the errors of the even and
    the odd episodes ('val_error_a', 'val_error_b'): what the trainer logs and selects on."""
    wrong = model.wrong_episodes(env, mode, mc_samples)  # N, or None
    if wrong is None:
        return {"val_error": model.error(env, mode, mc_samples)}
    rate = lambda mask: mask.sum().item() / len(mask)  # noqa: E731
    return {"val_error": rate(wrong), "val_error_a": rate(wrong[0::2]), "val_error_b": rate(wrong[1::2])}
