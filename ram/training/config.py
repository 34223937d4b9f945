"""Run configuration: dataclasses, loaded from YAML plus dotted command-line overrides, validated
before any work starts. Every error is one line that says what is wrong, where, and how to fix it.

Each key is one field, and its help and its rule sit next to it: ``option(default, help, rule...)`` with the
rules ``choices``, ``positive``, ``non_negative``, ``seed`` (0 to 2**32-1) and ``check`` (a function of
the value that returns what is wrong, or None). Rules between keys are in ``validate``. A new key is a
field in its section, e.g. a data option goes into ``DataConfig``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from envs.canvas import BENCHMARKS
from envs.datasets import DATASETS
from ram.errors import ConfigError
from ram.models.registry import MODELS

GAME = "catch"  # data.benchmark of the game; the other benchmarks classify MNIST digits

DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def option(default, help: str, *, choices: tuple | None = None, positive: bool = False, non_negative: bool = False,
        seed: bool = False, check=None):
    """A config key: its default, what it means, and the rule its value must keep."""
    rule = {"choices": choices, "positive": positive, "non_negative": non_negative, "seed": seed, "check": check}
    return field(default=default, metadata={"help": help, **{k: v for k, v in rule.items() if v}})


def _device(value: str) -> str | None:
    return None if DEVICE.fullmatch(value) else "is not a device: use auto, cpu, cuda or cuda:N"


@dataclass
class DataConfig:
    benchmark: str = option("cluttered60", "an MNIST benchmark (sets canvas_size and distractors unless they are "
                            "given), or catch: the game (its keys are in game.*)", choices=(*BENCHMARKS, GAME))
    canvas_size: int = option(60, "side of the square canvas in pixels (MNIST benchmarks)", positive=True)
    distractors: int = option(4, "8x8 clutter pieces per canvas", non_negative=True)
    dataset: str = option("mnist", "mnist, fashion-mnist or kmnist: whose canonical IDX files (envs/datasets.py)",
                          choices=tuple(DATASETS))
    data_dir: str | None = option(None, "folder with the dataset's IDX files; else the dataset's variable "
                                  "($RAM_DATA_DIR for mnist), else download into the cache")
    verify: bool = option(True, "false: read your own IDX files in data_dir (format and shape checked, not md5)")
    val_size: int = option(5000, "held out of MNIST's training file for model selection", positive=True,
                        check=lambda v: None if v < 60000 else "must be between 1 and 59999")
    train_size: int = option(0, "0 = every remaining training digit; else a subset, for quick runs", non_negative=True)
    canvas_seed: int = option(0, "fixes the validation and test canvases across runs", seed=True)


@dataclass
class GameConfig:
    """data.benchmark=catch: the game of envs/catch.py (the MNIST keys of data.* do not apply)."""
    screen_size: int = option(24, "side of the square screen in pixels", positive=True,
                              check=lambda v: None if v >= 3 else "must be at least 3")
    paddle_width: int = option(2, "paddle width in pixels", positive=True)
    ball_speed: int = option(1, "largest horizontal speed of the ball, pixels per frame", non_negative=True)
    episodes: int = option(51200, "training episodes (fresh games) per epoch", positive=True)
    straight_epochs: int = option(0, "curriculum: training balls of the first epochs fall straight down (vx = 0); "
                                  "validation and test always play the full game", non_negative=True)


@dataclass
class ModelConfig:
    name: str = option("ram", "the model: ram, or a full-image network (ram/models/registry.py)", choices=tuple(MODELS))
    glimpse_size: int = option(12, "side of the finest glimpse patch in pixels", positive=True)
    scales: int = option(3, "patches per glimpse, each twice the side of the last", positive=True)
    glimpses: int = option(8, "glimpses per episode", positive=True)
    glimpse_hidden: int = option(128, "'what' pathway (patches)", positive=True)
    loc_hidden: int = option(128, "'where' pathway (location)", positive=True)
    hidden: int = option(256, "glimpse feature and core state size", positive=True)
    core: str = option("rnn", "rnn (ReLU, as in the paper) or lstm", choices=("rnn", "lstm"))
    rnn_init: str = option("identity", "ReLU RNN's recurrent weights: identity (IRNN) or default (PyTorch's uniform)",
                        choices=("identity", "default"))
    loc_std: float = option(0.15, "std of the Gaussian location policy (at the start of training)", positive=True)
    loc_std_final: float | None = option(
        None, "null = fixed std; else annealed linearly to this by the last step",
        check=lambda v: None if v is None or v > 0 else "must be greater than 0 (or null for a fixed std)")
    start: str = option("center", "first glimpse: centre, random (uniform), or learned (drawn by the policy)",
                     choices=("center", "random", "learned"))
    start_std: float | None = option(
        None, "start=learned: std of the first location (null = loc_std); a wide one spreads the training starts "
        "like start=random while the deterministic policy still starts at the learned mean",
        check=lambda v: None if v is None or v > 0 else "must be greater than 0 (or null for loc_std)")
    reinforce_to_core: bool = option(False, "REINFORCE also trains the core and glimpse nets (else only the location net)")
    baseline_to_core: bool = option(False, "Catch agents: the baseline's squared error also trains the core and glimpse "
                                    "nets (its target is the reward: the core learns what predicts a catch)")
    policy: str = option("learned", "where to look: learned (the location network) or random (uniform locations "
                         "every step: the paper's random-glimpse control)", choices=("learned", "random"))
    retina_pool: str = option("mean", "Catch agents: each retina scale's pixels are the mean of their block (values in "
                              "[0, 1]) or its sum (a one-pixel ball reads 1 at every scale)", choices=("mean", "sum"))
    fc_hidden: int = option(256, "full-image 'fc': width of both hidden layers (the paper: 64 or 256)", positive=True)
    cnn_width: int = option(32, "full-image 'cnn': channels of the first block (then 2x, 4x, 8x)", positive=True)


@dataclass
class TrainConfig:
    epochs: int = option(100, "passes over the training digits", positive=True)
    batch_size: int = option(64, "per process: under torchrun the global batch is batch_size x world size", positive=True)
    lr: float = option(1e-3, "Adam's learning rate at the start", positive=True)
    lr_scaling: str = option("none", "none, linear or sqrt: lr and lr_min times the world size or its square root",
                          choices=("none", "linear", "sqrt"))
    lr_min: float = option(1e-5, "floor of every schedule", non_negative=True)
    lr_schedule: str = option("cosine", "cosine, linear or exponential decay from lr to lr_min over the run; plateau; "
                           "constant", choices=("cosine", "linear", "exponential", "plateau", "constant"))
    lr_gamma: float = option(0.5, "plateau: factor applied after lr_patience epochs without a better validation error",
                          positive=True, check=lambda v: None if v < 1 else
                          "must be below 1: the plateau schedule lowers the learning rate")
    lr_patience: int = option(5, "plateau: epochs without improvement before the learning rate drops", positive=True)
    early_stop: int = option(0, "stop after this many epochs without a better validation error; 0 = never",
                          non_negative=True)
    rollouts: int = option(1, "M: sampled rollouts of each training image per step (the batch holds batch_size x M "
                        "episodes)", positive=True)
    reinforce_reduce: str = option("sum", "an episode's REINFORCE terms summed or averaged over its locations",
                                choices=("sum", "mean"))
    gae_lambda: float = option(1.0, "each choice's advantage (location; Catch: also move) is GAE(lambda) over the "
                               "baseline's values; 1 = R - b_t, plain REINFORCE with a baseline (the paper's); "
                               "0 = b_(t+1) - b_t",
                               non_negative=True, check=lambda v: None if v <= 1 else "must lie in [0, 1]")
    entropy: float = option(0.0, "Catch: weight of the move policy's entropy bonus (keeps a sampled policy from "
                            "collapsing onto one move before it has learned anything)", non_negative=True)
    weight_decay: float = option(0.0, "Adam's weight decay (an L2 term in the gradient; see optimizer)", non_negative=True)
    optimizer: str = option("adam", "adam, or adamw: weight_decay decoupled from the gradient, each step shrinks every "
                            "weight by lr x weight_decay of itself (ram/training/speed.py)", choices=("adam", "adamw"))
    ema: float = option(0.0, "decay of an exponential moving average of the weights (ram/training/averaging.py) that "
                        "validation, best.pt and the test score use; 0 = off, 0.9998 averages about 5,000 steps",
                        check=lambda v: None if 0 <= v < 1 else "must lie in [0, 1)")
    grad_clip: float = option(5.0, "max gradient norm; 0 = off", non_negative=True)
    grad_clip_parts: bool = option(False, "clip each part of the model's gradient to grad_clip on its own (RAM: the "
                                   "classifier, the location policy, the baseline), so the policy's noisy REINFORCE "
                                   "gradient does not rescale the classifier's step")
    reinforce_weight: float = option(1.0, "weight of the REINFORCE term in the hybrid loss", non_negative=True)
    seed: int = option(0, "seeds every generator of the run", seed=True)
    device: str = option("auto", "auto, cpu, cuda, cuda:N", check=_device)
    threads: int = option(0, "torch intra-op threads on CPU; 0 = torch's default", non_negative=True)
    log_every: int = option(50, "steps between progress updates (each one syncs with the device)", positive=True)
    checkpoint_every: int = option(0, "steps between mid-epoch checkpoints; 0 = at epoch ends only", non_negative=True)
    amp: bool = option(False, "bf16 autocast of the model's matmuls (ram/training/speed.py)")
    compile: bool = option(False, "torch.compile the per-glimpse step (needs a C++ compiler on CPU)")
    cuda_graphs: bool = option(False, "CUDA only: compile with CUDA-graph replay ('reduce-overhead')")


@dataclass
class EvalConfig:
    batch_size: int = option(1000, "canvases per evaluation batch", positive=True)
    mc_samples: int = option(10, "rollouts averaged for the MC test error", positive=True)
    select: str = option("deterministic", "validation error used to pick the best checkpoint",
                      choices=("deterministic", "single"))
    select_from: float = option(0.0, "keep the best-validation epoch among those from this fraction of train.epochs "
                                "on: 0 = every epoch, 0.8 = the last fifth, 1 = the last epoch only",
                                check=lambda v: None if 0 <= v <= 1 else "must be a fraction between 0 and 1")
    snapshots_from: float = option(1.0, "also save the validated weights of every epoch after this fraction of "
                                   "train.epochs to checkpoints/epochs/ (about a megabyte each), so a selection rule "
                                   "other than the best epoch can be scored afterwards; 1 = none",
                                   check=lambda v: None if 0 <= v <= 1 else "must be a fraction between 0 and 1")
    average_from: float = option(1.0, "keep, instead of the best-validation epoch, the uniform average of the "
                                 "validated weights of every epoch after this fraction of train.epochs (stochastic "
                                 "weight averaging of the tail, recipe round 28); 1 = off",
                                 check=lambda v: None if 0 <= v <= 1 else "must be a fraction between 0 and 1")
    compare_ema: float = option(0.0, "also keep a moving average of the weights with this decay and log its validation "
                                "errors as val_error_compare (and _a, _b) each epoch; training, selection and best.pt "
                                "are unchanged, so two decays are compared on one trajectory (recipe round 30); 0 = off",
                                check=lambda v: None if 0 <= v < 1 else "must lie in [0, 1)")


@dataclass
class LoggerConfig:
    wandb: str = option("auto", "auto (online if logged in, else offline), online, offline, disabled",
                     choices=("auto", "online", "offline", "disabled"))
    project: str | None = option(None, "null = $WANDB_PROJECT, else \"ram\"")
    entity: str | None = option(None, "null = $WANDB_ENTITY, else your default entity")
    init_timeout: float = option(15.0, "seconds to wait for the server before falling back to offline", positive=True)
    log_checkpoint: bool = option(False, "upload checkpoints/best.pt as a wandb artifact at the end")


@dataclass
class ViewConfig:
    every: int = option(0, "epochs between rollout GIFs in RUN_DIR/rollouts/ (also sent to the logger); 0 = off",
                     non_negative=True)
    n: int = option(16, "validation canvases drawn in each GIF (the same ones every time)", positive=True)


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    game: GameConfig = field(default_factory=GameConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    view: ViewConfig = field(default_factory=ViewConfig)


# YAML 1.1 reads 1e-4 as a string (it wants 1.0e-4); a float field takes it as the number it means
FLOAT_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def keys(cfg: Config) -> list[tuple[str, object, dict]]:
    """(dotted key, value, its rule and help) for every key of cfg, in order."""
    return [(f"{s.name}.{f.name}", getattr(getattr(cfg, s.name), f.name), f.metadata)
            for s in dataclasses.fields(cfg) for f in dataclasses.fields(getattr(cfg, s.name))]


def _coerce(value, annotation, where: str):
    """value converted to the annotated type, or a ConfigError."""
    options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    if value is None and type(None) in options:
        return None
    for kind in options:
        if kind is bool and isinstance(value, bool):
            return value
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if kind is float and isinstance(value, str) and FLOAT_TEXT.fullmatch(value.strip()):
            return float(value)
        if kind is str and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    names = " or ".join("null" if k is type(None) else k.__name__ for k in options)
    raise ConfigError(f"{where}: expected {names}, got {value!r} ({type(value).__name__})")


def _merge(node, updates: dict, prefix: str, source: str) -> None:
    if not isinstance(updates, dict):
        raise ConfigError(f"{source}: {prefix or 'the top level'} must be a mapping of keys, got {updates!r}")
    known = {f.name: f for f in dataclasses.fields(node)}
    types_ = typing.get_type_hints(type(node))  # the annotations, resolved (they are strings here)
    for key, value in updates.items():
        where = f"{prefix}{key}"
        if key not in known:
            candidates = [f"{prefix}{k}" for k in known]
            close = difflib.get_close_matches(where, candidates, n=1)
            hint = f"; did you mean {close[0]}?" if close else f"; valid keys: {', '.join(candidates)}"
            raise ConfigError(f"{source}: unknown key {where!r}{hint}")
        current = getattr(node, key)
        if dataclasses.is_dataclass(current):
            _merge(current, value, where + ".", source)
        else:
            setattr(node, key, _coerce(value, types_[key], f"{source}: {where}"))


def parse_override(text: str) -> dict:
    """'train.epochs=1' -> {'train': {'epochs': 1}} (values parsed as YAML scalars)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not KEY=VALUE (for example train.epochs=1)")
    key, raw = text.split("=", 1)
    value = yaml.safe_load(raw) if raw.strip() else None
    nested: dict = {}
    node = nested
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return nested


