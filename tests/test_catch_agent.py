"""RAM plays Catch: the game heads' gradient routing, the config rules, training through the one trainer
(short runs learn, resume is exact), and the viewer's games."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

import train
from envs.catch import CatchVectorEnv, random_agent_catch_rate
from ram.build import build_model, make_env
from ram.errors import ConfigError
from ram.models.catch_agent import CatchRAM, ScreenAgent
from ram.models.play import catch_rate, play, reinforce_loss
from ram.tools import view
from ram.training.config import load_config
from tests.conftest import REPO
from tests.test_view import ARTIFACTS, chromium_page

CONFIG = str(REPO / "configs/catch.yaml")
TINY = ["game.episodes=256", "train.batch_size=32", "eval.batch_size=500", "model.hidden=64",
        "model.glimpse_hidden=32", "model.loc_hidden=32", "logger.wandb=disabled"]


def grads(model) -> dict[str, bool]:
    """Which parameters got a non-zero gradient, by their top-level module."""
    out: dict[str, bool] = {}
    for name, p in model.named_parameters():
        top = name.split(".")[0]
        out[top] = out.get(top, False) or (p.grad is not None and bool(p.grad.abs().sum() > 0))
    return out


def played(model, batch: int = 16):
    env = CatchVectorEnv(num_envs=batch, backend="torch", glimpse_size=6, scales=3)
    env.reset(seed=0)
    return play(model, env, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("to_core, trained", [
    (False, {"glimpse_net": False, "core": False, "location_net": False, "move_net": False, "baseline_net": True}),
    (True, {"glimpse_net": True, "core": True, "location_net": False, "move_net": False, "baseline_net": True}),
], ids=["detached", "baseline_to_core"])
def test_the_baselines_error_trains_the_baseline_and_the_core_only_when_asked(to_core, trained):
    torch.manual_seed(0)
    model = CatchRAM(hidden=32, glimpse_hidden=16, loc_hidden=16, baseline_to_core=to_core)
    p = played(model)
    F.mse_loss(p.baselines, p.reward[None].expand_as(p.baselines)).backward()
    assert grads(model) == trained


def test_the_entropy_bonus_is_the_move_distributions_and_trains_only_the_policy_side():
    torch.manual_seed(0)
    model = CatchRAM(hidden=32, glimpse_hidden=16, loc_hidden=16)
    p = played(model)
    assert (p.entropies > 0).all() and (p.entropies <= math.log(3) + 1e-6).all()  # 3 moves: at most ln 3
    (-p.entropies.mean()).backward()
    assert grads(model) == {"glimpse_net": True, "core": True, "location_net": False, "move_net": True,
                            "baseline_net": False}
    _, with_bonus = reinforce_loss(p, entropy_weight=0.5)
    _, without = reinforce_loss(p)
    assert float(without["loss"] - with_bonus["loss"]) == pytest.approx(0.5 * float(p.entropies.mean().detach()), rel=1e-5)


def test_reinforce_trains_the_move_head_the_core_and_the_glimpse_net_but_not_the_baseline():
    torch.manual_seed(0)
    model = CatchRAM(hidden=32, glimpse_hidden=16, loc_hidden=16)
    p = played(model)
    (-(p.reward[None] - p.baselines.detach() - 0.5) * p.log_probs).sum(0).mean().backward()
    assert grads(model) == {"glimpse_net": True, "core": True, "location_net": True, "move_net": True,
                            "baseline_net": False}


def test_the_location_heads_reinforce_does_not_reach_the_core():
    torch.manual_seed(0)
    model = CatchRAM(hidden=32, glimpse_hidden=16, loc_hidden=16)
    with torch.no_grad():  # a move head that reads nothing: any core gradient would come from the locations
        model.move_net.weight.zero_()
    p = played(model)
    (-(p.reward[None] - 0.5) * p.log_probs).sum(0).mean().backward()
    g = grads(model)
    assert g["location_net"] and not g["core"] and not g["glimpse_net"]


def test_greedy_play_repeats_and_sampled_play_follows_its_generator():
    torch.manual_seed(0)
    model = CatchRAM(hidden=32, glimpse_hidden=16, loc_hidden=16)
    env = CatchVectorEnv(num_envs=32, split="val", backend="torch")
    idx = {"indices": torch.arange(32)}
    a, b = (play(model, env, greedy=True, options=idx) for _ in range(2))
    assert torch.equal(a.moves, b.moves) and torch.equal(a.locations, b.locations)
    c, d = (play(model, env, generator=torch.Generator().manual_seed(5), options=idx) for _ in range(2))
    assert torch.equal(c.moves, d.moves)
    e = play(model, env, generator=torch.Generator().manual_seed(6), options=idx)
    assert not torch.equal(c.moves, e.moves)


def test_the_screen_agent_sees_the_whole_screen_every_frame():
    cfg = load_config(CONFIG, ["model.name=screen_catch", "model.glimpse_size=24", "model.scales=1"])
    env = make_env(cfg, "val", 8, "cpu")
    obs, _ = env.reset(options={"indices": torch.arange(8)})
    assert torch.equal(obs["glimpse"][:, 0], env.screens().float() / 255)
    model = build_model(cfg)
    assert isinstance(model, ScreenAgent)
    p = play(model, env, options={"indices": torch.arange(8)})
    assert (p.locations == 0).all()  # it never moves its view


@pytest.mark.parametrize("args, message", [
    (["data.benchmark=cluttered60"], "model.name='ram_catch' does not play data.benchmark='cluttered60': use one of "
                                     "ram, fc, cnn_paper, cnn"),
    (["model.name=ram"], "model.name='ram' does not play data.benchmark='catch': use one of ram_catch, screen_catch"),
    (["model.name=screen_catch"], "model.name=screen_catch sees the whole 24x24 screen: set model.glimpse_size=24 "
                                  "model.scales=1 model.start=center"),
    (["model.start=learned"], "model.start=learned is not built for Catch"),
    (["train.rollouts=2"], "train.rollouts=2: Catch plays each game once"),
    (["game.paddle_width=30"], "game.paddle_width=30 is wider than game.screen_size=24"),
    (["game.episodes=10"], "game.episodes=10 per epoch is fewer than train.batch_size=256"),
])
def test_bad_game_configs_are_one_line(args, message):
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        load_config(CONFIG, args)


@pytest.mark.parametrize("key, message", [("model.retina_pool=sum", "model.retina_pool=sum is for the Catch agents"),
                                          ("model.baseline_to_core=true", "model.baseline_to_core is for the Catch"),
                                          ("train.entropy=0.01", r"train.entropy=0.01 is for Catch")])
def test_game_only_switches_are_refused_on_digits(key, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [key])


def test_sum_pooling_counts_every_lit_pixel_as_one_at_every_scale():
    model = CatchRAM(retina_pool="sum")
    env = CatchVectorEnv(num_envs=1, backend="torch")
    obs, _ = env.reset(options={"state": [[12, 10, 0, 0]]})  # the ball inside every scale of a centred glimpse
    seen = (obs["glimpse"] * model._gain)[0]  # k, g, g
    # the two finer scales see the ball alone, the coarsest the whole screen: ball and the 2-pixel paddle
    assert [round(float(s.sum()), 4) for s in seen] == [1.0, 1.0, 3.0]
    assert round(float(seen[0].max()), 4) == round(float(seen[1].max()), 4) == 1.0


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """A small Catch run through train.py: the learning rule on a small screen the ball crosses quickly."""
    out = tmp_path_factory.mktemp("catch") / "run"
    args = ["--config", CONFIG, "--out", str(out), *SHORT, "train.epochs=8"]
    assert train.main(args) == 0
    return out


# an 8x8 screen, 7 moves a game: "follow the ball" is found in seconds (measured: 0.51 greedy vs 0.25 random)
SHORT = ["game.screen_size=8", "game.episodes=4096", "model.glimpse_size=4", "model.scales=2", "model.hidden=64",
         "model.glimpse_hidden=32", "model.loc_hidden=32", "train.lr=3e-3", "train.batch_size=64",
         "train.reinforce_reduce=mean", "model.retina_pool=sum", "eval.batch_size=1000", "logger.wandb=disabled",
         "train.threads=1", "train.lr_schedule=cosine", "train.gae_lambda=1", "train.entropy=0",
         "model.baseline_to_core=false"]


def test_a_short_run_catches_far_more_than_the_random_agent(short_run):
    results = json.loads((short_run / "results.json").read_text())
    random_rate = random_agent_catch_rate(episodes=10_000, split="test", screen_size=8)["rate"]
    assert results["test_catch_rate_greedy"] > 1.6 * random_rate, (results, random_rate)
    assert results["test_catch_rate_greedy"] == pytest.approx(1 - results["test_error_deterministic"])
    assert results["test_games"] == 10_000 and results["macs"] > 0
    lines = [json.loads(l) for l in (short_run / "metrics.jsonl").read_text().splitlines()]
    assert [l["epoch"] for l in lines] == [1, 2, 3, 4, 5, 6, 7, 8]


def test_catch_resume_is_exact(tmp_path):
    """Two epochs straight, or one and then a resume for the second (a constant learning rate: the decaying
    schedules stretch with train.epochs), end in the same weights and the same metrics."""
    straight, halves = tmp_path / "straight", tmp_path / "halves"
    TINY = [*globals()["TINY"], "train.lr_schedule=constant"]
    assert train.main(["--config", CONFIG, "--out", str(straight), *TINY, "train.epochs=2"]) == 0
    assert train.main(["--config", CONFIG, "--out", str(halves), *TINY, "train.epochs=1"]) == 0
    assert train.main(["--config", CONFIG, "--out", str(halves), "--resume", *TINY, "train.epochs=2"]) == 0
    a, b = (torch.load(d / "checkpoints/last.pt", weights_only=True) for d in (straight, halves))
    assert a["global_step"] == b["global_step"] == 16  # 256 games / batch 32, twice
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    strip = lambda d: [{k: v for k, v in json.loads(l).items() if "per_s" not in k}  # noqa: E731
                       for l in (d / "metrics.jsonl").read_text().splitlines()]
    assert strip(straight) == strip(halves)


def test_validation_scores_the_fixed_games_greedily(short_run):
    cfg, state = view.load_agent(short_run)[1:]
    model = build_model(cfg)
    model.load_state_dict(state["model"])
    env = make_env(cfg, "val", 1000, "cpu")
    best = min(json.loads(l)["val_error"] for l in (short_run / "metrics.jsonl").read_text().splitlines())
    assert 1 - catch_rate(model, env, greedy=True) == pytest.approx(best)


def test_viewer_writes_a_gif_and_a_page_of_games(short_run, tmp_path, capsys):
    out = tmp_path / "view"
    assert view.main([str(short_run), "--n", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "caught on test games (greedy policy)" in printed
    from PIL import Image

    with Image.open(out / "games.gif") as gif:
        assert gif.n_frames == 8 + 1  # the 8 frames of a game on an 8x8 screen, then the outcome
    assert (out / "games.png").is_file() and "data:image/png" in (out / "index.html").read_text()


def test_viewer_refuses_digit_options_for_a_game(short_run, tmp_path, capsys):
    assert view.main([str(short_run), "--mistakes-only", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == ("error: --mistakes-only and --zoom draw digits: leave them out "
                                               "for a Catch run")


def test_game_page_steps_through_time_in_headless_chromium(short_run, tmp_path):
    out = tmp_path / "page"
    assert view.main([str(short_run), "--n", "4", "--out", str(out), "--split", "val"]) == 0
    with chromium_page(out / "index.html", tmp_path, width=900) as (page, errors):
        state = lambda: (page.text_content("#step"), page.get_attribute("#frame", "src"))  # noqa: E731
        first = state()
        assert first[0] == "frame 1 / 8" and first[1].startswith("data:image/png")
        page.keyboard.press("ArrowRight")
        assert state()[0] == "frame 2 / 8" and state()[1] != first[1]
        page.keyboard.press("End")
        assert state()[0] == "outcome"
        assert page.locator("#games li").count() == 4
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "catch_view.png"), full_page=True)
    assert not errors


def test_the_curriculum_drops_training_balls_straight_until_its_epochs_are_done():
    cfg = load_config(CONFIG, [*TINY, "train.epochs=4", "game.straight_epochs=1"])
    model, env = build_model(cfg), make_env(cfg, "train", 64, "cpu")
    generator = torch.Generator().manual_seed(0)
    model.set_progress(0.2)  # inside the first of 4 epochs
    model.loss(env, {}, generator, cfg.train)
    assert (env.state()[:, 2] == 0).all()  # vx: straight down
    model.set_progress(0.3)
    model.loss(env, {}, generator, cfg.train)
    assert (env.state()[:, 2] != 0).any()
    with pytest.raises(ValueError, match=r"options\['ball_speed'\]=2 must be an int in \[0, ball_speed=1\]"):
        env.reset(options={"ball_speed": 2})
    with pytest.raises(ConfigError, match="game.straight_epochs=5 is more than train.epochs=4"):
        load_config(CONFIG, [*TINY, "train.epochs=4", "game.straight_epochs=5"])


def test_evaluate_scores_a_catch_checkpoint_as_its_run_did(short_run, capsys):
    from ram.tools import evaluate

    assert evaluate.main([str(short_run)]) == 0
    results = json.loads((short_run / "results.json").read_text())
    line = capsys.readouterr().out.strip()
    assert (f"caught greedy {100 * results['test_catch_rate_greedy']:.2f}%, sampled "
            f"{100 * results['test_catch_rate_sampled']:.2f}% of 10000 games") in line


def test_the_comparison_table_sends_a_catch_run_to_its_own_table(short_run, capsys):
    from ram.tools import compare

    assert compare.main([str(short_run)]) == 2
    assert "is a Catch run: this table compares digit classifiers" in capsys.readouterr().err
