import torch
from torch import nn

from spectralfm.models import (
    LoRALinear,
    ModelConfig,
    SpectralFM,
    apply_lora,
    count_parameters,
    lora_parameters,
    mark_only_lora_and_heads_trainable,
    merge_lora,
)
from spectralfm.models.transformer import SelfAttention


def _inputs(model, b=2):
    torch.manual_seed(3)
    return torch.randn(b, model.cfg.n_points), torch.tensor([[4000.0, 10000.0]] * b)


def test_lora_only_on_attention_projections():
    torch.manual_seed(0)
    model = SpectralFM(ModelConfig.preset("tiny", n_points=256, n_transformer=2, lora_rank=4))
    wrapped = [n for n, m in model.named_modules() if isinstance(m, LoRALinear)]
    assert len(wrapped) == 2 * 4
    for name in wrapped:
        parent = model.get_submodule(name.rsplit(".", 1)[0])
        assert isinstance(parent, SelfAttention), name
        assert name.rsplit(".", 1)[1] in ("q_proj", "k_proj", "v_proj", "out_proj")
    # Mamba blocks also have an out_proj: it must stay a plain Linear
    assert all(type(block.out_proj) is nn.Linear for block in model.mamba)


def test_merged_equals_unmerged_and_starts_as_base():
    torch.manual_seed(0)
    cfg = ModelConfig.preset("tiny", n_points=256)
    plain = SpectralFM(cfg).eval()
    x, axis = _inputs(plain)
    want = plain(x, axis)["tokens"]
    model = apply_lora(plain, rank=4, alpha=8.0)
    torch.testing.assert_close(model(x, axis)["tokens"], want)  # B = 0: no change yet
    with torch.no_grad():
        for p in lora_parameters(model):
            if p.shape[1] == 4:  # lora_B (out, r)
                p.normal_(std=0.5)
    unmerged = model(x, axis)["tokens"]
    assert (unmerged - want).abs().max() > 1e-3
    merged = merge_lora(model)
    assert not any(isinstance(m, LoRALinear) for m in merged.modules())
    torch.testing.assert_close(merged(x, axis)["tokens"], unmerged, atol=1e-5, rtol=1e-5)


def test_trainable_share_is_small_for_base_and_gradients_flow_only_there():
    torch.manual_seed(0)
    model = SpectralFM(ModelConfig.preset("base", lora_rank=8))
    trainable, total = mark_only_lora_and_heads_trainable(model, heads=("regression",))
    share = trainable / total
    print(f"base LoRA r=8: trainable {trainable} of {total} parameters ({100 * share:.2f}%)")
    assert trainable == count_parameters(model, trainable_only=True)
    assert 0 < share < 0.10
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert all("lora_" in n or n.startswith("regression.") for n in names)
    small = SpectralFM(ModelConfig.preset("tiny", n_points=256, lora_rank=2))
    mark_only_lora_and_heads_trainable(small)
    x, axis = _inputs(small)
    small(x, axis)["y_pred"].sum().backward()
    for n, p in small.named_parameters():
        assert (p.grad is not None) == p.requires_grad, n


def test_pretrained_checkpoint_loads_into_lora_model():
    torch.manual_seed(0)
    cfg = ModelConfig.preset("tiny", n_points=256)
    pretrained = SpectralFM(cfg).eval()
    tuned = SpectralFM(ModelConfig.from_dict({**cfg.to_dict(), "lora_rank": 4})).eval()
    missing, unexpected = tuned.load_state_dict(pretrained.state_dict(), strict=False)
    assert unexpected == [] and missing and all("lora_" in k for k in missing)
    x, axis = _inputs(pretrained)
    torch.testing.assert_close(tuned(x, axis)["cls"], pretrained(x, axis)["cls"])
