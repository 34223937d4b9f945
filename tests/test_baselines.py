"""Full-image models (the comparison's baselines): parameter counts, MAC counting, end-to-end training
through train.py, the comparison table from real run directories, and that they see exactly RAM's canvases."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import train
from ram.build import build_model, count_params
from ram.models.fullimage import FullyConnected, ModernCNN, PaperCNN
from ram.training.config import ConfigError, load_config
from ram.tools.macs import count_macs, model_macs
from ram.models.ram import RAM
from ram.training.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]
BASELINE_CONFIGS = sorted((REPO / "configs" / "baselines").glob("*.yaml"))
# a few steps: 256 digits, 1 epoch, a small validation split; the test split is always the full 10,000
QUICK = ["train.epochs=1", "data.train_size=256", "data.val_size=200", "eval.batch_size=500", "train.log_every=1"]
NARROW = "model.cnn_width=4"  # the modern CNN at 1/8 width: same code path, test split scored in seconds


def test_paper_baseline_parameter_counts():
    # FC 2x64 on 60x60: 3600 -> 64 -> 64 -> 10, weights plus biases
    assert count_params(FullyConnected(canvas_size=60, hidden=64)) == (3600 * 64 + 64) + (64 * 64 + 64) + (64 * 10 + 10) == 235_274
    assert count_params(FullyConnected(canvas_size=60, hidden=256)) == (3600 * 256 + 256) + (256 * 256 + 256) + (256 * 10 + 10)
    assert count_params(FullyConnected(canvas_size=28, hidden=256)) == (784 * 256 + 256) + (256 * 256 + 256) + (256 * 10 + 10)
    # paper CNN on 60x60: conv 8@10x10 stride 5 -> 11x11x8 = 968 features -> 256 -> 10
    assert count_params(PaperCNN(canvas_size=60)) == (8 * 10 * 10 + 8) + (968 * 256 + 256) + (256 * 10 + 10) == 251_442
    # on 100x100: (100 - 10) // 5 + 1 = 19 -> 19x19x8 = 2888 features
    assert count_params(PaperCNN(canvas_size=100)) == (8 * 100 + 8) + (2888 * 256 + 256) + (256 * 10 + 10)
    # the shipped configs build those very models
    cfg = load_config(REPO / "configs" / "baselines" / "fc64_cluttered60.yaml")
    assert count_params(build_model(cfg)) == 235_274
    cfg = load_config(REPO / "configs" / "baselines" / "cnn_paper_cluttered60.yaml")
    assert count_params(build_model(cfg)) == 251_442


def test_conv_macs_match_a_hand_computed_value():
    conv = nn.Conv2d(3, 5, kernel_size=4, stride=2)
    x = torch.zeros(1, 3, 20, 20)
    # output 9x9 ((20 - 4) // 2 + 1); each of its 5 * 81 values takes 3 * 4 * 4 multiply-accumulates
    assert count_macs(conv, lambda: conv(x)) == 9 * 9 * 5 * 3 * 4 * 4 == 19_440
    # per batch: four images cost four times one
    assert count_macs(conv, lambda: conv(torch.zeros(4, 3, 20, 20))) == 4 * 19_440


def test_model_macs_by_layer_shapes():
    assert model_macs(PaperCNN(canvas_size=60), 60) == 11 * 11 * 8 * 100 + 968 * 256 + 256 * 10
    # RAM, per glimpse: what 432x128, where 2x128, fuse 256x256, ReLU RNN 256x(256+256), location 256x2,
    # baseline 256x1; times 8 glimpses, then the action net 256x10. The canvas size does not enter.
    per_glimpse = 3 * 12 * 12 * 128 + 2 * 128 + 256 * 256 + 256 * 512 + 256 * 2 + 256
    assert model_macs(RAM(), 60) == model_macs(RAM(), 400) == 8 * per_glimpse + 256 * 10
    lstm = RAM(core="lstm")
    assert model_macs(lstm, 60) == 8 * (per_glimpse - 256 * 512 + 4 * 256 * 512) + 256 * 10
    # the modern CNN: four 3x3 convs on S, S/2, S/4, S/8 (floored), then the classifier
    w, s = 32, 60
    convs = s * s * w * 9 + 30 * 30 * 2 * w * w * 9 + 15 * 15 * 4 * w * 2 * w * 9 + 7 * 7 * 8 * w * 4 * w * 9
    assert model_macs(ModernCNN(width=w), s) == convs + 8 * w * 10


def test_baseline_names_are_validated():
    with pytest.raises(ConfigError, match="cnn_paper"):
        load_config(overrides=["model.name=resnet"])
    with pytest.raises(ConfigError, match="model.fc_hidden"):
        load_config(overrides=["model.name=fc", "model.fc_hidden=0"])


def test_there_is_a_config_per_baseline_and_benchmark():
    names = {p.stem for p in BASELINE_CONFIGS}
    for model in ("fc64", "fc256", "cnn_paper", "cnn"):
        for bench in ("mnist28", "translated60", "cluttered60", "cluttered100"):
            assert f"{model}_{bench}" in names
            cfg = load_config(REPO / "configs" / "baselines" / f"{model}_{bench}.yaml")
            assert cfg.data.benchmark == bench and cfg.model.name == model.rstrip("0123456789")


def test_baselines_train_on_exactly_the_canvases_ram_sees(data_dir, tmp_path):
    common = ["data.benchmark=cluttered60", "data.train_size=256", "train.batch_size=32", "train.seed=3"]
    ram = Trainer(load_config(overrides=common), tmp_path / "ram")
    cnn = Trainer(load_config(overrides=common + ["model.name=cnn_paper"]), tmp_path / "cnn")
    index = ram.epoch_order(0)[:32]
    assert torch.equal(index, cnn.epoch_order(0)[:32])
    for _ in range(2):  # the training stream itself, draw after draw
        ram.env.reset(options={"indices": index})
        cnn.env.reset(options={"indices": index})
        assert torch.equal(ram.env.canvases(), cnn.env.canvases())
        assert torch.equal(ram.env.labels(), cnn.env.labels())


# one run per kind of full-image model, together on every benchmark but mnist28 (RAM's runs cover it; every
# config of configs/baselines/ is loaded by test_there_is_a_config_per_baseline_and_benchmark)
ONE_PER_KIND = ("fc256_cluttered100", "cnn_paper_cluttered60", "cnn_translated60")


@pytest.mark.parametrize("config", [REPO / "configs" / "baselines" / f"{c}.yaml" for c in ONE_PER_KIND],
                         ids=lambda p: p.stem)
def test_each_full_image_model_trains_end_to_end(config, data_dir, tmp_path):
    run = tmp_path / "run"
    extra = [NARROW] if config.stem.startswith("cnn_") and not config.stem.startswith("cnn_paper") else []
    assert train.main(["--config", str(config), "--out", str(run), *QUICK, *extra]) == 0
    results = json.loads((run / "results.json").read_text())
    cfg = load_config(run / "config.yaml")
    model = build_model(cfg)
    assert results["model"] == cfg.model.name and results["benchmark"] == config.stem.split("_")[-1]
    assert results["test_error_single"] == results["test_error_deterministic"] == results["test_error_mc"]
    assert 0.0 <= results["test_error_deterministic"] <= 1.0
    assert results["params"] == count_params(model)
    assert results["macs"] == model_macs(model, cfg.data.canvas_size) > 0
    assert results["train_images_per_s"] > 0 and (run / "checkpoints" / "best.pt").is_file()


def _train(args: list[str], out: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "train.py", "--out", str(out), *args, *QUICK, "train.threads=1"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def run_dirs(data_dir, tmp_path_factory):
    """Two real runs of train.py on the same benchmark: RAM and the paper's 64-unit FC net."""
    root = tmp_path_factory.mktemp("runs")
    ram = _train(["--config", "configs/translated60.yaml", "eval.mc_samples=2"], root / "ram")
    fc = _train(["--config", "configs/baselines/fc64_translated60.yaml"], root / "fc64")
    return {"ram": (root / "ram", ram), "fc": (root / "fc64", fc)}


