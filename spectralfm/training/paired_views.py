"""The pretraining model: SpectralFM run on two simulated instrument views of each spectrum.

One module wraps everything a pretraining step differentiates, so that DistributedDataParallel
wraps one forward and reduces every gradient: the encoder on both views, the FNO transfer head
(view B -> view A) and the linear instrument head (z_inst -> the view's drawn effect parameters).
The instrument head exists for pretraining only: it makes z_inst carry the instrument, and is not
part of the saved SpectralFM (``model`` is).
"""

from __future__ import annotations

import torch
from torch import nn

from spectralfm.models.spectralfm import SpectralFM
from spectralfm.simulator import N_EFFECT_PARAMS


class PairedViews(nn.Module):
    def __init__(self, model: SpectralFM):
        super().__init__()
        self.model = model
        self.instrument_head = nn.Linear(model.cfg.d_z, N_EFFECT_PARAMS)

    def forward(
        self,
        view_a: torch.Tensor,
        view_b: torch.Tensor,
        axis: torch.Tensor,
        mask_a: torch.Tensor,
        mask_b: torch.Tensor,
        domain: torch.Tensor | None = None,
    ) -> dict:
        out_a = self.model(view_a, axis, mask=mask_a, domain=domain)
        out_b = self.model(view_b, axis, mask=mask_b, domain=domain)
        return {
            "a": out_a,
            "b": out_b,
            "translated": self.model.transfer(view_b, axis),
            "instrument_pred": (
                self.instrument_head(out_a["z_inst"].float()),
                self.instrument_head(out_b["z_inst"].float()),
            ),
        }
