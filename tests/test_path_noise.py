"""benchmarks/path_noise.py: the MC gain split by where the paths' noise is; its modes are train.py's own."""

import importlib.util
import sys
from pathlib import Path

import torch

from ram.build import build_model, make_env
from ram.tools.evaluate import progress
from ram.training.checkpoint import load_model_checkpoint, load_weights

REPO = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("path_noise", REPO / "benchmarks" / "path_noise.py")
path_noise = sys.modules["path_noise"] = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(path_noise)
CKPT = REPO / "pretrained/mnist28_ram7.pt"


def test_one_path_and_the_mc_average_are_the_scorers_and_the_start_alone_is_a_real_ensemble(data_dir, tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "noise"
    assert path_noise.main([str(CKPT), "--samples", "2", "--data-dir", data_dir, "--out", str(out)]) == 0
    errors = __import__("json").loads(out.with_suffix(".json").read_text())["runs"][0]["errors"]
    cfg, state = load_model_checkpoint(CKPT, map_location="cpu")
    cfg.data.data_dir = data_dir
    model = build_model(cfg)
    load_weights(model, state, CKPT)
    model.set_progress(progress(cfg, state))
    env = make_env(cfg, "val", cfg.eval.batch_size, "cpu")
    # the deterministic, single and MC rows are exactly what train.py and ram.evaluate score
    assert errors["deterministic"] == model.error(env, "deterministic", 2)
    assert errors["single"] == model.error(env, "single", 2)
    assert errors["both (MC)"] == model.error(env, "mc", 2)
    # later-only paths all start from one spot; start-only ones each from its own
    starts = []

    def recording(*args, **kwargs):
        r = rollout(*args, **kwargs)
        starts.append(r.locations[0])
        return r

    rollout, path_noise.rollout = path_noise.rollout, recording
    try:
        for start_noise in (False, True):
            starts.clear()
            path_noise.error(model, env, 2, start_noise, later_noise=not start_noise)
            same = all(torch.equal(a, b) for a, b in zip(starts[0::2], starts[1::2]))
            assert same != start_noise
    finally:
        path_noise.rollout = rollout
    assert out.with_suffix(".md").read_text().startswith("# Where the MC average's gain comes from")