def validate(cfg: Config) -> Config:
    """Each key's own rule (its field's metadata), then the rules between keys."""
    flat = keys(cfg)
    for key, value, rule in flat:
        if rule.get("choices") and value not in rule["choices"]:
            raise ConfigError(f"{key}={value!r} is not one of {', '.join(rule['choices'])}")
    for key, value, rule in flat:
        if rule.get("positive") and value <= 0:
            raise ConfigError(f"{key}={value} must be greater than 0")
    for key, value, _ in flat:
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{key}={value} must be a finite number")
    for key, value, rule in flat:
        if rule.get("non_negative") and value < 0:
            raise ConfigError(f"{key}={value} must not be negative")
        if rule.get("seed") and not 0 <= value < 2**32:
            raise ConfigError(f"{key}={value} must be between 0 and 2**32-1")
        problem = rule["check"](value) if rule.get("check") else None
        if problem:
            raise ConfigError(f"{key}={value!r} {problem}" if isinstance(value, str) else f"{key}={value} {problem}")
    d, m, t = cfg.data, cfg.model, cfg.train
    if t.lr_min > t.lr:
        raise ConfigError(f"train.lr_min={t.lr_min} is above train.lr={t.lr}: the schedule decays from lr to lr_min")
    if cfg.eval.select_from and (t.early_stop or t.lr_schedule == "plateau"):
        raise ConfigError(f"eval.select_from={cfg.eval.select_from} ignores the epochs before it, which "
                          f"train.early_stop and the plateau schedule count from: use eval.select_from=0 with them")
    task = "catch" if d.benchmark == GAME else "classify"
    if MODELS[m.name].task != task:
        fits = ", ".join(n for n, c in MODELS.items() if c.task == task)
        raise ConfigError(f"model.name={m.name!r} does not play data.benchmark={d.benchmark!r}: use one of {fits}")
    if task == "catch":
        return _validate_game(cfg)
    if t.entropy:
        raise ConfigError(f"train.entropy={t.entropy} is for Catch (data.benchmark=catch): RAM's location policy "
                          "on digits is a Gaussian of fixed std; set train.entropy=0")
    if d.canvas_size < 28:
        raise ConfigError(f"data.canvas_size={d.canvas_size} must be at least 28 (an MNIST digit is 28x28)")
    problem = MODELS[m.name].config_problem(cfg)  # what this kind of model cannot do
    if problem:
        raise ConfigError(problem)
    if d.train_size and t.batch_size > d.train_size:
        raise ConfigError(f"train.batch_size={t.batch_size} is larger than data.train_size={d.train_size}: "
                          "lower the batch size or use more digits")
    if d.distractors and d.canvas_size < 8:
        raise ConfigError(f"data.canvas_size={d.canvas_size} is too small for 8x8 distractors")
    _patch_fits(m, d.canvas_size, "canvas")
    if d.data_dir is not None and not Path(d.data_dir).expanduser().is_dir():
        raise ConfigError(f"data.data_dir={d.data_dir!r} does not exist: point it at a folder with the MNIST files")
    if cfg.view.every and cfg.view.n > d.val_size:
        raise ConfigError(f"view.n={cfg.view.n} is more than the data.val_size={d.val_size} validation canvases")
    if d.train_size > 60000 - d.val_size:
        raise ConfigError(f"data.train_size={d.train_size} exceeds the {60000 - d.val_size} training digits left "
                          "after data.val_size")
    return cfg


