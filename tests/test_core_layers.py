"""Core's shared layers against transformers' Llama modules with identical weights: RMSNorm (fp32
and bf16), rotary embeddings under every frequency rule, their application (full and partial), and
the gated MLP, and attention with rotary positions and grouped key/value heads. transformers is a
test-only reference here."""

from __future__ import annotations

import pytest
import torch

from torchgraft.core.attention import MultiheadAttention
from torchgraft.core.layers import (
    DropPath,
    GatedMLP,
    LayerScale,
    QuickGELU,
    RMSNorm,
    RopeScaling,
    RotaryEmbedding,
    apply_rotary,
)

HEAD_DIM = 32


def llama_config(rope_scaling: dict | None = None, max_positions: int = 64):
    import transformers

    return transformers.LlamaConfig(
        hidden_size=4 * HEAD_DIM,
        num_attention_heads=4,
        intermediate_size=96,
        max_position_embeddings=max_positions,
        rope_theta=500000.0,
        rope_scaling=rope_scaling,
        rms_norm_eps=1e-5,
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rmsnorm_equals_llamas(dtype):
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    torch.manual_seed(0)
    theirs = LlamaRMSNorm(48, eps=1e-5).to(dtype)
    theirs.weight.data = torch.randn(48).to(dtype)
    ours = RMSNorm(48, eps=1e-5).to(dtype)
    ours.load_state_dict(theirs.state_dict())
    x = (torch.randn(3, 7, 48) * 5).to(dtype)
    assert torch.equal(ours(x), theirs(x))


SCALINGS = [
    (None, RopeScaling()),
    ({"rope_type": "linear", "factor": 4.0}, RopeScaling("linear", factor=4.0)),
    (
        {"rope_type": "dynamic", "factor": 2.0},
        RopeScaling("dynamic", factor=2.0, original_max_positions=64),
    ),
    (
        {
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 16,
        },
        RopeScaling("llama3", factor=8.0, original_max_positions=16, low_freq_factor=1.0, high_freq_factor=4.0),
    ),
]


@pytest.mark.parametrize(("theirs_scaling", "ours_scaling"), SCALINGS, ids=["default", "linear", "dynamic", "llama3"])
@pytest.mark.parametrize("length", [10, 200])  # 200: past the training length, where scaling acts
def test_rotary_embeddings_equal_llamas_under_every_rule(theirs_scaling, ours_scaling, length):
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    config = llama_config(theirs_scaling)
    theirs = LlamaRotaryEmbedding(config)
    ours = RotaryEmbedding(HEAD_DIM, base=500000.0, max_positions=64, scaling=ours_scaling)
    positions = torch.arange(length)[None].expand(2, -1)
    x = torch.randn(2, length, 4 * HEAD_DIM)
    cos_t, sin_t = theirs(x, positions)
    cos_o, sin_o = ours(positions)
    torch.testing.assert_close(cos_o, cos_t, atol=1e-6, rtol=0)
    torch.testing.assert_close(sin_o, sin_t, atol=1e-6, rtol=0)
    q, k = torch.randn(2, 4, length, HEAD_DIM), torch.randn(2, 4, length, HEAD_DIM)
    q_t, k_t = apply_rotary_pos_emb(q, k, cos_t, sin_t)
    torch.testing.assert_close(apply_rotary(q, cos_o, sin_o), q_t, atol=1e-6, rtol=0)
    torch.testing.assert_close(apply_rotary(k, cos_o, sin_o), k_t, atol=1e-6, rtol=0)


def test_partial_rotary_turns_only_the_first_dimensions():
    rope = RotaryEmbedding(16)
    cos, sin = rope(torch.arange(5)[None])
    x = torch.randn(1, 2, 5, HEAD_DIM)
    out = apply_rotary(x, cos, sin)
    assert torch.equal(out[..., 16:], x[..., 16:]) and not torch.allclose(out[..., :16], x[..., :16])
    torch.testing.assert_close(out[..., :16], apply_rotary(x[..., :16], cos, sin))


def test_gated_mlp_equals_llamas_and_keeps_its_parameter_names():
    from transformers.models.llama.modeling_llama import LlamaMLP

    torch.manual_seed(0)
    config = llama_config()
    theirs = LlamaMLP(config)
    ours = GatedMLP(config.hidden_size, config.intermediate_size)
    ours.load_state_dict(theirs.state_dict())  # strict: the same keys
    x = torch.randn(2, 5, config.hidden_size)
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-6, rtol=0)


@pytest.mark.parametrize("kv_heads", [4, 2, 1])  # multi-head, grouped-query, multi-query
def test_attention_equals_llamas_with_rotary_and_grouped_heads(kv_heads):
    import transformers
    from transformers.models.llama.modeling_llama import LlamaAttention, LlamaRotaryEmbedding

    torch.manual_seed(0)
    config = transformers.LlamaConfig(**{**llama_config().to_dict(), "num_key_value_heads": kv_heads})
    config._attn_implementation = "sdpa"
    theirs = LlamaAttention(config, layer_idx=0).eval()
    ours = MultiheadAttention(4 * HEAD_DIM, 4, num_kv_heads=kv_heads, bias=False, causal=True).eval()
    state = theirs.state_dict()
    ours.load_state_dict(
        {
            "in_proj_weight": torch.cat([state["q_proj.weight"], state["k_proj.weight"], state["v_proj.weight"]]),
            "out_proj.weight": state["o_proj.weight"],
        }
    )
    x = torch.randn(2, 9, 4 * HEAD_DIM)
    positions = torch.arange(9)[None].expand(2, -1)
    cos, sin = LlamaRotaryEmbedding(config)(x, positions)
    causal = torch.full((9, 9), float("-inf")).triu(1)[None, None].expand(2, 1, 9, 9)
    expected = theirs(x, position_embeddings=(cos, sin), attention_mask=causal)[0]
    rope = RotaryEmbedding(HEAD_DIM, base=500000.0, max_positions=64)
    torch.testing.assert_close(ours(x, rotary=rope(positions)), expected, atol=1e-5, rtol=0)


def test_small_layers_do_what_they_say():
    x = torch.randn(4, 3, 8)
    torch.testing.assert_close(QuickGELU()(x), x * torch.sigmoid(1.702 * x))
    scale = LayerScale(8, init=0.5)
    torch.testing.assert_close(scale(x), x * 0.5)
    drop = DropPath(0.5)
    assert torch.equal(drop.eval()(x), x)
    torch.manual_seed(0)
    out = drop.train()(torch.ones(1000, 4))
    kept = out[:, 0] != 0
    assert torch.equal(out[kept], torch.full_like(out[kept], 2.0)) and 350 < int(kept.sum()) < 650
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="drop-path probability"):
            DropPath(bad)
    with pytest.raises(ValueError, match="rope_type must be one of"):
        RopeScaling("yarn")
    with pytest.raises(ValueError, match="needs original_max_positions"):
        RopeScaling("llama3", factor=8.0)
    with pytest.raises(ValueError, match="even and positive"):
        RotaryEmbedding(15)
