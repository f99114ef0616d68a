"""GPU hygiene: SpectralFM's forward and backward read no tensor values on the host.

A host read (`.item()`, `bool(t)`, `int(t)`, an op whose output shape depends on the data such as
`nonzero`) makes the CPU wait until the GPU has run every queued kernel, so the launch queue
drains on each one. On CPU the test runs the model under a TorchDispatchMode that raises on the
aten ops such reads dispatch to; with CUDA present it also runs under
`torch.cuda.set_sync_debug_mode("error")`, which catches the syncs themselves.

Blind spot of the CPU check: `.tolist()` and `.numpy()` of a CPU tensor read its memory without
dispatching an op, so only the CUDA check sees those.
"""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from spectralfm.models import ModelConfig, SpectralFM

aten = torch.ops.aten

# ops that read a value on the host, or whose output shape depends on tensor values (the host
# needs the value to allocate the output)
HOST_READ_OPS = {
    aten._local_scalar_dense.default,  # .item(), bool(t), int(t), float(t)
    aten.equal.default,  # torch.equal returns a Python bool
    aten.nonzero.default,
    aten.masked_select.default,
    aten._unique2.default,
    aten.unique_dim.default,
    aten.unique_consecutive.default,
    aten.bincount.default,
}


class HostSyncError(AssertionError):
    pass


def _is_bool_index(t) -> bool:
    return isinstance(t, torch.Tensor) and t.dtype in (torch.bool, torch.uint8)


class NoHostReads(TorchDispatchMode):
    """Raises HostSyncError on any op that reads tensor values on the host."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in HOST_READ_OPS:
            raise HostSyncError(f"host read: {func}")
        # x[mask] and x[mask] = v run nonzero inside the kernel, out of this mode's sight
        if func in (aten.index.Tensor, aten.index_put.default, aten.index_put_.default):
            if any(_is_bool_index(t) for t in args[1]):
                raise HostSyncError(f"host read: {func} with a boolean index")
        # repeats given as a tensor: the output length is their sum, unless output_size is given
        if func is aten.repeat_interleave.Tensor and kwargs.get("output_size") is None:
            raise HostSyncError(f"host read: {func} without output_size")
        # device -> host copies (on CPU-only machines there are none to see)
        if func in (aten._to_copy.default, aten.copy_.default):
            src = args[1] if func is aten.copy_.default else args[0]
            dst_cpu = (
                args[0].device.type == "cpu"
                if func is aten.copy_.default
                else torch.device(kwargs.get("device", src.device)).type == "cpu"
            )
            if isinstance(src, torch.Tensor) and src.device.type != "cpu" and dst_cpu:
                raise HostSyncError(f"host read: {func} to the CPU")
        return func(*args, **kwargs)


def _inputs(model: SpectralFM, b: int = 4, device: str = "cpu"):
    g = torch.Generator().manual_seed(0)
    spectra = torch.randn(b, model.cfg.n_points, generator=g)
    axis = torch.tensor([[4000.0, 10000.0], [400.0, 4000.0], [3500.0, 150.0], [100.0, 3200.0]])
    mask = model.random_mask(b, 0.5, torch.Generator().manual_seed(1))
    domain = torch.tensor([0, 3, 15, 7])
    return [t.to(device) for t in (spectra, axis[:b], mask, domain)]


def _step(model: SpectralFM, spectra, axis, mask, domain) -> None:
    """Forward with mask and domain, a loss over every output, backward: no host reads allowed."""
    out = model(spectra, axis, mask=mask, domain=domain)
    # masked MSE without boolean indexing (x[mask] would itself read the mask on the host)
    recon = ((out["recon"] - spectra).square() * out["point_mask"]).mean()
    loss = recon + out["kl"] + out["moe_aux"] + out["y_pred"].sum()
    loss = loss + out["domain_logits"].logsumexp(-1).mean()
    loss = loss + model.transfer_spectrum(spectra, axis).square().mean()
    loss.backward()


@pytest.mark.parametrize("expert_type", ["mlp", "kan"])
def test_forward_and_backward_read_no_tensor_values_on_the_host(expert_type):
    torch.manual_seed(0)
    model = SpectralFM(ModelConfig.preset("tiny", expert_type=expert_type)).train()
    spectra, axis, mask, domain = _inputs(model)
    model.validate_inputs(spectra, axis, mask, domain)  # the boundary may read values
    with NoHostReads():
        _step(model, spectra, axis, mask, domain)
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)  # the backward really ran (under the mode)


def test_backward_ops_go_through_the_detector():
    """Guards the test above: ops run by the autograd engine are seen by the dispatch mode."""
    x = torch.randn(5, requires_grad=True)
    y = (x * 2).sum()
    with pytest.raises(HostSyncError):
        with NoHostReads():

            class ReadInBackward(torch.autograd.Function):
                @staticmethod
                def forward(ctx, t):
                    return t.clone()

                @staticmethod
                def backward(ctx, g):
                    bool(g.any())
                    return g

            ReadInBackward.apply(y).backward()


def test_detector_catches_host_reads():
    """Negative control: the usual ways to read a tensor on the host are caught."""
    t = torch.randn(6)
    mask = t > 0
    reads = [
        lambda: bool(t.any()),
        lambda: t.sum().item(),
        lambda: int(t.argmax()),
        lambda: t.nonzero(),
        lambda: t[mask],
        lambda: t.masked_select(mask),
        lambda: torch.unique(t),
        lambda: torch.equal(t, t),
    ]
    for read in reads:
        with pytest.raises(HostSyncError):
            with NoHostReads():
                read()
    with NoHostReads():  # and ordinary fixed-shape work passes
        torch.where(mask, t, 0.0).sum()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (sync debug mode)")
def test_no_cuda_syncs_in_forward_and_backward():
    torch.manual_seed(0)
    model = SpectralFM(ModelConfig.preset("tiny")).cuda().train()
    spectra, axis, mask, domain = _inputs(model, device="cuda")
    model.validate_inputs(spectra, axis, mask, domain)
    _step(model, spectra, axis, mask, domain)  # warm-up: lazy cuBLAS/cuFFT set-up may sync
    model.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        _step(model, spectra, axis, mask, domain)
    finally:
        torch.cuda.set_sync_debug_mode(previous)
    torch.cuda.synchronize()
    assert all(p.grad is not None for p in model.parameters())
