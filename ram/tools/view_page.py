"""The self-contained index.html of ``python -m ram.view``: every image is a data URI, so the page
works when opened straight from disk and can be mailed as one file.

One grid frame per glimpse plus the answer; a slider, buttons and keys step through them. Each
sample's card crops its cell out of the current grid frame (a CSS sprite, so no image is stored
twice) and marks the current glimpse on its retina strip. Mistakes are listed first.
"""

from __future__ import annotations

import html
import json

from ram.tools.draw import Grid, Trace, strip_layout

STYLE = """
body { background: #18181c; color: #e8e8ea; font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 8px; }
.meta { color: #9a9aa6; margin: 0 0 12px; }
.controls { display: flex; gap: 8px; align-items: center; margin: 8px 0 12px; flex-wrap: wrap; }
button { background: #2c2c34; color: #e8e8ea; border: 1px solid #4a4a56; border-radius: 4px; padding: 4px 10px;
         font: inherit; cursor: pointer; }
button:hover { background: #3a3a44; }
#slider { width: 260px; }
#step { font-weight: 600; min-width: 190px; }
.hint { color: #7a7a86; font-size: 12px; }
img { image-rendering: pixelated; }
.cards { display: flex; flex-direction: column; gap: 10px; }
.card { display: flex; gap: 14px; align-items: flex-start; background: #202026; padding: 8px;
        border-left: 4px solid #28c850; }
.card.wrong { border-left-color: #eb3232; }
.sprite { flex: none; image-rendering: pixelated; background-repeat: no-repeat; }
.strip { position: relative; flex: none; }
.strip img { display: block; }
.hl { position: absolute; border: 2px solid #ffffff; pointer-events: none; }
.empty { color: #7a7a86; }
"""

SCRIPT = """
const slider = document.getElementById('slider'), stepText = document.getElementById('step');
const frame = document.getElementById('frame'), playButton = document.getElementById('play');
let t = 0, timer = null;
function show(i) {
  t = Math.max(0, Math.min(T, i));
  frame.src = FRAMES[t];
  slider.value = t;
  stepText.textContent = t < T ? `glimpse ${t + 1} / ${T}` : `answer after ${T} glimpses`;
  document.body.dataset.frame = t;
  for (const card of document.querySelectorAll('.card')) {
    const sprite = card.querySelector('.sprite');
    sprite.style.backgroundImage = `url(${FRAMES[t]})`;
    const hl = card.querySelector('.hl');
    hl.style.display = t < T ? 'block' : 'none';
    hl.style.left = (STRIP.x0 + Math.min(t, T - 1) * STRIP.step - 3) + 'px';
  }
}
function play() {
  if (timer) { clearInterval(timer); timer = null; playButton.textContent = '\\u25B6 play'; return; }
  if (t >= T) show(0);
  playButton.textContent = '\\u275A\\u275A pause';
  timer = setInterval(() => { if (t >= T) play(); else show(t + 1); }, 800);
}
document.getElementById('first').onclick = () => show(0);
document.getElementById('prev').onclick = () => show(t - 1);
document.getElementById('next').onclick = () => show(t + 1);
document.getElementById('last').onclick = () => show(T);
playButton.onclick = play;
slider.oninput = () => show(Number(slider.value));
document.addEventListener('keydown', (e) => {
  if (e.target === slider && (e.key === 'ArrowLeft' || e.key === 'ArrowRight')) return;  // the slider moves itself
  const keys = {ArrowRight: () => show(t + 1), ArrowLeft: () => show(t - 1), Home: () => show(0),
                End: () => show(T), ' ': play};
  if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
});
show(0);
"""


