"""Training throughput of SpectralFM: fast scans vs the sequential reference scan, over batch sizes.

One training step = masked forward + the real pretraining loss of that view
(`spectralfm.losses.single_view_terms` summed by `pretrain_loss` with the default LossWeights) +
backward + AdamW step, on random spectra (the data do not change the cost). Per configuration
(size x scan x batch) it prints one JSON line, with ratios against references measured in the
same run: `x_ref_scan` is spectra/s over the reference scan (sequential when measured, else the
first of --scans) at the same size and batch, `x_first_batch` spectra/s over the first batch of
the sweep at the same size and scan.

Timing: one FLOP- and op-counting step and --warmup steps run first and are not timed; then
--steps steps are timed with CUDA events on a GPU (perf_counter on CPU). The loss's logged parts
are read on the host every step, as in training. Peak memory: torch.cuda.max_memory_allocated
over warm-up and timed steps on a GPU; on CPU the process's peak resident set size so far
(ru_maxrss; it only grows, so later rows include earlier ones).

FLOPs per step are counted with torch.utils.flop_counter.FlopCounterMode (matmuls, convolutions,
attention; elementwise work such as the scan itself and the FFTs of the FNO head are not
counted, so the MFU is a lower bound on hardware use). The dense MoE dispatch runs every expert on
every token, and those FLOPs count as executed work. MFU = achieved TFLOP/s over the dense peak of
the chosen dtype: a table for H100/H200 (bf16 989, tf32 494, fp32 67 TFLOP/s); pass --peak-tflops
for other hardware (on CPU there is no default and MFU is left out).

    python benchmarks/model_throughput.py --device cpu --batch 8 --steps 3
    python benchmarks/model_throughput.py --device cuda --dtype bf16 --batches 64,128,256,512 \\
        --steps 20 --warmup 5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import platform
import resource
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from spectralfm.atomic import atomic_path
from spectralfm.losses import LossWeights, pretrain_loss, single_view_terms
from spectralfm.models import ModelConfig, SpectralFM, count_parameters

# dense (no sparsity) peak TFLOP/s of the SXM parts, by the device name's model and the dtype
PEAK_TFLOPS = {
    "H100": {"bf16": 989.0, "tf32": 494.0, "fp32": 67.0},
    "H200": {"bf16": 989.0, "tf32": 494.0, "fp32": 67.0},
}


class OpCounter(TorchDispatchMode):
    """Counts aten ops dispatched: on a GPU each is at least one kernel launch (~5 us), so this
    bounds the step time from below whatever the batch, and shows what the token loop costs."""

    def __init__(self):
        super().__init__()
        self.ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops += 1
        return func(*args, **(kwargs or {}))


def synthetic_batch(cfg: ModelConfig, batch: int, device: torch.device):
    g = torch.Generator().manual_seed(0)
    spectra = torch.randn(batch, cfg.n_points, generator=g).to(device)
    axis = torch.tensor([[4000.0, 10000.0]]).repeat(batch, 1).to(device)
    domain = torch.randint(0, cfg.n_domains, (batch,), generator=g).to(device)
    return spectra, axis, domain


def training_step(model, opt, weights, spectra, axis, domain, mask, autocast) -> dict:
    with autocast():
        out = model(spectra, axis, mask=mask, domain=domain)
    # the loss is computed outside autocast, as in spectralfm.training.pretrain
    total, parts = pretrain_loss(single_view_terms(out, spectra, domain), weights)
    opt.zero_grad(set_to_none=True)
    total.backward()
    opt.step()
    return parts


def peak_tflops(args, device: torch.device) -> float | None:
    if args.peak_tflops:
        return args.peak_tflops
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for model, peaks in PEAK_TFLOPS.items():
        if model in name:
            return peaks[args.dtype]
    return None


def timed_steps(step, steps: int, device: torch.device) -> tuple[float, dict]:
    """Seconds per step over `steps` calls of `step` (already warmed up), and the last parts."""
    if device.type == "cuda":
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(steps):
            parts = step()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3 / steps, parts
    start = time.perf_counter()
    for _ in range(steps):
        parts = step()
    return (time.perf_counter() - start) / steps, parts


def measure(size: str, scan: str, batch: int, args, device: torch.device) -> dict:
    torch.manual_seed(0)
    cfg = ModelConfig.preset(size, scan=scan)
    model = SpectralFM(cfg).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    weights = LossWeights()
    spectra, axis, domain = synthetic_batch(cfg, batch, device)
    mask = model.random_mask(batch, 0.5, torch.Generator().manual_seed(1), device=device)
    model.validate_inputs(spectra, axis, mask, domain)  # the boundary check, once
    if args.dtype == "bf16":

        def autocast():
            return torch.autocast(device.type, dtype=torch.bfloat16)
    else:
        autocast = contextlib.nullcontext

    def step():
        return training_step(model, opt, weights, spectra, axis, domain, mask, autocast)

    # one untimed step counts both FLOPs and aten ops (each mode sees every op)
    flop_counter, op_counter = FlopCounterMode(display=False), OpCounter()
    with flop_counter, op_counter:
        step()
    flops = flop_counter.get_total_flops()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(args.warmup):
        step()
    seconds, parts = timed_steps(step, args.steps, device)
    if not math.isfinite(parts["total"]):
        raise RuntimeError(f"{size}/{scan}/batch {batch}: non-finite loss {parts['total']}")
    row = {
        "size": size,
        "scan": scan,
        "batch": batch,
        "dtype": args.dtype,
        "parameters": count_parameters(model),
        "seconds_per_step": seconds,
        "spectra_per_s": batch / seconds,
        "flops_per_step": flops,
        "aten_ops_per_step": op_counter.ops,
        "achieved_tflops": flops / seconds / 1e12,
        "loss": parts["total"],
    }
    if device.type == "cuda":
        row["peak_memory_bytes"] = torch.cuda.max_memory_allocated(device)
    else:
        row["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return row


def set_dtype_flags(dtype: str) -> None:
    """fp32 means full fp32 (no TF32 anywhere); tf32 allows TF32 matmuls and convolutions."""
    torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
    torch.backends.cudnn.allow_tf32 = dtype == "tf32"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", choices=("fp32", "tf32", "bf16"), default="fp32")
    p.add_argument("--sizes", default="tiny,base")
    p.add_argument("--scans", default="parallel,sequential")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument(
        "--batches", default=None, help="batch sweep, e.g. 64,128,256,512 (over --batch)"
    )
    p.add_argument("--steps", type=int, default=3, help="timed steps")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps before timing")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    p.add_argument("--peak-tflops", type=float, default=None, help="for MFU; H100/H200 by table")
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = p.parse_args()
    if args.steps < 1 or args.warmup < 0:
        p.error("--steps must be >= 1 and --warmup >= 0")

    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.dtype == "tf32" and device.type != "cuda":
        p.error("--dtype tf32 needs a CUDA device")
    set_dtype_flags(args.dtype)
    batches = [int(b) for b in args.batches.split(",")] if args.batches else [args.batch]
    scans = args.scans.split(",")
    ref_scan = "sequential" if "sequential" in scans else scans[0]
    peak = peak_tflops(args, device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    env = {
        "device": str(device),
        "device_name": where or "cpu",
        "dtype": args.dtype,
        "batches": batches,
        "steps": args.steps,
        "warmup": args.warmup,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "peak_tflops": peak,
        "reference_scan": ref_scan,
    }
    print(json.dumps({"env": env}), flush=True)
    rows = []
    for size in args.sizes.split(","):
        size_rows = []
        for scan in scans:
            for batch in batches:
                try:
                    size_rows.append(measure(size, scan, batch, args, device))
                except torch.cuda.OutOfMemoryError:
                    size_rows.append({"size": size, "scan": scan, "batch": batch, "error": "oom"})
                    torch.cuda.empty_cache()
        by_key = {(r["scan"], r["batch"]): r for r in size_rows if "error" not in r}
        for r in size_rows:
            if "error" not in r:
                ref = by_key.get((ref_scan, r["batch"]))
                first = by_key.get((r["scan"], batches[0]))
                r["x_ref_scan"] = r["spectra_per_s"] / ref["spectra_per_s"] if ref else None
                r["x_first_batch"] = r["spectra_per_s"] / first["spectra_per_s"] if first else None
                r["mfu"] = r["achieved_tflops"] / peak if peak else None
            print(json.dumps(r), flush=True)
        rows.extend(size_rows)

    print(f"\n{'size':6} {'scan':10} {'batch':>5} {'s/step':>9} {'spectra/s':>10} "
          f"{'TFLOP/s':>8} {'MFU':>7} {'peak MiB':>9} {'x ref':>6} {'x b0':>6}")  # fmt: skip
    for r in rows:
        if "error" in r:
            print(f"{r['size']:6} {r['scan']:10} {r['batch']:>5} {r['error']}")
            continue
        mfu = f"{100 * r['mfu']:.2f}%" if r["mfu"] is not None else "-"
        mem = r.get("peak_memory_bytes", r.get("peak_rss_bytes")) / 2**20
        ref = f"{r['x_ref_scan']:.2f}" if r["x_ref_scan"] is not None else "-"
        print(
            f"{r['size']:6} {r['scan']:10} {r['batch']:>5} {r['seconds_per_step']:>9.4f} "
            f"{r['spectra_per_s']:>10.1f} {r['achieved_tflops']:>8.3f} {mfu:>7} {mem:>9.0f} "
            f"{ref:>6} {r['x_first_batch']:>6.2f}"
        )
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps({"env": env, "args": vars(args), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