def _patch_fits(m: ModelConfig, side: int, picture: str) -> None:
    """The retina's largest patch is at most 4x the picture (canvas or screen) it looks at."""
    largest = m.glimpse_size * 2 ** (m.scales - 1)
    if largest > 4 * side:
        raise ConfigError(f"model.glimpse_size={m.glimpse_size} with model.scales={m.scales} makes a {largest}px "
                          f"patch, more than 4x the {side}px {picture}: lower one of them")


def _validate_game(cfg: Config) -> Config:
    """The rules between keys of a game run (data.benchmark=catch)."""
    g, m = cfg.game, cfg.model
    if g.paddle_width > g.screen_size:
        raise ConfigError(f"game.paddle_width={g.paddle_width} is wider than game.screen_size={g.screen_size}")
    if g.straight_epochs > cfg.train.epochs:
        raise ConfigError(f"game.straight_epochs={g.straight_epochs} is more than train.epochs={cfg.train.epochs}: "
                          "the curriculum would never end")
    if g.ball_speed >= g.screen_size:
        raise ConfigError(f"game.ball_speed={g.ball_speed} must be below game.screen_size={g.screen_size}")
    if g.episodes < cfg.train.batch_size:
        raise ConfigError(f"game.episodes={g.episodes} per epoch is fewer than train.batch_size={cfg.train.batch_size}")
    _patch_fits(m, g.screen_size, "screen")
    problem = MODELS[m.name].config_problem(cfg)
    if problem:
        raise ConfigError(problem)
    return cfg


