"""See a Catch agent play: the screen, where it looked (one box per retina scale), the paddle's move
each frame, and whether it caught the ball. ``python -m ram.view RUN_DIR`` on a Catch run comes here.

Writes into the output folder:
    games.gif     the games on a grid, one frame per game frame, then the outcome (green caught, red missed)
    games.png     the last frame, as a contact sheet
    index.html    the same frames in one self-contained page that steps through time (slider, buttons, keys)
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from envs.render import render_glimpses
from ram.build import make_env
from ram.tools import draw

ARROWS = {0: "<", 1: "=", 2: ">"}  # left, stay, right (ASCII: the default bitmap font has no arrows)
CAUGHT, MISSED = (40, 200, 80), (235, 50, 50)
ZOOM, MARGIN, CAPTION = 6, 3, 18  # screen pixels per game pixel, game pixels around, caption height


@dataclass
class Games:
    screens: np.ndarray  # F, N, S, S uint8 (F = frames = moves + 1)
    locations: np.ndarray  # F, N, 2
    moves: np.ndarray  # F - 1, N
    caught: np.ndarray  # N bool
    indices: np.ndarray  # N: the split's fixed game numbers


@torch.no_grad()
def record_games(model, cfg, split: str = "test", n: int = 8, deterministic: bool = True, seed: int = 0,
                 device="cpu") -> Games:
    """n of the split's fixed games, picked by ``seed`` (which also seeds a sampled policy)."""
    env = make_env(cfg, split, n, device)
    if n > env.size:
        raise ValueError(f"--n {n} is more than the {env.size} games of the {split} split: ask for fewer")
    index = torch.randperm(env.size, generator=torch.Generator().manual_seed(seed))[:n].to(env.device)
    env.generator.manual_seed(seed)
    p = model.record(env, deterministic, torch.Generator(env.device).manual_seed(seed), {"indices": index})
    return Games(p.screens.cpu().numpy(), p.locations.cpu().numpy(), p.moves.cpu().numpy(),
                 p.reward.bool().cpu().numpy(), index.cpu().numpy())


def game_frame(g: Games, t: int, size: int, scales: int, title: str) -> Image.Image:
    """Frame t of every game on one grid; past the last frame, the outcome."""
    F, N = g.moves.shape[0] + 1, len(g.caught)
    last = min(t, F - 1)
    cells = [render_glimpses(g.screens[last, i], g.locations[max(0, last - 3):last + 1, i], size, scales,
                             zoom=ZOOM, margin=MARGIN) for i in range(N)]  # the box and a short trail
    h, w = cells[0].shape[:2]
    cols = min(N, 4)
    rows = -(-N // cols)
    image = Image.new("RGB", (cols * (w + 8) + 8, 28 + rows * (h + CAPTION + 8)), (24, 24, 28))
    pen = ImageDraw.Draw(image)
    pen.text((8, 6), title, fill=(232, 232, 234), font=draw.font(14))
    for i, cell in enumerate(cells):
        x, y = 8 + (i % cols) * (w + 8), 28 + (i // cols) * (h + CAPTION + 8)
        image.paste(Image.fromarray(cell), (x, y))
        if t >= F:  # the outcome
            colour = CAUGHT if g.caught[i] else MISSED
            pen.rectangle([x, y, x + w - 1, y + h - 1], outline=colour, width=3)
            text = "caught" if g.caught[i] else "missed"
        else:
            colour = (200, 200, 210)
            text = f"move {ARROWS[int(g.moves[t, i])]}" if t < F - 1 else "ball lands"
        pen.text((x, y + h + 2), f"game {g.indices[i]}: {text}", fill=colour, font=draw.font(12))
    return image


def frames(g: Games, size: int, scales: int, heading: str = "") -> list[Image.Image]:
    F = g.moves.shape[0] + 1
    caught = int(g.caught.sum())
    return [game_frame(g, t, size, scales, f"{heading}frame {t + 1}/{F}" if t < F else
                       f"{heading}{caught}/{len(g.caught)} caught") for t in range(F + 1)]


def write_games_gif(g: Games, path: Path, size: int, scales: int, heading: str = "") -> list[Image.Image]:
    images = frames(g, size, scales, heading)
    path.parent.mkdir(parents=True, exist_ok=True)
    draw.save_gif(images, path)
    return images


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Catch: {title}</title>
<style>
body {{ background: #18181c; color: #e8e8ea; font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }} .meta {{ color: #9a9aa6; margin: 0 0 12px; }}
.controls {{ display: flex; gap: 8px; align-items: center; margin: 8px 0 12px; }}
button {{ background: #2c2c34; color: #e8e8ea; border: 1px solid #4a4a56; border-radius: 4px; padding: 4px 10px; }}
#step {{ font-weight: 600; min-width: 170px; }} img {{ image-rendering: pixelated; }}
li.missed {{ color: #eb3232; }} li.caught {{ color: #28c850; }} code {{ color: #c8c8d0; }}
</style></head><body>
<h1>Catch: {caught} of {n} games caught</h1>
<p class="meta">{meta}</p>
<div class="controls"><button id="first">|&lt;</button><button id="prev">&lt;</button>
<input id="slider" type="range" min="0" max="{last}" value="0"><button id="next">&gt;</button>
<button id="end">&gt;|</button><span id="step"></span></div>
<img id="frame" alt="games">
<h2>Games</h2><ul id="games">{games}</ul>
<script>
const FRAMES = {frames}, T = FRAMES.length - 1;
const slider = document.getElementById('slider'), stepText = document.getElementById('step');
let t = 0;
function show(i) {{
  t = Math.max(0, Math.min(T, i));
  document.getElementById('frame').src = FRAMES[t];
  slider.value = t; document.body.dataset.frame = t;
  stepText.textContent = t < T ? `frame ${{t + 1}} / ${{T}}` : 'outcome';
}}
document.getElementById('first').onclick = () => show(0);
document.getElementById('prev').onclick = () => show(t - 1);
document.getElementById('next').onclick = () => show(t + 1);
document.getElementById('end').onclick = () => show(T);
slider.oninput = () => show(Number(slider.value));
document.addEventListener('keydown', (e) => {{
  const keys = {{ArrowRight: () => show(t + 1), ArrowLeft: () => show(t - 1), Home: () => show(0), End: () => show(T)}};
  if (keys[e.key] && e.target !== slider) {{ e.preventDefault(); keys[e.key](); }}
}});
show(0);
</script></body></html>
"""


def write_game_view(g: Games, out: Path, meta: dict, size: int, scales: int) -> dict[str, Path]:
    """games.gif, games.png and index.html in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    images = write_games_gif(g, out / "games.gif", size, scales)
    draw.to_palette(images[-1]).save(out / "games.png", optimize=True)
    uris = ["data:image/png;base64," + base64.b64encode(draw.png_bytes(im)).decode() for im in images]
    games = "".join(
        f'<li class="{"caught" if c else "missed"}">game {i}: {"caught" if c else "missed"}, moves '
        f'<code>{"".join(ARROWS[int(m)] for m in g.moves[:, k])}</code></li>'
        for k, (i, c) in enumerate(zip(g.indices, g.caught)))
    page = PAGE.format(title=html.escape(meta.get("checkpoint", "")), caught=int(g.caught.sum()), n=len(g.caught),
                       meta=html.escape(", ".join(f"{k} {v}" for k, v in meta.items())), last=len(uris) - 1,
                       games=games, frames=json.dumps(uris))
    (out / "index.html").write_text(page, encoding="utf-8")
    return {"gif": out / "games.gif", "png": out / "games.png", "html": out / "index.html"}
