"""Self-supervised pretraining of SpectralFM on the HDF5 corpus, resumable and DDP-ready.

    python -m spectralfm.training.pretrain --corpus corpus.h5 --out runs/pre \
        --model-config '{"preset": "tiny"}' --train-config train.json
    torchrun --nproc_per_node 4 -m spectralfm.training.pretrain ...   # multi-GPU

Outputs in ``out``: ``model.safetensors``, ``model_config.json``, ``metrics.jsonl``,
``loss_curve.png``, ``train_config.json`` and ``checkpoints/step_*``. Rerunning with the same
``out`` resumes from the newest checkpoint (the model config must be the same).

Interruption: SIGTERM (what Slurm sends at the time limit or on preemption, KillWait seconds
before SIGKILL) and SIGUSR1 only set a flag; the loop
finishes the current step, saves a checkpoint, and ``pretrain`` raises ``PretrainInterrupted``;
the command line then exits with ``EXIT_RESUMABLE`` (75, EX_TEMPFAIL: "run me again").

Reproducibility: model initialisation is seeded with ``seed`` on every rank (DDP broadcasts rank
0's weights anyway); each step reseeds torch and the mask generator from (seed, rank, step), so a
resumed run draws exactly the masks and VIB noise the uninterrupted run would have drawn.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from spectralfm.configdict import ConfigDict
from spectralfm.errors import InputError
from spectralfm.losses import LossWeights, pair_terms, pretrain_loss, single_view_terms
from spectralfm.models.config import ModelConfig
from spectralfm.models.spectralfm import SpectralFM
from spectralfm.simulator import SimulatorConfig, instrument_pair
from spectralfm.training.checkpoint import (
    CONFIG_FILE,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
    save_pretrained,
    write_json_atomic,
)
from spectralfm.training.ddp import DistContext, any_rank, barrier, init_distributed, shutdown
from spectralfm.training.paired_views import PairedViews
from spectralfm.training.schedule import warmup_cosine

log = logging.getLogger(__name__)

EXIT_RESUMABLE = 75
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoints"


class PretrainInterrupted(RuntimeError):
    """Raised after a signal-triggered checkpoint; rerun ``pretrain`` to resume."""

    def __init__(self, step: int, checkpoint: Path | None):
        super().__init__(f"pretraining interrupted at step {step}; checkpoint {checkpoint}")
        self.step = step
        self.checkpoint = checkpoint


@dataclass
class PretrainConfig(ConfigDict):
    config_name = "train config"

    steps: int = 10_000
    batch_size: int = 64  # per rank
    lr: float = 3e-4
    weight_decay: float = 0.05
    warmup_steps: int = 500
    min_lr_ratio: float = 0.1  # cosine floor as a fraction of lr
    grad_clip: float = 1.0
    mask_ratio: float = 0.5
    loss_weights: LossWeights = field(default_factory=LossWeights)
    # the instrument views each corpus spectrum is seen through (spectralfm.simulator)
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)
    # probability that a sample's corpus domain id reaches the [DOMAIN] token; otherwise it is
    # "unknown" (0), as at transfer time, and z_inst must infer the instrument from the spectrum
    domain_input_prob: float = 0.0
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    val_every: int = 1000
    val_batches: int = 8
    log_every: int = 50
    seed: int = 0
    num_workers: int = 0
    block_size: int = 256  # corpus rows read per block (CorpusDataset)
    device: str | None = None  # None: CUDA when available
    wandb: bool = False
    wandb_project: str = "spectralfm"

    def __post_init__(self) -> None:
        if isinstance(self.loss_weights, dict):
            self.loss_weights = LossWeights.from_dict(self.loss_weights)
        if isinstance(self.simulator, dict):
            self.simulator = SimulatorConfig.from_dict(self.simulator)
        for key in ("steps", "batch_size", "checkpoint_every", "val_every", "log_every"):
            if getattr(self, key) < 1:
                raise InputError(f"train config: {key}={getattr(self, key)} must be >= 1")
        if not 0.0 < self.mask_ratio < 1.0:
            raise InputError(f"train config: mask_ratio={self.mask_ratio} must be in (0, 1)")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise InputError(f"train config: min_lr_ratio={self.min_lr_ratio} must be in [0, 1]")


# ---------------------------------------------------------------- data


def _corpus_dataset(corpus: Path, split: str, cfg: PretrainConfig, ctx: DistContext, shuffle: bool):
    from spectralfm.training.corpus_dataset import CorpusDataset

    return CorpusDataset(
        corpus,
        split=split,
        block_size=cfg.block_size,
        shuffle=shuffle,
        seed=cfg.seed,
        rank=ctx.rank,
        world_size=ctx.world_size,
    )


class BatchStream:
    """Endless batches over epochs that knows its position (epoch, batches done in the epoch)."""

    def __init__(self, dataset, batch_size: int, num_workers: int, epoch: int = 0, skip: int = 0):
        self.dataset = dataset
        self.loader = DataLoader(
            dataset, batch_size=batch_size, num_workers=num_workers, drop_last=True
        )
        self.epoch = epoch
        self.done = 0
        self._it = self._start(epoch)
        # resume: replay the order and drop what the interrupted run already consumed
        for _ in range(skip):
            next(self)

    def _start(self, epoch: int) -> Iterator:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        return iter(self.loader)

    def __iter__(self):
        return self

    def __next__(self):
        try:
            batch = next(self._it)
        except StopIteration:
            if self.done == 0:
                raise InputError(
                    "corpus: an epoch yields no full batch; lower batch_size or add data"
                ) from None
            self.epoch += 1
            self.done = 0
            self._it = self._start(self.epoch)
            batch = next(self._it)
        self.done += 1
        return batch

    @property
    def position(self) -> tuple[int, int]:
        return self.epoch, self.done


def _to_device(batch, device: torch.device, model: SpectralFM) -> dict[str, torch.Tensor]:
    """Check a corpus batch on the host, then move it to ``device``; corpus domain d becomes
    model domain d + 1 (the model reserves id 0 for "unknown domain").

    The value checks run here, on the CPU tensors the loader made, so they never wait for the
    GPU; the model's forward checks only shapes."""
    spectra, axis, domain = batch
    domain = domain.to(torch.long) + 1
    n_domains = model.cfg.n_domains
    if int(domain.max()) >= n_domains:
        raise InputError(
            f"corpus: domain id {int(domain.max()) - 1} needs n_domains >= {int(domain.max()) + 1} "
            f"in the model config (id 0 is reserved for unknown), got {n_domains}"
        )
    spectra, axis = spectra.to(torch.float32), axis.to(torch.float32)
    model.validate_inputs(spectra, axis)
    return {
        "spectra": spectra.to(device, non_blocking=True),
        "axis": axis.to(device, non_blocking=True),
        "domain": domain.to(device, non_blocking=True),
    }