def test_compare_builds_the_table_from_real_run_dirs(run_dirs, tmp_path):
    out = tmp_path / "table"
    dirs = [str(run_dirs["fc"][0]), str(run_dirs["ram"][0])]
    done = subprocess.run([sys.executable, "-m", "ram.compare", *dirs, "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = json.loads((out / "comparison.json").read_text())
    assert [r["model"] for r in rows] == ["ram", "fc"]  # RAM first, whatever the argument order
    for row in rows:
        results = run_dirs[row["model"]][1]
        for key in ("test_error_single", "test_error_deterministic", "test_error_mc", "params", "macs",
                    "train_images_per_s", "wall_time_s"):
            assert row[key] == results[key], key
        assert row["benchmark"] == "translated60"
    assert rows[0]["macs"] == 8 * (3 * 12 * 12 * 128 + 2 * 128 + 256 * 256 + 256 * 512 + 256 * 3) + 2560
    table = (out / "comparison.md").read_text()
    assert table == done.stdout.split("wrote ")[0]
    lines = table.splitlines()
    assert "MACs per image" in lines[0] and "train images/s" in lines[0] and "wall time" in lines[0]
    ram_line = next(l for l in lines if l.startswith("| RAM 8 glimpses 12x12x3"))
    fc_line = next(l for l in lines if l.startswith("| FC 2x64"))
    fc = run_dirs["fc"][1]
    assert fc_line.count(f"{100 * fc['test_error_mc']:.2f}%") == 3 and f"{fc['params']:,}" in fc_line
    ram = run_dirs["ram"][1]
    for key in ("test_error_single", "test_error_deterministic", "test_error_mc"):
        assert f"{100 * ram[key]:.2f}%" in ram_line


def test_compare_rejects_a_run_without_results(tmp_path):
    (tmp_path / "unfinished").mkdir()
    done = subprocess.run([sys.executable, "-m", "ram.compare", str(tmp_path / "unfinished")], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "results.json" in done.stderr and done.stderr.count("\n") == 1


def test_scaling_benchmark_runs_and_writes_its_outputs(data_dir, tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import scaling
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    assert [scaling.distractors_for(s) for s in scaling.SIZES] == [4, 11, 44, 178]  # 4 per 60x60, by area
    assert [scaling.wide_scales(s) for s in scaling.SIZES] == [3, 4, 5, 6]  # the paper: 3 at 60, 4 at 100
    threads = torch.get_num_threads()
    try:
        assert scaling.main(["--batch", "2", "--min-time", "0", "--out", str(tmp_path)]) == 0
    finally:
        torch.set_num_threads(threads)
    saved = json.loads((tmp_path / "scaling.json").read_text())
    rows = {(r["canvas"], r["model"]): r for r in saved["rows"]}
    assert len(rows) == 16 and saved["meta"]["threads"] == 1
    assert {rows[s, "ram"]["macs"] for s in scaling.SIZES} == {model_macs(RAM(glimpse_size=12, scales=3, glimpses=8), 60)}  # flat
    cnn = [rows[s, "cnn"]["macs"] for s in scaling.SIZES]
    assert cnn == sorted(cnn) and cnn[-1] > 40 * cnn[0]  # grows with the pixels
    assert all(r["images_per_s"] > 0 for r in rows.values())
    from PIL import Image

    assert Image.open(tmp_path / "scaling.png").size == (1100, 500)
