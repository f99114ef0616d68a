import warnings

import numpy as np
import pytest
import pywt
import torch

from spectralfm.models import ModelConfig
from spectralfm.models.embedding import PatchDWT, WaveletEmbedding


@pytest.mark.parametrize(
    "wavelet, patch, levels", [("db4", 32, 3), ("db4", 64, 4), ("sym5", 16, 2), ("haar", 8, 3)]
)
def test_patch_dwt_equals_pywt_wavedec_periodization(wavelet, patch, levels):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, patch))
    with (
        warnings.catch_warnings()
    ):  # pywt warns that level 3 of db4 on 32 points feels the boundary
        warnings.simplefilter("ignore")
        ref = np.concatenate(pywt.wavedec(x, wavelet, mode="periodization", level=levels), axis=-1)
    dwt = PatchDWT(wavelet, levels, patch)
    out64 = dwt(torch.from_numpy(x)).numpy()
    assert out64.dtype == np.float64
    assert np.abs(out64 - ref).max() < 1e-5 * 1e-6  # exact up to float64 rounding
    out32 = dwt(torch.from_numpy(x).float()).numpy()
    assert np.abs(out32 - ref).max() < 1e-5


def test_dwt_runs_in_autograd():
    dwt = PatchDWT("db4", 3, 32)
    x = torch.randn(2, 32, requires_grad=True)
    dwt(x).pow(2).sum().backward()
    # orthogonal transform: d/dx sum(W x)^2 = 2 W^T W x = 2 x
    torch.testing.assert_close(x.grad, 2 * x.detach(), atol=1e-5, rtol=1e-5)


def test_position_comes_from_wavenumber_not_index():
    torch.manual_seed(0)
    cfg = ModelConfig.preset("tiny", n_points=256)
    emb = WaveletEmbedding(cfg).eval()
    x = torch.randn(1, 256)
    a = emb(x, torch.tensor([[4000.0, 10000.0]]))
    shifted = emb(x, torch.tensor([[4100.0, 10100.0]]))
    assert (a[:, 2:] - shifted[:, 2:]).abs().max() > 1e-3
    # same wavenumber, different patch index -> same position encoding
    centres = emb.position.centres(torch.tensor([[1000.0, 3000.0], [1000.0, 3000.0]]))
    step = (3000.0 - 1000.0) / (256 - 1) * cfg.patch_size
    pe = emb.position(torch.tensor([[1000.0, 3000.0], [1000.0 + step, 3000.0 + step]]))
    torch.testing.assert_close(pe[1, :-1], pe[0, 1:], atol=1e-4, rtol=1e-4)
    assert centres.shape == (2, cfg.n_tokens)
