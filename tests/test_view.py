"""The rollout viewer: a checkpoint trained here for real, its GIF, contact sheet, strips and page, the
trainer's periodic GIFs, and the page driven in a real headless Chromium."""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import train
from envs.render import BOX_COLOURS
from envs.retina import Retina, patch_corners
from ram.tools import draw, view
from ram.training.checkpoint import save_checkpoint
from ram.training.config import load_config
from ram.records.logger import RunLogger
from ram.models.ram import RAM

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # ignored by git; screenshots land here
T = 4  # glimpses of the test checkpoint


@pytest.fixture(scope="module")
def run(data_dir, tmp_path_factory):
    """A RAM trained for one tiny epoch on 60x60 cluttered MNIST, drawing its rollouts after the epoch;
    returns (run dir, the calls the trainer made to log_media)."""
    run_dir = tmp_path_factory.mktemp("view") / "run"
    calls = []
    original = RunLogger.log_media
    RunLogger.log_media = lambda self, *a: (calls.append(a), original(self, *a))[1]
    try:
        rc = train.main(["--out", str(run_dir), "data.train_size=256", "data.val_size=500", "train.epochs=1",
                         "train.batch_size=64", "eval.batch_size=1000", "eval.mc_samples=1", f"model.glimpses={T}",
                         "model.hidden=64", "model.glimpse_hidden=32", "model.loc_hidden=32",
                         "view.every=1", "view.n=4"])
    finally:
        RunLogger.log_media = original
    assert rc == 0
    return run_dir, calls


def gif_frames(path: Path) -> list[np.ndarray]:
    im = Image.open(path)
    out = []
    for i in range(im.n_frames):
        im.seek(i)
        out.append(np.asarray(im.convert("RGB")))
    return out


def assert_boxes_where_recorded(images: list[np.ndarray], trace: draw.Trace, grid: draw.Grid) -> int:
    """Every box edge of every glimpse sits at the pixels patch_corners gives for the recorded location,
    in the box's colour; frame T repeats the last glimpse's boxes. Returns how many pixels it checked."""
    steps, B, k, g = trace.glimpses.shape[:4]
    assert len(images) == steps + 1
    checked = 0
    for t, image in enumerate(images):
        loc = torch.as_tensor(trace.locations[min(t, steps - 1)], dtype=torch.float32)  # B, 2
        corners = patch_corners(loc, g, k, grid.size).numpy()  # B, k, 2 canvas pixels
        for i in range(B):
            for s in range(k):
                x0, y0 = corners[i, s]
                w = g * 2**s
                left, top = grid.pixel(i, x0, y0)
                right, bottom = grid.pixel(i, x0 + w, y0 + w)  # one past the box, in frame pixels
                mid_x, mid_y = (left + right) // 2, (top + bottom) // 2
                colour = BOX_COLOURS[s % len(BOX_COLOURS)]
                for col, row in ((mid_x, top), (mid_x, bottom - 1), (left, mid_y), (right - 1, mid_y),
                                 (left, top), (right - 1, bottom - 1)):
                    assert tuple(image[row, col]) == tuple(colour), (t, i, s, col, row, image[row, col])
                    checked += 1
    return checked


def test_trainer_writes_rollout_gifs_and_hands_them_to_the_logger(run):
    run_dir, calls = run
    gif = run_dir / "rollouts" / "epoch_001.gif"
    assert gif.is_file()
    assert calls == [("rollouts", gif, 4)]  # 256 digits / 64 per step = 4 steps in the epoch
    assert Image.open(gif).n_frames == T + 1


def test_view_cli_writes_gif_sheet_strips_and_page(run, tmp_path):
    run_dir, _ = run
    out = tmp_path / "view"
    assert view.main([str(run_dir), "--n", "6", "--out", str(out), "--split", "val"]) == 0
    gif, sheet = Image.open(out / "rollouts.gif"), Image.open(out / "rollouts.png")
    assert gif.n_frames == T + 1
    model, cfg, _ = view.load_agent(run_dir)
    grid = draw.make_grid(view.record(model, cfg, "val", n=6))  # the CLI's defaults: deterministic, seed 0
    assert (grid.cols, grid.rows) == (3, 2) and 150 < grid.cell < 330  # about 240 screen pixels a cell
    assert gif.size == sheet.size == (grid.width, grid.height)
    strips = sorted((out / "samples").glob("*.png"))
    assert len(strips) == 6 and all(Image.open(p).size == Image.open(strips[0]).size for p in strips)
    lay = draw.strip_layout(12, 3)
    assert Image.open(strips[0]).size[0] > lay.x0 + T * lay.step  # T patch columns, then the bars
    html = (out / "index.html").read_text()
    assert html.count("data:image/png;base64,") == (T + 1) + 6 and "src=\"rollouts" not in html


