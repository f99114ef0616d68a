import pytest
import torch
import torch.nn.functional as F

from spectralfm.models import ModelConfig
from spectralfm.models.moe import MixtureOfExperts


@pytest.mark.parametrize("expert_type", ["mlp", "kan"])
def test_vectorised_dispatch_equals_per_token_top2(expert_type):
    torch.manual_seed(0)
    moe = MixtureOfExperts(ModelConfig.preset("tiny", expert_type=expert_type))
    x = torch.randn(3, 7, 32)
    out, aux = moe(x)
    flat = x.reshape(-1, 32)
    probs = F.softmax(moe.router(flat), dim=-1)
    for i in range(flat.shape[0]):  # the plain definition, token by token
        w, idx = probs[i].topk(2)
        w = w / w.sum()
        want = sum(w[j] * moe.experts[int(idx[j])](flat[i : i + 1])[0] for j in range(2))
        torch.testing.assert_close(out.reshape(-1, 32)[i], want, atol=1e-5, rtol=1e-5)
    assert aux.ndim == 0 and aux >= 1.0 - 1e-6  # E * sum(f * P) >= 1, equality when balanced


def test_load_balance_loss_penalises_collapse_and_has_router_gradient():
    torch.manual_seed(0)
    moe = MixtureOfExperts(ModelConfig.preset("tiny"))  # 4 experts, top-2
    v = torch.randn(32)
    x = v + 0.01 * torch.randn(64, 32)
    with torch.no_grad():  # every token routed to experts 0 and 1
        moe.router.weight.zero_()
        moe.router.weight[0] = 5.0 * v / v.norm()
        moe.router.weight[1] = 4.0 * v / v.norm()
    _, collapsed = moe(x)
    with torch.no_grad():
        moe.router.weight.copy_(1e-3 * torch.randn_like(moe.router.weight))
    _, balanced = moe(torch.randn(256, 32))
    assert collapsed > 1.8 and balanced < 1.1
    balanced.backward()
    assert moe.router.weight.grad.abs().sum() > 0


def test_load_balance_loss_is_the_switch_definition():
    torch.manual_seed(0)
    moe = MixtureOfExperts(ModelConfig.preset("tiny"))
    x = torch.randn(5, 9, 32)
    _, aux = moe(x)
    probs = F.softmax(moe.router(x.reshape(-1, 32)), dim=-1)
    top_i = probs.topk(2, dim=-1).indices
    load = F.one_hot(top_i, 4).sum(dim=(0, 1)).float() / top_i.numel()
    assert torch.equal(aux, 4 * (load * probs.mean(0)).sum())


def test_a_tokens_output_does_not_depend_on_the_other_tokens():
    torch.manual_seed(0)
    moe = MixtureOfExperts(ModelConfig.preset("tiny"))
    x = torch.randn(2, 5, 32)
    out, _ = moe(x)
    alone, _ = moe(x[1:, 2:3])
    torch.testing.assert_close(alone[0, 0], out[1, 2], atol=1e-6, rtol=1e-6)
    other = x.clone()
    other[0] = 10.0 * torch.randn(5, 32)  # change every token of the other row
    torch.testing.assert_close(moe(other)[0][1], out[1], atol=1e-6, rtol=1e-6)
