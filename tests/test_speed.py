"""The fast paths keep the model's semantics: the int32 summed-area table is exact, the speed switches
run on CPU, and the throughput benchmark measures a real row. (The batched retina and the benchmark's
per-sample loop are both checked against one reference in test_retina.py.)"""

import pytest
import torch
import torch.nn.functional as F

from envs.retina import Retina
from ram.training.config import load_config
from ram.models.ram import RAM
from ram.training.speed import adam, configure


def test_integral_matches_cumsum_reference_and_is_exact_for_big_canvases():
    images = torch.randint(0, 256, (3, 50, 40)).float()
    table = Retina().integral(images)
    assert table.dtype == torch.int32
    assert torch.equal(table.double(), F.pad(images.double().cumsum(-2).cumsum(-1), (1, 0, 1, 0)))
    big = Retina().integral(torch.full((1, 300, 300), 255.0))
    assert big[0, -1, -1].item() == 300 * 300 * 255  # exact beyond 2**24, where a float32 table would round


def test_step_split_keeps_the_random_stream_and_the_gradient_split():
    model = RAM()
    glimpse, loc, state = torch.rand(4, 3, 12, 12), torch.zeros(4, 2), model.initial_state(4, "cpu")
    step = model.step(glimpse, loc, state, generator=torch.Generator().manual_seed(0))
    noise = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(step.loc, step.mean.detach() + model.loc_std * noise)
    model.classify(step.state).sum().backward()  # a classification loss alone
    assert model.location_net.weight.grad is None and model.baseline_net.weight.grad is None
    assert model.glimpse_net.what.weight.grad is not None


def test_amp_trains_on_cpu_with_an_fp32_policy(data_dir, tmp_path):
    from ram.training.trainer import Trainer

    cfg = load_config("configs/mnist28.yaml", ["train.amp=true", "train.batch_size=16", "data.train_size=64",
                                               "data.val_size=100", "train.device=cpu"])
    trainer = Trainer(cfg, tmp_path)
    stats = trainer.train_step(torch.arange(16))
    assert torch.isfinite(stats["loss"])
    glimpse, loc = torch.rand(2, 1, 8, 8), torch.zeros(2, 2)
    step = trainer.model.step(glimpse, loc, trainer.model.initial_state(2, "cpu"))
    assert step.mean.dtype == torch.float32 and step.loc.dtype == torch.float32


def test_amp_on_a_cpu_that_emulates_bf16_says_it_will_be_slow():
    import warnings

    from ram.training.speed import cpu_has_bf16

    cfg = load_config(None, ["train.amp=true"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        configure(RAM(), cfg.train, torch.device("cpu"))
    slow = [w for w in caught if "bf16 is emulated" in str(w.message)]
    assert len(slow) == (0 if cpu_has_bf16() else 1)  # a CPU with AVX-512 BF16 or AMX hears nothing
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        configure(RAM(), load_config(None).train, torch.device("cpu"))  # float32: nothing to say
    assert not [w for w in caught if "bf16" in str(w.message)]


def test_cuda_graphs_on_cpu_is_a_clear_error():
    cfg = load_config(None, ["train.cuda_graphs=true"])
    with pytest.raises(ValueError, match="train.cuda_graphs=true needs a CUDA device"):
        configure(RAM(), cfg.train, torch.device("cpu"))


def test_adam_is_fused_where_torch_has_the_kernel():
    optimizer = adam(RAM().parameters(), lr=1e-3, weight_decay=0.0)
    fused = optimizer.param_groups[0]["fused"]
    assert fused or tuple(map(int, torch.__version__.split(".")[:2])) < (2, 4)


def test_adamw_decays_weights_apart_from_the_gradient():
    # a weight with no gradient: AdamW shrinks it by lr x weight_decay of itself; Adam's L2 term becomes the
    # whole gradient, which the normalisation turns into a step of lr
    for decoupled, expected in ((True, 2.0 * (1 - 0.1 * 0.5)), (False, 2.0 - 0.1)):
        weight = torch.nn.Parameter(torch.full((3,), 2.0))
        optimizer = adam([weight], lr=0.1, weight_decay=0.5, decoupled=decoupled)
        weight.grad = torch.zeros(3)
        optimizer.step()
        assert torch.allclose(weight.detach(), torch.full((3,), expected), atol=1e-5), (decoupled, weight)


def test_throughput_benchmark_measures_a_row(data_dir):
    from benchmarks.throughput import measure

    row = measure({"config": "mnist28", "model": "ram", "device": "cpu", "threads": 1, "batch": 32,
                   "eval_batch": 250, "quick": True, "data_dir": data_dir})
    for phase in ("train", "eval", "sensor"):
        assert row[phase]["images_per_s"] > 0 and len(row[phase]["repeats"]) >= 2
    assert row["params"] > 0