def test_boxes_sit_where_the_recorded_locations_say(run, tmp_path):
    run_dir, _ = run
    model, cfg, _ = view.load_agent(run_dir)
    trace = view.record(model, cfg, "val", n=5, deterministic=False, seed=3)
    assert trace.locations.shape == (T, 5, 2) and trace.glimpses.shape == (T, 5, 3, 12, 12)
    # the recorded glimpse t is what the retina returns at recorded location t
    retina = Retina(12, 3)
    canvases = torch.as_tensor(trace.canvases, dtype=torch.float32)
    for t in range(T):
        seen = retina(canvases, torch.as_tensor(trace.locations[t]))
        assert torch.allclose(seen, torch.as_tensor(trace.glimpses[t]), atol=1e-6)
    paths = view.write_view(trace, tmp_path / "v", {"split": "val"})
    grid = draw.make_grid(trace)
    images = gif_frames(paths["gif"])
    assert images[0].shape == (grid.height, grid.width, 3)
    assert assert_boxes_where_recorded(images, trace, grid) == (T + 1) * 5 * 3 * 6
    sheet = np.asarray(Image.open(paths["png"]).convert("RGB"))
    assert (sheet == images[-1]).all()  # the contact sheet is the last frame
    for i, ok in enumerate(trace.correct):  # the verdict frame: green when right, red when wrong
        ox, oy = grid.origin(i)
        assert tuple(images[-1][oy + grid.cell // 2, ox - 2]) == (draw.RIGHT if ok else draw.WRONG)
        assert tuple(images[0][oy + grid.cell // 2, ox - 2]) == draw.BACKGROUND  # no verdict before the end


@pytest.mark.parametrize("size,bench,glimpse,scales", [(28, "mnist28", 8, 1), (100, "cluttered100", 12, 4),
                                                           (200, "cluttered60", 12, 3)])
def test_every_canvas_size_draws_exact_boxes(data_dir, tmp_path, size, bench, glimpse, scales):
    """An untrained agent starting at random locations: boxes run past the edges, so the margin shows."""
    cfg = load_config(None, [f"data.benchmark={bench}", f"data.canvas_size={size}", "data.val_size=100",
                             f"model.glimpse_size={glimpse}", f"model.scales={scales}", "model.glimpses=3",
                             "model.start=random"])
    torch.manual_seed(0)
    trace = view.record(RAM.from_config(cfg), cfg, "val", n=3, deterministic=False, seed=1)
    path = tmp_path / "r.gif"
    view.write_gif(trace, path)
    grid = draw.make_grid(trace)
    assert grid.margin > 0 and grid.cell == (size + 2 * grid.margin) * grid.zoom
    assert assert_boxes_where_recorded(gif_frames(path), trace, grid) > 0
    assert Image.open(path).size == (grid.width, grid.height)


def test_mistakes_only_shows_only_mistakes(run):
    run_dir, _ = run
    model, cfg, _ = view.load_agent(run_dir)
    trace = view.record(model, cfg, "val", n=7, mistakes_only=True)
    assert len(trace.labels) == 7 and not trace.correct.any()
    assert len(set(trace.indices.tolist())) == 7


def test_default_output_goes_into_the_run_dir(run):
    run_dir, _ = run
    assert view.main([str(run_dir / "checkpoints" / "last.pt"), "--n", "2", "--split", "val", "--stochastic"]) == 0
    assert (run_dir / "view" / "index.html").is_file()
    assert Image.open(run_dir / "view" / "rollouts.gif").n_frames == T + 1


def test_a_cnn_checkpoint_gets_one_clear_line(tmp_path, capsys):
    path = tmp_path / "cnn.pt"
    save_checkpoint({"config": {"model": {"name": "cnn"}}, "model": {}}, path)
    assert view.main([str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error:") and "'cnn'" in err and "RAM" in err


def test_bad_requests_get_one_line(run, tmp_path, capsys):
    run_dir, _ = run
    assert view.main([str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert view.main([str(run_dir), "--split", "val", "--n", "501", "--out", str(tmp_path / "o")]) == 2
    assert "500 canvases" in capsys.readouterr().err


# ----------------------------------------------------------------------------------- the page, in a browser
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def chromium_or_skip() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    missing = "Debian's chromium package" if exe is None else None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "the playwright package (pip install -e '.[dev]')"
    if missing:
        message = f"BROWSER TEST NOT RUN: {missing} is missing; install it (see .ci/run)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs both: a skip there would hide a broken page
        pytest.skip(message)
    return exe


@contextlib.contextmanager
def chromium_page(html_file: Path, tmp_path: Path, width: int = 1000, height: int = 900):
    """(page, errors): html_file open in headless Chromium, and the script errors it raised so far."""
    exe = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            tempfile.mkdtemp(dir=tmp_path), executable_path=exe, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": width, "height": height})
        try:
            page = browser.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(html_file.as_uri())
            yield page, errors
        finally:
            browser.close()


def test_page_steps_through_time_in_headless_chromium(run, tmp_path):
    run_dir, _ = run
    out = tmp_path / "page"
    assert view.main([str(run_dir), "--n", "4", "--out", str(out), "--split", "val"]) == 0
    with chromium_page(out / "index.html", tmp_path) as (page, errors):
        state = lambda: (page.text_content("#step"), page.get_attribute("#frame", "src"),  # noqa: E731
                         page.evaluate("document.body.dataset.frame"))
        first = state()
        assert first[0] == f"glimpse 1 / {T}" and first[1].startswith("data:image/png") and first[2] == "0"
        page.keyboard.press("ArrowRight")
        second = state()
        assert second[0] == f"glimpse 2 / {T}" and second[1] != first[1] and second[2] == "1"
        page.click("#next")
        assert state()[0] == f"glimpse 3 / {T}"
        page.keyboard.press("End")
        last = state()
        assert last[0] == f"answer after {T} glimpses" and last[2] == str(T)
        assert last[1] not in (first[1], second[1])
        # each card shows its own crop of the frame on screen
        sprite = page.evaluate("document.querySelector('.card .sprite').style.backgroundImage")
        assert last[1] in sprite
        page.click("#first")
        assert state() == first
        assert page.locator(".card").count() == 4
        cards = page.evaluate("[...document.querySelectorAll('.card')].map(c => c.classList.contains('wrong'))")
        assert cards == sorted(cards, reverse=True)  # mistakes are listed first
        page.keyboard.press("ArrowRight")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "view_index.png"), full_page=True)
    assert not errors
    assert (ARTIFACTS / "view_index.png").stat().st_size > 10_000