def _card(trace: Trace, grid: Grid, i: int, strip_uri: str) -> str:
    T, _, k, g, _ = trace.glimpses.shape
    lay = strip_layout(g, k)
    ox, oy = grid.origin(i)
    ok = bool(trace.correct[i])
    top = trace.probs[i].max()
    verdict = "right" if ok else "wrong"
    title = (f"canvas #{trace.indices[i]}: true {trace.labels[i]}, guess {trace.preds[i]} "
             f"(p={top:.2f}, {verdict})")
    return (f'<div class="card {verdict}" id="sample-{i}" title="{html.escape(title)}">'
            f'<div class="sprite" style="width:{grid.cell}px;height:{grid.cell}px;'
            f'background-position:-{ox}px -{oy}px"></div>'
            f'<div class="strip"><img src="{strip_uri}" alt="{html.escape(title)}">'
            f'<div class="hl" style="top:{lay.y0 - 3}px;width:{lay.patch + 2}px;height:{lay.height + 2}px"></div>'
            f'</div></div>')


def page(meta: dict, trace: Trace, grid: Grid, frame_uris: list[str], strip_uris: list[str]) -> str:
    T = trace.locations.shape[0]
    k, g = trace.glimpses.shape[2:4]
    lay = strip_layout(g, k)
    right = int(trace.correct.sum())
    # mistakes first, the most confident ones first: those say most about the policy
    order = sorted(range(len(trace.labels)), key=lambda i: (bool(trace.correct[i]), -float(trace.probs[i].max())))
    wrong = [_card(trace, grid, i, strip_uris[i]) for i in order if not trace.correct[i]]
    good = [_card(trace, grid, i, strip_uris[i]) for i in order if trace.correct[i]]
    m = {key: html.escape(str(v)) for key, v in meta.items()}
    facts = (f"{m.get('benchmark', '?')} ({m.get('canvas_size', '?')}x{m.get('canvas_size', '?')}), "
             f"{m.get('glimpses', T)} glimpses of {m.get('scales', k)} scales of {m.get('glimpse_size', g)}x"
             f"{m.get('glimpse_size', g)}; checkpoint {m.get('checkpoint', '?')} (epoch {m.get('epoch', '?')}); "
             f"{m.get('split', '?')} canvases, {m.get('policy', '?')} policy, seed {m.get('seed', '?')}"
             f"{', mistakes only' if meta.get('mistakes_only') else ''}: <b>{right}/{len(trace.labels)} right</b>")
    data = (f"const T = {T};\nconst STRIP = {json.dumps({'x0': lay.x0, 'step': lay.step})};\n"
            f"const FRAMES = {json.dumps(frame_uris)};\n")
    none = '<p class="empty">none</p>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>RAM glimpse rollouts</title>
<style>{STYLE}</style></head>
<body data-frame="0">
<h1>RAM glimpse rollouts</h1>
<p class="meta">{facts}</p>
<p class="meta">Boxes: the retina's patches at the current glimpse, finest first (colours as on the strips);
red dots: the path so far. Strips: what the retina returned at each glimpse (one column per glimpse,
one row per scale) and the class probabilities after the last glimpse.</p>
<div class="controls">
<button id="first" title="first glimpse (Home)">&laquo; first</button>
<button id="prev" title="previous (&larr;)">&#x25C0; prev</button>
<button id="play" title="play / pause (space)">&#x25B6; play</button>
<button id="next" title="next (&rarr;)">next &#x25B6;</button>
<button id="last" title="the answer (End)">answer &raquo;</button>
<input type="range" id="slider" min="0" max="{T}" value="0" aria-label="time step">
<span id="step">glimpse 1 / {T}</span>
<span class="hint">keys: &larr; &rarr; step, Home / End, space play</span>
</div>
<img id="frame" alt="all samples at the current step" width="{grid.width}" height="{grid.height}">
<h2>Mistakes ({len(wrong)})</h2>
<div class="cards">{''.join(wrong) or none}</div>
<h2>Right ({len(good)})</h2>
<div class="cards">{''.join(good) or none}</div>
<script>
{data}{SCRIPT}</script>
</body></html>
"""
