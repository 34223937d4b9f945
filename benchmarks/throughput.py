"""Training and evaluation throughput of RAM, its per-sample-loop yardstick and the CNN baseline.

    python benchmarks/throughput.py [--quick] [--threads 1 2] [--configs cluttered60 ...] [--models ram loop ...]
    python benchmarks/throughput.py --markdown benchmarks/results/throughput-cpu2.json   # README table

For each benchmark config (configs/*.yaml) and model, on the CPU at each thread count and on CUDA when
present, one fresh process measures:
- training images/s: ``Trainer.train_step`` as the trainer runs it (canvases made by the env, rollout,
  loss, backward, clipping, Adam, scheduler), steady state: medians of timed repeats after warm-up;
- evaluation images/s: ``model.error(..., "deterministic")`` over fixed validation canvases (no grad);
- glimpse-sensor images/s: one episode's sensor work (integral image + T glimpses) per image;
- peak memory over the training phase: resident-set growth on CPU (the kernel's high-water mark,
  reset at the start of the phase), ``torch.cuda.max_memory_allocated`` on CUDA.
Models: ``ram`` (default eager float32), ``ram_amp`` (train.amp: bf16 autocast), ``loop`` (the same
RAM fed by a per-sample-loop retina, benchmarks/loop_reference.py), ``cnn`` (ram/models/fullimage.py, skipped
with a note when that module is absent), ``ram_graphs`` (CUDA only: train.cuda_graphs).
Images/s per CPU-second of the process is recorded too: on a shared machine it moves less than wall time.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's packages, wherever the script is started from

import torch  # noqa: E402

CONFIGS = ("mnist28", "translated60", "cluttered60", "cluttered100")
CPU_MODELS = ("ram", "ram_amp", "loop", "cnn")
CUDA_MODELS = ("ram", "ram_amp", "ram_graphs", "loop", "cnn")
OVERRIDES = {"ram_amp": ["train.amp=true"], "ram_graphs": ["train.cuda_graphs=true"], "cnn": ["model.name=cnn"]}
VAL_SIZE = 1000  # validation canvases per evaluation pass (built once per process)


# ------------------------------------------------------------------------------------------ machine
def _status(field: str) -> float | None:
    """A field of /proc/self/status in MiB (VmRSS, VmHWM), None off Linux."""
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    except OSError:
        return None
    return int(match.group(1)) / 1024 if match else None


def _reset_peak_rss() -> bool:
    """Set the kernel's resident high-water mark (VmHWM) back to the current RSS (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _loadavg() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""

    def field(name):
        match = re.search(rf"^{name}\s*:\s*(.*)$", cpuinfo, re.M)
        return match.group(1).strip() if match else None

    flags = (field("flags") or "").split()
    return {
        "cpu": field("model name") or platform.processor() or platform.machine(),
        "cpu_family": field("cpu family"), "cpu_model": field("model"), "cpu_mhz": field("cpu MHz"),
        "cpu_vector": [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags],
        "logical_cpus": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
    }


# ------------------------------------------------------------------------------------------ timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, images: int, device: torch.device, repeats: int, seconds: float, warmup: int) -> dict:
    """Median images/s over ``repeats`` timed runs of ``fn`` (each ``images`` images), after warm-up.
    Each run repeats ``fn`` enough times to last about ``seconds``; slow calls get fewer repeats."""
    _sync(device)
    start = time.perf_counter()
    fn()  # the first call warms up too
    _sync(device)
    first = time.perf_counter() - start
    if first > seconds:  # a slow row (the loop reference, a CNN on 100x100): keep the run short
        warmup, repeats = 0, min(repeats, 3)
    for _ in range(warmup):
        fn()
    calls = max(1, math.ceil(seconds / max(first, 1e-6)))
    wall, cpu = [], []
    for _ in range(repeats):
        _sync(device)
        w, c = time.perf_counter(), time.process_time()
        for _ in range(calls):
            fn()
        _sync(device)
        wall.append(calls * images / (time.perf_counter() - w))
        cpu.append(calls * images / max(time.process_time() - c, 1e-9))
    return {"images_per_s": statistics.median(wall), "images_per_cpu_s": statistics.median(cpu),
            "repeats": [round(x) for x in wall], "calls_per_repeat": calls}


def gpu_busy_fraction(fn, steps: int = 5) -> float:
    """Fraction of wall time the GPU spends in kernels and copies over ``steps`` calls (torch
    profiler); the rest is kernel-launch and Python overhead."""
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        torch.cuda.synchronize()
        wall = time.perf_counter() - start
    busy_us = sum(getattr(e, "self_device_time_total", 0) or getattr(e, "self_cuda_time_total", 0)
                  for e in prof.key_averages())
    return busy_us / 1e6 / wall