# ---------------------------------------------------------------- one step


def _step_seed(seed: int, rank: int, step: int) -> int:
    return (seed * 1_000_003 + rank * 7_919 + step) % (2**63)


def _autocast(device: torch.device):
    # bf16 on CUDA (no loss scaling needed); fp32 on CPU so CPU runs are bit-reproducible
    return torch.autocast(
        device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"
    )


def _forward_loss(model, raw: PairedViews, batch, cfg: PretrainConfig, gen: torch.Generator):
    """One step's loss: two simulated instrument views of every spectrum, each masked on its own;
    single-view terms averaged over the views, plus the pair terms (spectralfm.losses)."""
    spectra, axis, domain = batch["spectra"], batch["axis"], batch["domain"]
    view_a, view_b, params_a, params_b = instrument_pair(spectra, axis, gen, cfg.simulator)
    n, device = spectra.shape[0], spectra.device
    mask_a = raw.model.random_mask(n, cfg.mask_ratio, generator=gen, device=device)
    mask_b = raw.model.random_mask(n, cfg.mask_ratio, generator=gen, device=device)
    domain_in = None
    if cfg.domain_input_prob > 0:
        keep = torch.rand(domain.shape, generator=gen).to(domain.device) < cfg.domain_input_prob
        domain_in = torch.where(keep, domain, torch.zeros_like(domain))
    with _autocast(device):
        out = model(view_a, view_b, axis, mask_a, mask_b, domain_in)
    terms_a = single_view_terms(out["a"], view_a, domain)
    terms_b = single_view_terms(out["b"], view_b, domain)
    terms = {k: 0.5 * (terms_a[k] + terms_b[k]) for k in terms_a}
    terms.update(
        pair_terms(
            out["a"],
            out["b"],
            out["translated"],
            view_a,
            out["instrument_pred"],
            (params_a, params_b),
        )
    )
    return pretrain_loss(terms, cfg.loss_weights)


