"""Training throughput of SpectralFM: fast scans vs the sequential reference scan.

One training step = masked forward + backward + AdamW step on random spectra (the data do not
change the cost). For each size and scan it prints spectra/s and the ratio to the sequential scan
of the same size; FLOPs per step are counted with torch.utils.flop_counter.FlopCounterMode
(matmuls, convolutions, attention; elementwise work such as the scan itself and the FFTs of the
FNO head are not counted, so the MFU is a lower bound on hardware use).

    python benchmarks/model_throughput.py --device cpu --batch 8 --steps 3
    python benchmarks/model_throughput.py --device cuda --dtype bf16 --batch 256 --steps 20
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from spectralfm.atomic import atomic_path
from spectralfm.models import ModelConfig, SpectralFM, count_parameters

PEAK_TFLOPS = {"cuda": 989.0}  # H200 dense bf16; pass --peak-tflops for other hardware


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


def training_step(model, opt, spectra, axis, domain, mask, autocast):
    with autocast():
        out = model(spectra, axis, mask=mask, domain=domain)
        recon = ((out["recon"].float() - spectra) ** 2)[out["point_mask"]].mean()
        loss = recon + 1e-3 * out["kl"] + 1e-2 * out["moe_aux"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(size: str, scan: str, args, device: torch.device) -> dict:
    torch.manual_seed(0)
    cfg = ModelConfig.preset(size, scan=scan)
    model = SpectralFM(cfg).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    spectra, axis, domain = synthetic_batch(cfg, args.batch, device)
    mask = model.random_mask(args.batch, 0.5, torch.Generator().manual_seed(1), device=device)
    if args.dtype == "bf16":

        def autocast():
            return torch.autocast(device.type, dtype=torch.bfloat16)
    else:
        autocast = contextlib.nullcontext

    counter = FlopCounterMode(display=False)
    with counter:
        training_step(model, opt, spectra, axis, domain, mask, autocast)
    flops = counter.get_total_flops()
    with OpCounter() as op_counter:
        training_step(model, opt, spectra, axis, domain, mask, autocast)
    for _ in range(args.warmup):
        training_step(model, opt, spectra, axis, domain, mask, autocast)
    sync(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = training_step(model, opt, spectra, axis, domain, mask, autocast)
    sync(device)
    seconds = (time.perf_counter() - start) / args.steps
    if not torch.isfinite(loss):
        raise RuntimeError(f"{size}/{scan}: non-finite loss {loss.item()}")
    return {
        "size": size,
        "scan": scan,
        "parameters": count_parameters(model),
        "batch": args.batch,
        "seconds_per_step": seconds,
        "spectra_per_s": args.batch / seconds,
        "flops_per_step": flops,
        "aten_ops_per_step": op_counter.ops,
        "achieved_tflops": flops / seconds / 1e12,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    p.add_argument("--sizes", default="tiny,base")
    p.add_argument("--scans", default="parallel,sequential")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    p.add_argument("--peak-tflops", type=float, default=None, help="for MFU; cuda default 989")
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = p.parse_args()

    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    peak = args.peak_tflops or PEAK_TFLOPS.get(device.type)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(
        f"device={device} ({where or 'cpu'}) dtype={args.dtype} batch={args.batch} "
        f"steps={args.steps} threads={torch.get_num_threads()} torch={torch.__version__}"
    )
    rows = []
    header = f"{'size':6} {'scan':10} {'params':>10} {'s/step':>9} {'spectra/s':>10} {'GFLOP/step':>11} {'TFLOP/s':>8} {'MFU':>7} {'ops/step':>9} {'x seq':>7}"
    print(header)
    for size in args.sizes.split(","):
        size_rows = [measure(size, scan, args, device) for scan in args.scans.split(",")]
        seq = next((r for r in size_rows if r["scan"] == "sequential"), None)
        for r in size_rows:
            r["speedup_vs_sequential"] = r["spectra_per_s"] / seq["spectra_per_s"] if seq else None
            r["mfu"] = r["achieved_tflops"] / peak if peak else None
            mfu = f"{100 * r['mfu']:.2f}%" if r["mfu"] is not None else "-"
            ratio = f"{r['speedup_vs_sequential']:.2f}" if seq else "-"
            print(
                f"{r['size']:6} {r['scan']:10} {r['parameters']:>10} {r['seconds_per_step']:>9.4f} "
                f"{r['spectra_per_s']:>10.1f} {r['flops_per_step'] / 1e9:>11.2f} "
                f"{r['achieved_tflops']:>8.3f} {mfu:>7} {r['aten_ops_per_step']:>9} {ratio:>7}"
            )
        rows.extend(size_rows)
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
