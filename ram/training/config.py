"""Run configuration: dataclasses, loaded from YAML plus dotted command-line overrides, validated
before any work starts. Every error is one line that says what is wrong, where, and how to fix it."""

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
from ram.errors import ConfigError
from ram.models.registry import MODELS


@dataclass
class DataConfig:
    benchmark: str = "cluttered60"  # sets canvas_size and distractors unless they are given
    canvas_size: int = 60
    distractors: int = 4
    data_dir: str | None = None  # else $RAM_DATA_DIR, else download into the cache
    val_size: int = 5000  # held out of MNIST's training file for model selection
    train_size: int = 0  # 0 = every remaining training digit; else a subset, for quick runs
    canvas_seed: int = 0  # fixes the validation and test canvases across runs


@dataclass
class ModelConfig:
    name: str = "ram"
    glimpse_size: int = 12
    scales: int = 3
    glimpses: int = 8
    glimpse_hidden: int = 128  # "what" pathway (patches)
    loc_hidden: int = 128  # "where" pathway (location)
    hidden: int = 256  # glimpse feature and core state size
    core: str = "rnn"  # rnn (ReLU, as in the paper) or lstm
    rnn_init: str = "identity"  # ReLU RNN's recurrent weights: identity (IRNN) or default (PyTorch's uniform)
    loc_std: float = 0.15  # std of the Gaussian location policy (at the start of training)
    loc_std_final: float | None = None  # null = fixed std; else annealed linearly to this by the last step
    start: str = "center"  # first glimpse: centre, random (uniform), or learned (drawn by the policy)
    reinforce_to_core: bool = False  # REINFORCE also trains the core and glimpse nets (else only the location net)
    fc_hidden: int = 256  # baseline 'fc': width of both hidden layers (the paper: 64 or 256)
    cnn_width: int = 32  # baseline 'cnn': channels of the first block (then 2x, 4x, 8x)


@dataclass
class TrainConfig:
    epochs: int = 100
    batch_size: int = 64  # per process: under torchrun the global batch is batch_size x world size
    lr: float = 1e-3
    lr_scaling: str = "none"  # none, linear or sqrt: lr and lr_min times the world size or its square root
    lr_min: float = 1e-5  # floor of every schedule
    lr_schedule: str = "cosine"  # cosine, linear or exponential decay from lr to lr_min over the run; plateau; constant
    lr_gamma: float = 0.5  # plateau: factor applied after lr_patience epochs without a better validation error
    lr_patience: int = 5  # plateau: epochs without improvement before the learning rate drops
    early_stop: int = 0  # stop after this many epochs without a better validation error; 0 = never
    rollouts: int = 1  # M: sampled rollouts of each training image per step (the batch holds batch_size x M episodes)
    reinforce_reduce: str = "sum"  # an episode's REINFORCE terms summed or averaged over its locations
    weight_decay: float = 0.0
    grad_clip: float = 5.0  # max gradient norm; 0 = off
    reinforce_weight: float = 1.0
    seed: int = 0
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    threads: int = 0  # torch intra-op threads on CPU; 0 = torch's default
    log_every: int = 50  # steps between progress updates (each one syncs with the device)
    checkpoint_every: int = 0  # steps between mid-epoch checkpoints; 0 = at epoch ends only
    amp: bool = False  # bf16 autocast of the model's matmuls (ram/training/speed.py)
    compile: bool = False  # torch.compile the per-glimpse step (needs a C++ compiler on CPU)
    cuda_graphs: bool = False  # CUDA only: compile with CUDA-graph replay ('reduce-overhead')


@dataclass
class EvalConfig:
    batch_size: int = 1000
    mc_samples: int = 10  # rollouts averaged for the MC test error
    select: str = "deterministic"  # validation error used to pick the best checkpoint


@dataclass
class LoggerConfig:
    wandb: str = "auto"  # auto (online if logged in, else offline), online, offline, disabled
    project: str | None = None  # null = $WANDB_PROJECT, else "ram"
    entity: str | None = None  # null = $WANDB_ENTITY, else your default entity
    init_timeout: float = 15.0  # seconds to wait for the server before falling back to offline
    log_checkpoint: bool = False  # upload checkpoints/best.pt as a wandb artifact at the end


@dataclass
class ViewConfig:
    every: int = 0  # epochs between rollout GIFs in RUN_DIR/rollouts/ (also sent to the logger); 0 = off
    n: int = 16  # validation canvases drawn in each GIF (the same ones every time)


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    view: ViewConfig = field(default_factory=ViewConfig)