# ------------------------------------------------------------------------------------------ one row
def measure(spec: dict) -> dict:
    """Measure one (config, model, device, threads, batch) in this process; the row as a dict."""
    from benchmarks.loop_reference import loop_reference_env
    from ram.training.config import load_config
    from ram.build import make_env
    from ram.training.trainer import Trainer

    model, device = spec["model"], torch.device(spec["device"])
    row = dict(spec)
    if model == "cnn":
        if not (ROOT / "ram" / "models" / "fullimage.py").is_file():  # not another checkout's module on sys.path
            return {**row, "skipped": "ram/models/fullimage.py is not in this checkout: no CNN rows"}
    torch.set_num_threads(spec["threads"])
    overrides = [f"train.device={device}", f"train.threads={spec['threads']}", f"train.batch_size={spec['batch']}",
                 f"eval.batch_size={spec['eval_batch']}", f"data.val_size={VAL_SIZE}", *OVERRIDES.get(model, [])]
    cfg = load_config(ROOT / "configs" / f"{spec['config']}.yaml", overrides, spec.get("data_dir"))
    quick = spec["quick"]
    repeats, seconds, warmup = (3, 0.2, 2) if quick else (5, 0.3, 3)
    B = cfg.train.batch_size
    with tempfile.TemporaryDirectory() as run_dir:
        rss_before = _status("VmRSS")
        trainer = Trainer(cfg, run_dir)
        if model == "loop":
            loop_reference_env(trainer.env)
        row["params"] = sum(p.numel() for p in trainer.model.parameters())
        order, steps = trainer.epoch_order(0), itertools.count()

        def train():
            i = next(steps) % trainer.steps_per_epoch
            trainer.train_step(order[i * B:(i + 1) * B])

        trainer.train_step(order[:B])  # first call: lazy initialisation (and compilation) happen here
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        rss_start, hwm_reset = _status("VmRSS"), _reset_peak_rss()
        row["train"] = timed(train, B, device, repeats, seconds, warmup)
        if device.type == "cuda":
            row["train_peak_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
            row["train_gpu_busy_fraction"] = gpu_busy_fraction(train)
        elif hwm_reset and rss_start is not None:
            row["train_peak_mb"] = max(0.0, _status("VmHWM") - rss_start)  # resident-set growth while training
        row["process_rss_mb"] = _status("VmRSS")
        row["setup_rss_mb"] = None if rss_before is None or rss_start is None else rss_start - rss_before

        val = make_env(cfg, "val", cfg.eval.batch_size, device)
        if model == "loop":
            loop_reference_env(val)
        score = lambda: trainer.model.error(val, "deterministic", cfg.eval.mc_samples)  # noqa: E731
        row["eval"] = timed(score, val.size, device, repeats, seconds, 0)

        if model in ("ram", "loop"):  # the glimpse sensor alone: one episode of sensor work per image
            env, T = trainer.env, cfg.model.glimpses
            env.reset()
            canvases = env.canvases()
            locs = torch.rand(T, B, 2, device=device) * 2 - 1

            def sensor():
                table = env.retina.integral(canvases)
                for t in range(T):
                    env.retina.glimpse(table, locs[t])

            row["sensor"] = timed(sensor, B, device, repeats, seconds, warmup)
    return row


# ------------------------------------------------------------------------------------------ report
def _fmt(x) -> str:
    return "-" if x is None else f"{x:,.0f}"


def _where(row: dict) -> str:
    return f"cpu x{row['threads']}" if row["device"] == "cpu" else row["device"]


def summary(rows: list[dict]) -> list[str]:
    """The issue's targets (CPU, 2 threads, cluttered60, batch 128) against what was measured."""
    def get(model, key):
        for r in rows:
            if (r["config"], r["model"], r["device"], r["threads"], r["batch"]) == ("cluttered60", model, "cpu", 2, 128):
                return (r.get(key) or {}).get("images_per_s")
        return None

    lines = []
    ram, loop = get("ram", "train"), get("loop", "train")
    if ram:
        lines.append(f"cluttered60, CPU 2 threads, batch 128: RAM trains at {ram:,.0f} images/s (target >= 6,000)")
    if ram and loop:
        lines.append(f"  {ram / loop:.1f}x the per-sample-loop reference's {loop:,.0f} images/s (target >= 3x)")
    s_ram, s_loop = get("ram", "sensor"), get("loop", "sensor")
    if s_ram and s_loop:
        lines.append(f"  glimpse sensor alone: {s_ram:,.0f} vs {s_loop:,.0f} images/s, {s_ram / s_loop:.0f}x (target >= 20x)")
    return lines


def table(rows: list[dict]) -> str:
    head = ("benchmark", "model", "device", "batch", "train img/s", "eval img/s", "sensor img/s", "train peak MiB")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sorted(rows, key=lambda r: (r["device"], r["threads"], r["batch"])):  # stable: configs stay in order
        if r.get("skipped") or r.get("error"):
            continue
        cells = (r["config"], r["model"], _where(r), str(r["batch"]),
                 _fmt(r["train"]["images_per_s"]), _fmt(r["eval"]["images_per_s"]),
                 _fmt((r.get("sensor") or {}).get("images_per_s")),
                 "-" if r.get("train_peak_mb") is None else f"{r['train_peak_mb']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(result: dict) -> str:
    m = result["machine"]
    where = f"{m['cpu']} ({m['logical_cpus']} logical CPUs{', ' + m['gpu'] if m['gpu'] else ''}), torch {m['torch']}"
    notes = [r for r in result["rows"] if r.get("skipped") or r.get("error")]
    text = [f"Measured with `python benchmarks/throughput.py{' --quick' if result['settings']['quick'] else ''}` "
            f"on {where}; load average {result['loadavg_start']} at the start, {result.get('loadavg_end')} "
            "at the end.", "", table(result["rows"]), ""]
    text += [f"- {line.strip()}" for line in summary(result["rows"])]
    reasons = {r.get("skipped") or r.get("error"): r["model"] for r in notes}
    text += [f"- not measured ({model}): {reason}" for reason, model in reasons.items()]
    return "\n".join(text)


# ------------------------------------------------------------------------------------------ main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="cluttered60 only, fewer and shorter timed repeats")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="CPU thread counts (default 1 2)")
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    p.add_argument("--models", nargs="+", default=None, choices=sorted(set(CPU_MODELS + CUDA_MODELS)),
                   help=f"default: {' '.join(CPU_MODELS)} on CPU, {' '.join(CUDA_MODELS)} on CUDA")
    p.add_argument("--batch", type=int, default=128, help="training batch on CPU (default 128)")
    p.add_argument("--cuda-batch", type=int, nargs="+", default=[128, 1024], help="training batches on CUDA")
    p.add_argument("--eval-batch", type=int, default=1000)
    p.add_argument("--no-cuda", action="store_true", help="CPU rows only, even with a GPU")
    p.add_argument("--data-dir", default=None, help="folder with the MNIST .gz files (else $RAM_DATA_DIR)")
    p.add_argument("--out", default=None, help="JSON file (default benchmarks/results/throughput-<machine>.json)")
    p.add_argument("--markdown", metavar="JSON", help="print the README table of a results file and exit")
    p.add_argument("--row", help=argparse.SUPPRESS)  # internal: measure one row in this process
    args = p.parse_args(argv)
    if args.row:
        print(json.dumps(measure(json.loads(args.row))))
        return 0
    if args.markdown:
        print(markdown(json.loads(Path(args.markdown).read_text())))
        return 0

    cuda = torch.cuda.is_available() and not args.no_cuda
    configs = ["cluttered60"] if args.quick and args.configs == list(CONFIGS) else args.configs
    base = {"eval_batch": args.eval_batch, "quick": args.quick, "data_dir": args.data_dir}
    specs = [{**base, "config": c, "model": m, "device": "cpu", "threads": t, "batch": args.batch}
             for c in configs for t in args.threads for m in (args.models or CPU_MODELS) if m != "ram_graphs"]
    if cuda:
        specs += [{**base, "config": c, "model": m, "device": "cuda", "threads": 1, "batch": b}
                  for b in args.cuda_batch for c in configs for m in (args.models or CUDA_MODELS)]
    info = machine()
    print(f"{info['cpu']}, {info['logical_cpus']} logical CPUs, GPU {info['gpu']}, torch {info['torch']}; "
          f"{len(specs)} rows, one process each")
    result = {"machine": info, "loadavg_start": _loadavg(), "settings": vars(args) | {"val_size": VAL_SIZE},
              "rows": []}
    for spec in specs:
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--row", json.dumps(spec)],
                              capture_output=True, text=True, cwd=ROOT)
        try:
            row = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            row = {**spec, "error": lines[-1] if lines else f"exit status {proc.returncode}"}
        result["rows"].append(row)
        label = f"{spec['config']:>12} {spec['model']:>10} {_where(spec):>7} batch {spec['batch']:>4}: "
        if row.get("skipped") or row.get("error"):
            print(label + (row.get("skipped") or "error: " + row["error"]), flush=True)
        else:
            sensor = (row.get("sensor") or {}).get("images_per_s")
            print(label + f"train {_fmt(row['train']['images_per_s'])} img/s, eval {_fmt(row['eval']['images_per_s'])}"
                  f" img/s" + (f", sensor {_fmt(sensor)} img/s" if sensor else "")
                  + (f", train peak {row['train_peak_mb']:.0f} MiB" if row.get("train_peak_mb") is not None else ""),
                  flush=True)
    result["loadavg_end"] = _loadavg()
    result["summary"] = summary(result["rows"])
    print("\n" + table(result["rows"]) + "\n\n" + "\n".join(result["summary"]))
    slug = re.sub(r"[^a-z0-9]+", "-", (info["gpu"] or f"cpu{info['logical_cpus']}").lower()).strip("-")
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"throughput-{slug}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
