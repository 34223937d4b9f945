"""See where a trained RAM looked, what its retina returned, and what it answered.

    python -m ram.view runs/my-run --n 16 --out view/            # a run dir means its checkpoints/best.pt
    python -m ram.view runs/my-run/checkpoints/last.pt --stochastic --split val --mistakes-only

Writes into --out (default RUN_DIR/view):
    rollouts.gif      the samples on a grid: glimpse boxes (one colour per scale) and path at each step,
                      then the guess against the true label (green right, red wrong)
    rollouts.png      the last frame of the GIF, as a contact sheet
    samples/*.png     per sample: the k patches the retina returned at each glimpse, and the class
                      probabilities after the last one
    index.html        all of it in one self-contained page that steps through time, mistakes listed first
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

import torch

from envs.mnist import DataError
from ram.build import build_model, make_env  # the trainer's env, so views match evaluation exactly
from ram.errors import RamError
from ram.models.base import Model
from ram.tools import draw
from ram.training.checkpoint import load_model_checkpoint, load_weights
from ram.training.config import Config

class ViewError(RamError, ValueError):
    """A view that cannot be drawn: a bad request, or a model that makes no glimpses."""


MISTAKE_BATCH = 500  # canvases per rollout while searching a split for mistakes


def checkpoint_path(path: str | Path) -> Path:
    path = Path(path)
    return path / "checkpoints" / "best.pt" if path.is_dir() else path


def default_out(ckpt: Path) -> Path:
    """RUN_DIR/view for a run's checkpoint, else a folder beside the .pt file."""
    return ckpt.parent.parent / "view" if ckpt.parent.name == "checkpoints" else ckpt.with_name(ckpt.stem + "_view")


def load_agent(path: str | Path, data_dir: str | None = None, device="cpu") -> tuple[Model, Config, dict]:
    """The model of a checkpoint (or of a run dir's best one) that shows glimpses, its config and the raw
    checkpoint.

    A data folder saved in the checkpoint that is gone here gives way to ``data_dir``, else
    $RAM_DATA_DIR or the download cache."""
    ckpt = checkpoint_path(path)
    cfg, state = load_model_checkpoint(ckpt, map_location=device)
    model = build_model(cfg).to(device)
    if not model.shows_glimpses:
        raise ViewError(f"{ckpt} is a {cfg.model.name!r} checkpoint, which sees the whole image at once: there are "
                          "no glimpses to view; pass a RAM checkpoint (model.name=ram)")
    if data_dir is not None:
        cfg.data.data_dir = data_dir
    load_weights(model, state, ckpt)
    return model.eval(), cfg, state


@torch.no_grad()
def record(model: Model, cfg: Config, split: str = "test", n: int = 16, deterministic: bool = True, seed: int = 0,
           mistakes_only: bool = False, device="cpu") -> draw.Trace:
    """Rollouts on n fixed canvases of the split, drawn in an order fixed by ``seed`` (which also seeds
    the stochastic policy). With ``mistakes_only`` the split is searched, in that order, for n canvases
    the agent gets wrong (fewer if it makes fewer mistakes)."""
    if split not in ("val", "test"):
        raise ViewError(f"split must be 'val' or 'test', got {split!r}")
    if n < 1:
        raise ViewError(f"--n must be at least 1, got {n}")
    env = make_env(cfg, split, MISTAKE_BATCH if mistakes_only else n, device)
    if n > env.size:
        raise ViewError(f"--n {n} is more than the {env.size} canvases of the {split} split: ask for fewer")
    order = torch.randperm(env.size, generator=torch.Generator().manual_seed(seed)).to(env.device)
    policy = torch.Generator(env.device).manual_seed(seed)
    env.generator.manual_seed(seed)  # random first glimpses, when the model starts at random
    if not mistakes_only:
        index = order[:n]
        r = model.record(env, deterministic, policy, {"indices": index})
        return draw.Trace.from_rollout(r, env.canvases(), index.cpu().numpy())
    found, count, B = [], 0, env.num_envs
    for start in range(0, env.size, B):
        index = order[torch.arange(start, start + B, device=env.device) % env.size]  # the last batch wraps
        r = model.record(env, deterministic, policy, {"indices": index})
        trace = draw.Trace.from_rollout(r, env.canvases(), index.cpu().numpy())
        valid = torch.arange(start, start + B) < env.size
        wrong = (~torch.as_tensor(trace.correct) & valid).nonzero().squeeze(1).numpy()[:n - count]
        if len(wrong):
            found.append(trace.select(wrong))
            count += len(wrong)
        if count >= n:
            break
    if not found:
        raise ViewError(f"the agent makes no mistake on the {env.size} {split} canvases: nothing to show with "
                         "--mistakes-only")
    return draw.Trace.cat(found)


def write_gif(trace: draw.Trace, path: Path, heading: str = "", zoom: int = 0) -> list:
    """The GIF alone (what the trainer logs); returns its frames."""
    grid = draw.make_grid(trace, zoom)
    images = draw.frames(trace, grid, heading)
    path.parent.mkdir(parents=True, exist_ok=True)
    draw.save_gif(images, path)
    return images


