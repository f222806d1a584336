"""core.attention.MultiheadAttention against torch's nn.MultiheadAttention with identical weights
(self, masked, causal, cross with another width), and its grouped-query and cached paths against
the plain computation they must equal."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from torchgraft.core.attention import MultiheadAttention
from torchgraft.core.generation import KVCache
from torchgraft.core.layers import RotaryEmbedding


def _theirs(embed: int, heads: int, **kwargs) -> nn.MultiheadAttention:
    torch.manual_seed(0)
    module = nn.MultiheadAttention(embed, heads, batch_first=True, **kwargs).eval()
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.2)  # biases too: zero biases would hide a misplaced one
    return module


def test_self_attention_equals_torchs_with_the_same_keys():
    theirs = _theirs(32, 4)
    ours = MultiheadAttention(32, 4).eval()
    ours.load_state_dict(theirs.state_dict())  # strict: nn.MultiheadAttention's names
    x = torch.randn(3, 7, 32)
    expected = theirs(x, x, x, need_weights=False)[0]
    torch.testing.assert_close(ours(x), expected, atol=1e-5, rtol=0)
    # a padding mask (True: may attend) equals torch's key_padding_mask (True: ignore)
    keep = torch.ones(3, 7, dtype=torch.bool)
    keep[1, 5:] = False
    expected = theirs(x, x, x, key_padding_mask=~keep, need_weights=False)[0]
    torch.testing.assert_close(ours(x, attn_mask=keep[:, None, None, :]), expected, atol=1e-5, rtol=0)


def test_causal_attention_equals_torchs_with_a_causal_mask():
    theirs = _theirs(32, 4)
    ours = MultiheadAttention(32, 4, causal=True).eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 9, 32)
    future = torch.triu(torch.ones(9, 9, dtype=torch.bool), diagonal=1)
    expected = theirs(x, x, x, attn_mask=future, need_weights=False)[0]
    torch.testing.assert_close(ours(x), expected, atol=1e-5, rtol=0)
    keep = torch.ones(2, 1, 1, 9, dtype=torch.bool)  # a mask given: causal still applies
    torch.testing.assert_close(ours(x, attn_mask=keep), expected, atol=1e-5, rtol=0)


def test_cross_attention_over_a_memory_of_another_width_equals_torchs():
    theirs = _theirs(32, 4, kdim=20, vdim=20)
    ours = MultiheadAttention(32, 4, kdim=20).eval()
    ours.load_state_dict(theirs.state_dict())  # q_proj_weight, k_proj_weight, v_proj_weight, in_proj_bias
    x, memory = torch.randn(2, 5, 32), torch.randn(2, 11, 20)
    expected = theirs(x, memory, memory, need_weights=False)[0]
    torch.testing.assert_close(ours(x, memory=memory), expected, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="reads a memory of width 20; pass memory="):
        ours(x)


def test_grouped_query_attention_equals_repeated_key_value_heads():
    torch.manual_seed(0)
    gqa = MultiheadAttention(32, 8, num_kv_heads=2, head_dim=4, bias=False, causal=True).eval()
    assert gqa.in_proj_weight.shape == ((8 + 2 * 2) * 4, 32) and gqa.in_proj_bias is None
    full = MultiheadAttention(32, 8, head_dim=4, bias=False, causal=True).eval()
    q, k, v = gqa.in_proj_weight.detach().split([32, 8, 8])
    repeat = lambda w: w.view(2, 1, 4, 32).expand(2, 4, 4, 32).reshape(32, 32)  # noqa: E731
    full.load_state_dict(
        {"in_proj_weight": torch.cat([q, repeat(k), repeat(v)]), "out_proj.weight": gqa.out_proj.weight}
    )
    x = torch.randn(2, 6, 32)
    torch.testing.assert_close(gqa(x), full(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("kv_heads", [4, 2])
def test_decoding_with_a_cache_equals_the_full_causal_pass(kv_heads):
    torch.manual_seed(0)
    attn = MultiheadAttention(32, 4, num_kv_heads=kv_heads, causal=True).eval()
    rope = RotaryEmbedding(8)
    x = torch.randn(2, 7, 32)
    full = attn(x, rotary=rope(torch.arange(7)[None].expand(2, -1)))
    cache = KVCache(1, 2, kv_heads, 10, 8)
    steps = []
    for start, stop in ((0, 4), (4, 5), (5, 7)):  # a prompt, then tokens one and two at a time
        slots = cache.reserve(stop - start)
        rotary = rope(slots[None].expand(2, -1))
        steps.append(attn(x[:, start:stop], rotary=rotary, cache=cache, slots=slots))
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="needs the slots"):
        attn(x, cache=KVCache(1, 2, kv_heads, 10, 8))


def test_cross_keys_and_values_are_computed_once_per_cache():
    torch.manual_seed(0)
    attn = MultiheadAttention(16, 2).eval()
    x, memory = torch.randn(1, 3, 16), torch.randn(1, 5, 16)
    cache = KVCache(1, 1, 2, 4, 8)
    first = attn(x, memory=memory, cache=cache)
    kept = cache.cross[0]
    assert kept is not None and kept[0].shape == (1, 2, 5, 8)
    again = attn(x, memory=torch.zeros_like(memory), cache=cache)  # the kept memory is read, not this one
    torch.testing.assert_close(again, first)
    assert cache.cross[0] is kept


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((30, 4), "not divisible by num_heads 4; give head_dim="),
        ((32, 6, {"num_kv_heads": 4, "head_dim": 8}), "num_heads a multiple of num_kv_heads"),
        ((32, 4, {"dropout": 1.0}), r"dropout must be in \[0, 1\)"),
    ],
)
def test_bad_sizes_say_what_was_expected(args, message):
    *sizes, kwargs = args if isinstance(args[-1], dict) else (*args, {})
    with pytest.raises(ValueError, match=message):
        MultiheadAttention(*sizes, **kwargs)


def test_reset_parameters_matches_torchs_rule_and_dropout_only_trains():
    attn = MultiheadAttention(16, 2, dropout=0.5)
    assert torch.count_nonzero(attn.in_proj_bias) == 0 and torch.count_nonzero(attn.out_proj.bias) == 0
    torch.manual_seed(0)
    x = torch.randn(1, 4, 16)
    assert not torch.equal(attn(x), attn(x))  # training: attention dropout applies
    attn.eval()
    torch.testing.assert_close(attn(x), attn(x))