CHOICES = {
    "data.benchmark": tuple(BENCHMARKS),
    "model.name": tuple(MODELS),  # ram/models/registry.py
    "model.core": ("rnn", "lstm"),
    "model.rnn_init": ("identity", "default"),
    "model.start": ("center", "random", "learned"),
    "train.lr_schedule": ("cosine", "linear", "exponential", "plateau", "constant"),
    "train.reinforce_reduce": ("sum", "mean"),
    "eval.select": ("deterministic", "single"),
    "train.lr_scaling": ("none", "linear", "sqrt"),
    "logger.wandb": ("auto", "online", "offline", "disabled"),
}
POSITIVE = ("data.canvas_size", "data.val_size", "model.glimpse_size", "model.scales", "model.glimpses",
            "model.glimpse_hidden", "model.loc_hidden", "model.hidden", "model.loc_std", "model.fc_hidden",
            "model.cnn_width", "train.epochs", "train.batch_size", "train.lr", "train.log_every", "train.rollouts", "train.lr_gamma",
            "train.lr_patience", "eval.batch_size",
            "eval.mc_samples", "logger.init_timeout", "view.n")
NON_NEGATIVE = ("data.distractors", "data.train_size", "train.lr_min", "train.weight_decay", "train.grad_clip",
                "train.reinforce_weight", "train.threads", "train.early_stop", "train.checkpoint_every", "view.every")


# YAML 1.1 reads 1e-4 as a string (it wants 1.0e-4); a float field takes it as the number it means
FLOAT_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def _coerce(value, annotation, where: str):
    """value converted to the annotated type, or a ConfigError."""
    if isinstance(annotation, str):
        annotation = eval(annotation, vars(typing) | {"int": int, "float": float, "str": str, "bool": bool})
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
            setattr(node, key, _coerce(value, known[key].type, f"{source}: {where}"))


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
    flat = {f"{s}.{k}": v for s, section in to_dict(cfg).items() for k, v in section.items()}
    for key, allowed in CHOICES.items():
        if flat[key] not in allowed:
            raise ConfigError(f"{key}={flat[key]!r} is not one of {', '.join(allowed)}")
    for key in POSITIVE:
        if flat[key] <= 0:
            raise ConfigError(f"{key}={flat[key]} must be greater than 0")
    for key, value in flat.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{key}={value} must be a finite number")
    for key in NON_NEGATIVE:
        if flat[key] < 0:
            raise ConfigError(f"{key}={flat[key]} must not be negative")
    d, m, t = cfg.data, cfg.model, cfg.train
    for key in ("train.seed", "data.canvas_seed"):
        if not 0 <= flat[key] < 2**32:
            raise ConfigError(f"{key}={flat[key]} must be between 0 and 2**32-1")
    if not DEVICE.fullmatch(t.device):
        raise ConfigError(f"train.device={t.device!r} is not a device: use auto, cpu, cuda or cuda:N")
    if t.lr_min > t.lr:
        raise ConfigError(f"train.lr_min={t.lr_min} is above train.lr={t.lr}: the schedule decays from lr to lr_min")
    if m.loc_std_final is not None and not 0 < m.loc_std_final:
        raise ConfigError(f"model.loc_std_final={m.loc_std_final} must be greater than 0 (or null for a fixed std)")
    problem = MODELS[m.name].config_problem(cfg)  # what this kind of model cannot do
    if problem:
        raise ConfigError(problem)
    if t.lr_gamma >= 1:
        raise ConfigError(f"train.lr_gamma={t.lr_gamma} must be below 1: the plateau schedule lowers the learning rate")
    if d.train_size and t.batch_size > d.train_size:
        raise ConfigError(f"train.batch_size={t.batch_size} is larger than data.train_size={d.train_size}: "
                          "lower the batch size or use more digits")
    if d.canvas_size < 28:
        raise ConfigError(f"data.canvas_size={d.canvas_size} must be at least 28 (an MNIST digit is 28x28)")
    if d.distractors and d.canvas_size < 8:
        raise ConfigError(f"data.canvas_size={d.canvas_size} is too small for 8x8 distractors")
    largest = m.glimpse_size * 2 ** (m.scales - 1)
    if largest > 4 * d.canvas_size:
        raise ConfigError(f"model.glimpse_size={m.glimpse_size} with model.scales={m.scales} makes a {largest}px "
                          f"patch, more than 4x the {d.canvas_size}px canvas: lower one of them")
    if d.data_dir is not None and not Path(d.data_dir).expanduser().is_dir():
        raise ConfigError(f"data.data_dir={d.data_dir!r} does not exist: point it at a folder with the MNIST files")
    if not 0 < d.val_size < 60000:
        raise ConfigError(f"data.val_size={d.val_size} must be between 1 and 59999")
    if cfg.view.every and cfg.view.n > d.val_size:
        raise ConfigError(f"view.n={cfg.view.n} is more than the data.val_size={d.val_size} validation canvases")
    if d.train_size > 60000 - d.val_size:
        raise ConfigError(f"data.train_size={d.train_size} exceeds the {60000 - d.val_size} training digits left "
                          "after data.val_size")
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
