import json

import pytest

from spectralfm.errors import InputError
from spectralfm.models import ModelConfig, SpectralFM, count_parameters


def test_json_round_trip_keeps_every_field():
    cfg = ModelConfig.preset("tiny", expert_type="kan", lora_rank=4, n_targets=3)
    back = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg
    assert back.n_tokens == cfg.n_points // cfg.patch_size


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"patch_size": 30}, "patch_size"),  # does not divide 2048
        ({"patch_size": 36, "n_points": 36 * 8}, "patch_size"),  # not divisible by 2**3
        ({"n_heads": 5}, "n_heads"),
        ({"moe_top_k": 9}, "moe_top_k"),
        ({"expert_type": "rnn"}, "expert_type"),
        ({"wavelet": "morl"}, "wavelet"),
        ({"d_model": "64"}, "d_model"),
        ({"dropout": 1.0}, "dropout"),
        ({"scan": "fast"}, "scan"),
    ],
)
def test_bad_values_raise_input_error_naming_the_key(overrides, key):
    with pytest.raises(InputError, match=key):
        ModelConfig.preset("tiny", **overrides)


def test_unknown_keys_and_presets_are_refused():
    with pytest.raises(InputError, match="d_modle"):
        ModelConfig.from_dict({"d_modle": 64})
    with pytest.raises(InputError, match="huge"):
        ModelConfig.preset("huge")


def test_preset_parameter_counts():
    counts = {
        name: count_parameters(SpectralFM(ModelConfig.preset(name)))
        for name in ("tiny", "base", "large")
    }
    print("parameters:", counts)
    assert counts["tiny"] < 200_000
    assert abs(counts["base"] - 6.5e6) <= 0.65e6
    assert 25e6 <= counts["large"] <= 50e6