@torch.no_grad()
def evaluate(raw: PairedViews, val: DataLoader, cfg: PretrainConfig, device: torch.device) -> dict:
    """Mean validation loss parts over the first ``val_batches`` batches, with fixed masks."""
    was_training = raw.training
    raw.eval()
    sums: dict[str, float] = {}
    n = 0
    with torch.random.fork_rng(devices=[]):
        gen = torch.Generator().manual_seed(cfg.seed + 12345)
        for batch in itertools.islice(val, cfg.val_batches):
            _, parts = _forward_loss(raw, raw, _to_device(batch, device, raw.model), cfg, gen)
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            n += 1
    raw.train(was_training)
    return {f"val_{k}": v / n for k, v in sums.items()} if n else {}


# ---------------------------------------------------------------- logs


def _append_jsonl(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop records logged after the checkpoint we resume from (they will be logged again)."""
    if not path.exists():
        return
    keep = [
        line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step
    ]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(line + "\n" for line in keep))
    tmp.replace(path)


def plot_loss_curve(metrics: Path, png: Path) -> None:
    """Training (and validation, when logged) total loss against step, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in metrics.read_text().splitlines() if line]
    train = [(r["step"], r["total"]) for r in records if "total" in r]
    val = [(r["step"], r["val_total"]) for r in records if "val_total" in r]
    fig, ax = plt.subplots(figsize=(6, 4))
    if train:
        ax.plot(*zip(*train, strict=True), label="train")
    if val:
        ax.plot(*zip(*val, strict=True), "o-", label="val")
    ax.set_xlabel("step")
    ax.set_ylabel("pretraining loss")
    if train and min(v for _, v in train) > 0:
        ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    tmp = png.with_name(f".{png.stem}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(png)


def _wandb_run(cfg: PretrainConfig, model_cfg: ModelConfig, out_dir: Path, ctx: DistContext):
    if not (cfg.wandb and ctx.is_main):
        return None
    try:
        import wandb
    except ImportError:
        log.warning("wandb=true but wandb is not installed; logging to metrics.jsonl only")
        return None
    return wandb.init(
        project=cfg.wandb_project,
        dir=str(out_dir),
        config={"model": model_cfg.to_dict(), "train": cfg.to_dict()},
        resume="allow",
    )


# ---------------------------------------------------------------- the loop


def _check_resume_config(out_dir: Path, model_cfg: ModelConfig) -> None:
    # checkpoints of another architecture cannot be resumed; without checkpoints, start afresh
    saved = out_dir / CONFIG_FILE
    if saved.exists():
        before = json.loads(saved.read_text())
        if before != model_cfg.to_dict():
            raise InputError(
                f"{saved}: the run in {out_dir} used a different model config; "
                "use a new output folder or the same config"
            )


def pretrain(
    corpus: Path,
    out_dir: Path,
    model_cfg: ModelConfig,
    train_cfg: PretrainConfig,
    on_step: Callable[[int], None] | None = None,
) -> Path:
    """Pretrain (or resume) and return ``out_dir`` holding the finished model.

    ``on_step(step)`` is called after each completed optimiser step (tests use it to send a
    signal at a chosen step). Raises ``PretrainInterrupted`` after a SIGTERM/SIGUSR1 checkpoint.
    """
    corpus, out_dir = Path(corpus), Path(out_dir)
    if not corpus.is_file():
        raise InputError(f"{corpus}: corpus file not found")
    cfg = train_cfg
    ctx = init_distributed(cfg.device)
    device = ctx.device
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_root = out_dir / CHECKPOINT_DIR
    metrics_path = out_dir / METRICS_FILE

    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    model_only = SpectralFM(model_cfg)
    raw = PairedViews(model_only).to(device)  # what is trained and checkpointed
    decay = [p for p in raw.parameters() if p.ndim >= 2]
    no_decay = [p for p in raw.parameters() if p.ndim < 2]  # biases, norms: no weight decay
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=cfg.lr,
    )
    schedule = partial(
        warmup_cosine,
        total_steps=cfg.steps,
        warmup_steps=cfg.warmup_steps,
        min_lr_ratio=cfg.min_lr_ratio,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    gen = torch.Generator()

    step, epoch, skip = 0, 0, 0
    ckpt = latest_checkpoint(ckpt_root)
    if ckpt is not None:
        _check_resume_config(out_dir, model_cfg)
        state = load_checkpoint(
            ckpt, raw, optimizer, scheduler, gen, restore_rng_states=ctx.is_main
        )
        step = state["step"]
        positions = state["extra"]["data_position"]
        epoch, skip = positions[ctx.rank] if len(positions) == ctx.world_size else positions[0]
        if ctx.is_main:
            log.info("resuming from %s (step %d)", ckpt, step)
            _truncate_metrics(metrics_path, step)
    elif ctx.is_main:
        metrics_path.unlink(missing_ok=True)
    if ctx.is_main:
        write_json_atomic(out_dir / "train_config.json", cfg.to_dict())
        write_json_atomic(out_dir / CONFIG_FILE, model_cfg.to_dict())

    # find_unused_parameters: idle MoE experts and domain embeddings get no gradient in a step
    model = DistributedDataParallel(raw, find_unused_parameters=True) if ctx.distributed else raw
    stream = BatchStream(
        _corpus_dataset(corpus, "train", cfg, ctx, shuffle=True),
        cfg.batch_size,
        cfg.num_workers,
        epoch,
        skip,
    )
    val_loader = None
    if ctx.is_main:
        val_set = _corpus_dataset(corpus, "val", cfg, DistContext(0, 1, 0, device), shuffle=False)
        val_loader = DataLoader(val_set, batch_size=cfg.batch_size, num_workers=0)

    stop = {"signal": None}

    def _handler(signum, _frame):
        stop["signal"] = signum

    # signal handlers can only be installed from the main thread; elsewhere (a caller's worker
    # thread) the run is still checkpointed every checkpoint_every steps
    main_thread = threading.current_thread() is threading.main_thread()
    signals = (signal.SIGTERM, signal.SIGUSR1) if main_thread else ()
    previous = {s: signal.signal(s, _handler) for s in signals}
    wandb_run = _wandb_run(cfg, model_cfg, out_dir, ctx)
    bar = tqdm(total=cfg.steps, initial=step, disable=not ctx.is_main, desc="pretrain")
    window: dict[str, float] = {}
    window_steps, window_start = 0, time.perf_counter()
    raw.train()
    try:
        while step < cfg.steps:
            torch.manual_seed(_step_seed(cfg.seed, ctx.rank, step))
            gen.manual_seed(_step_seed(cfg.seed + 1, ctx.rank, step))
            batch = _to_device(next(stream), device, model_only)
            loss, parts = _forward_loss(model, raw, batch, cfg, gen)
            if not math.isfinite(parts["total"]):
                raise FloatingPointError(f"non-finite pretraining loss at step {step}: {parts}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(raw.parameters(), cfg.grad_clip)
            lr = optimizer.param_groups[0]["lr"]
            optimizer.step()
            scheduler.step()
            step += 1
            bar.update(1)
            for k, v in parts.items():
                window[k] = window.get(k, 0.0) + v
            window_steps += 1

            if ctx.is_main and (step % cfg.log_every == 0 or step == cfg.steps):
                seconds = time.perf_counter() - window_start
                record = {"step": step, "lr": lr, "grad_norm": float(grad_norm)}
                record.update({k: v / window_steps for k, v in window.items()})
                record["spectra_per_s"] = window_steps * cfg.batch_size * ctx.world_size / seconds
                _append_jsonl(metrics_path, record)
                bar.set_postfix(loss=f"{record['total']:.4f}")
                if wandb_run is not None:
                    wandb_run.log(record, step=step)
                window, window_steps, window_start = {}, 0, time.perf_counter()
            if ctx.is_main and (step % cfg.val_every == 0 or step == cfg.steps):
                val = evaluate(raw, val_loader, cfg, device)
                if val:
                    _append_jsonl(metrics_path, {"step": step, **val})
                    if wandb_run is not None:
                        wandb_run.log(val, step=step)

            if on_step is not None:
                on_step(step)
            interrupted = any_rank(stop["signal"] is not None, ctx)
            if interrupted or step % cfg.checkpoint_every == 0 or step == cfg.steps:
                saved = _save(ckpt_root, step, raw, optimizer, scheduler, gen, stream, cfg, ctx)
                if interrupted:
                    raise PretrainInterrupted(step, saved)
        identical = _ranks_identical(raw, ctx)
        if not identical:
            raise RuntimeError("DDP ranks ended with different weights; refusing to save")
        if ctx.is_main:
            if ctx.distributed:
                _append_jsonl(
                    metrics_path,
                    {"step": step, "world_size": ctx.world_size, "ranks_identical": identical},
                )
            save_pretrained(out_dir, model_only, model_cfg)
            metrics_path.touch()  # resumed at the last step: nothing new was logged
            plot_loss_curve(metrics_path, out_dir / "loss_curve.png")
        barrier(ctx)
    finally:
        bar.close()
        for s, h in previous.items():
            signal.signal(s, h)
        if wandb_run is not None:
            wandb_run.finish()
    return out_dir


def _ranks_identical(raw: torch.nn.Module, ctx: DistContext) -> bool:
    """Every rank holds the same weights (element-wise max == min across ranks)."""
    if not ctx.distributed:
        return True
    flat = torch.cat([p.detach().reshape(-1).float() for p in raw.parameters()])
    hi, lo = flat.clone(), flat.clone()
    torch.distributed.all_reduce(hi, op=torch.distributed.ReduceOp.MAX)
    torch.distributed.all_reduce(lo, op=torch.distributed.ReduceOp.MIN)
    return bool(torch.equal(hi, lo))


def _save(ckpt_root, step, raw, optimizer, scheduler, gen, stream, cfg, ctx) -> Path | None:
    # every rank's data position goes into rank 0's checkpoint (shards can differ in length)
    position = torch.tensor(stream.position, dtype=torch.long, device=ctx.device)
    if ctx.distributed:
        gathered = [torch.zeros_like(position) for _ in range(ctx.world_size)]
        torch.distributed.all_gather(gathered, position)
        positions = [p.tolist() for p in gathered]
    else:
        positions = [position.tolist()]
    saved = None
    if ctx.is_main:
        saved = save_checkpoint(
            ckpt_root,
            step,
            raw,
            optimizer,
            scheduler,
            gen,
            extra={"data_position": positions, "world_size": ctx.world_size},
            keep_last=cfg.keep_checkpoints,
        )
    barrier(ctx)  # no rank runs ahead (or exits) before the checkpoint exists
    return saved


# ---------------------------------------------------------------- command line


def _json_arg(value: str, what: str) -> dict:
    try:
        text = value if value.lstrip().startswith("{") else Path(value).read_text()
        data = json.loads(text)
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"{what}: neither a JSON file nor JSON text: {value!r} ({e})") from e
    if not isinstance(data, dict):
        raise InputError(f"{what}: expected a JSON object, got {type(data).__name__}")
    return data


def model_config_from_json(data: dict) -> ModelConfig:
    """``{"preset": "tiny", ...overrides}`` or a full ``ModelConfig.to_dict()``."""
    data = dict(data)
    preset = data.pop("preset", None)
    return ModelConfig.preset(preset, **data) if preset else ModelConfig.from_dict(data)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--corpus", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--model-config", required=True, help="JSON text or file")
    p.add_argument("--train-config", default="{}", help="JSON text or file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    model_cfg = model_config_from_json(_json_arg(args.model_config, "--model-config"))
    train_cfg = PretrainConfig.from_dict(_json_arg(args.train_config, "--train-config"))
    ctx = init_distributed(train_cfg.device)
    try:
        pretrain(args.corpus, args.out, model_cfg, train_cfg)
    except PretrainInterrupted as e:
        log.warning("%s; exiting with %d so the job can be requeued", e, EXIT_RESUMABLE)
        return EXIT_RESUMABLE
    finally:
        shutdown(ctx)
    return 0


if __name__ == "__main__":
    sys.exit(main())