def write_view(trace: draw.Trace, out: Path, meta: dict, zoom: int = 0) -> dict[str, Path]:
    """rollouts.gif, rollouts.png, samples/*.png and index.html in ``out``."""
    from ram.tools.view_page import page

    out.mkdir(parents=True, exist_ok=True)
    grid = draw.make_grid(trace, zoom)
    images = draw.frames(trace, grid)
    draw.save_gif(images, out / "rollouts.gif")
    draw.to_palette(images[-1]).save(out / "rollouts.png", optimize=True)
    (out / "samples").mkdir(exist_ok=True)
    strips = []
    for i in range(len(trace.labels)):
        png = draw.png_bytes(draw.retina_strip(trace, i))
        (out / "samples" / f"{i:03d}_canvas{trace.indices[i]}.png").write_bytes(png)
        strips.append(png)
    uri = lambda png: "data:image/png;base64," + base64.b64encode(png).decode()  # noqa: E731
    html = page(meta, trace, grid, [uri(draw.png_bytes(im)) for im in images], [uri(s) for s in strips])
    (out / "index.html").write_text(html, encoding="utf-8")
    return {"gif": out / "rollouts.gif", "png": out / "rollouts.png", "html": out / "index.html",
            "samples": out / "samples"}


def rollout_gif(model: Model, cfg: Config, path: Path, n: int, device, heading: str = "") -> Path:
    """The trainer's periodic view: deterministic rollouts on the same n validation canvases every time
    (validation, so the test split stays unseen until the end). Leaves the model in its mode."""
    was_training = model.training
    model.eval()
    try:
        if model.task == "catch":
            from ram.tools.view_game import record_games, write_games_gif

            games = record_games(model, cfg, "val", n, deterministic=True, seed=0, device=device)
            write_games_gif(games, path, cfg.model.glimpse_size, cfg.model.scales, heading)
            return path
        trace = record(model, cfg, "val", n, deterministic=True, seed=0, device=device)
    finally:
        model.train(was_training)
    write_gif(trace, path, heading)
    return path


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ram.view", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", metavar="RUN_DIR_OR_CHECKPOINT",
                   help="a run directory (uses checkpoints/best.pt) or a .pt file")
    p.add_argument("--n", type=int, default=16, help="how many samples (default 16)")
    p.add_argument("--out", default=None, help="output folder (default: RUN_DIR/view)")
    p.add_argument("--split", choices=("test", "val"), default="test", help="which fixed canvases (default test)")
    policy = p.add_mutually_exclusive_group()
    policy.add_argument("--deterministic", dest="deterministic", action="store_true", default=True,
                        help="look where the policy's mean points (default)")
    policy.add_argument("--stochastic", dest="deterministic", action="store_false",
                        help="sample locations from the Gaussian policy, as in training")
    p.add_argument("--mistakes-only", action="store_true", help="show only canvases the agent gets wrong")
    p.add_argument("--seed", type=int, default=0, help="picks the canvases and the policy's noise (default 0)")
    p.add_argument("--zoom", type=int, default=0,
                   help="screen pixels per canvas pixel (default: about 240 px a canvas)")
    p.add_argument("--data-dir", default=None,
                   help="folder with the MNIST files (default: the run's, else $RAM_DATA_DIR)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    return p.parse_args(argv)


def view_games(model: Model, cfg: Config, state: dict, args) -> int:
    """A Catch run: games.gif, games.png and index.html (ram/tools/view_game.py)."""
    from ram.tools.view_game import record_games, write_game_view

    if args.mistakes_only or args.zoom:
        raise ViewError("--mistakes-only and --zoom draw digits: leave them out for a Catch run")
    if args.n < 1:
        raise ViewError(f"--n must be at least 1, got {args.n}")
    try:
        games = record_games(model, cfg, args.split, args.n, args.deterministic, args.seed, args.device)
    except ValueError as e:
        raise ViewError(str(e)) from None
    ckpt = checkpoint_path(args.checkpoint)
    out = Path(args.out) if args.out else default_out(ckpt)
    meta = {"checkpoint": str(ckpt), "epoch": state.get("epoch"), "split": args.split, "seed": args.seed,
            "policy": "greedy" if args.deterministic else "sampled", "retina": f"{cfg.model.glimpse_size}x"
            f"{cfg.model.glimpse_size}x{cfg.model.scales}", "screen": cfg.game.screen_size}
    paths = write_game_view(games, out, meta, cfg.model.glimpse_size, cfg.model.scales)
    print(f"{int(games.caught.sum())}/{len(games.caught)} caught on {args.split} games ({meta['policy']} policy); "
          f"wrote {paths['gif']}, {paths['png']} and {paths['html']}")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.zoom < 0:
            raise ViewError(f"--zoom must be 0 (automatic) or more, got {args.zoom}")
        model, cfg, state = load_agent(args.checkpoint, args.data_dir, args.device)
        if model.task == "catch":
            return view_games(model, cfg, state, args)
        trace = record(model, cfg, args.split, args.n, args.deterministic, args.seed, args.mistakes_only, args.device)
        ckpt = checkpoint_path(args.checkpoint)
        out = Path(args.out) if args.out else default_out(ckpt)
        meta = {"checkpoint": str(ckpt), "benchmark": cfg.data.benchmark, "canvas_size": cfg.data.canvas_size,
                "epoch": state.get("epoch"), "split": args.split, "seed": args.seed,
                "policy": "deterministic" if args.deterministic else "stochastic",
                "mistakes_only": args.mistakes_only, "glimpse_size": cfg.model.glimpse_size,
                "scales": cfg.model.scales, "glimpses": cfg.model.glimpses}
        paths = write_view(trace, out, meta, args.zoom)
    except (RamError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    right = int(trace.correct.sum())
    print(f"{right}/{len(trace.labels)} right on {args.split} canvases ({meta['policy']} policy); wrote "
          f"{paths['gif']}, {paths['png']}, {paths['samples']}/ and {paths['html']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