def load_config(path: str | Path | None = None, overrides: list[str] = (), data_dir: str | None = None) -> Config:
    """Defaults, then the YAML file, then ``data.data_dir`` from the flag, then KEY=VALUE overrides."""
    cfg = Config()
    layers: list[tuple[str, dict]] = []
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist: see configs/ for the provided ones")
        try:
            layers.append((str(path), yaml.safe_load(path.read_text()) or {}))
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"config file {path} cannot be read ({e.__class__.__name__}): check it is a YAML text file") from None
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            at = f" at line {mark.line + 1}" if mark else ""
            raise ConfigError(f"{path}: not valid YAML{at}: fix the syntax") from None
    if data_dir is not None:
        layers.append(("--data-dir", {"data": {"data_dir": data_dir}}))
    layers += [(f"override {o!r}", parse_override(o)) for o in overrides]
    explicit = set()
    for source, layer in layers:
        _merge(cfg, layer, "", source)
        explicit |= set((layer.get("data") or {}) if isinstance(layer.get("data"), dict) else ())
    # a benchmark name fills in canvas size and clutter unless those were given explicitly
    for key, value in BENCHMARKS.get(cfg.data.benchmark, {}).items():
        if key not in explicit:
            setattr(cfg.data, key, value)
    return validate(cfg)


def from_dict(data: dict) -> Config:
    """A Config from a plain dict (a run's config.yaml or a checkpoint), validated like a file."""
    cfg = Config()
    _merge(cfg, data, "", "saved config")
    return validate(cfg)


def save_config(cfg: Config, path: Path) -> None:
    path.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
