"""Text encoders against transformers with identical weights, and the conformance kit."""

from __future__ import annotations

import pytest
import torch

import torchgraft.core as tg
from torchgraft.text.models import hf_to_torchgraft

TINY = {
    "vocab_size": 120,
    "hidden_size": 32,
    "num_layers": 2,
    "num_heads": 4,
    "intermediate_size": 64,
    "max_positions": 66,
}


def _hf(kind: str):
    import transformers

    common = {
        "vocab_size": 120,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 64,
        "max_position_embeddings": 66,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
    }
    if kind == "bert":
        return transformers.BertModel(transformers.BertConfig(**common)).eval()
    cfg_cls = transformers.RobertaConfig if kind == "roberta" else transformers.XLMRobertaConfig
    model_cls = transformers.RobertaModel if kind == "roberta" else transformers.XLMRobertaModel
    return model_cls(cfg_cls(**common, type_vocab_size=1, pad_token_id=1, layer_norm_eps=1e-5)).eval()


def _batch(pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    lengths = [9, 4, 1, 7]
    ids = torch.full((len(lengths), max(lengths)), pad)
    mask = torch.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.randint(3, 120, (n,))
        mask[i, :n] = 1
    return ids, mask


@pytest.mark.parametrize(
    ("kind", "name"), [("bert", "bert_base"), ("roberta", "roberta_base"), ("xlmr", "xlm_roberta_base")]
)
def test_hidden_states_equal_transformers_on_padded_batches(kind, name):
    torch.manual_seed(0)
    ref = _hf(kind)
    config = dict(TINY)
    if kind != "bert":
        config.update(type_vocab_size=1, pad_token_id=1, layer_norm_eps=1e-5)
    model = tg.get_model(name, **config, dropout=0.0).eval()
    report = tg.load_weights(model, hf_to_torchgraft(ref.state_dict()))
    assert report.complete, report
    ids, mask = _batch(pad=ref.config.pad_token_id)
    with torch.no_grad():
        expected = ref(input_ids=ids, attention_mask=mask).last_hidden_state
        found = model(ids, mask)
    real = mask.bool()
    torch.testing.assert_close(found[real], expected[real], atol=1e-4, rtol=0)


def test_hf_prefixed_checkpoints_and_heads_map_cleanly():
    torch.manual_seed(0)
    ref = _hf("bert")
    state = {f"bert.{k}": v for k, v in ref.state_dict().items()} | {"cls.predictions.bias": torch.zeros(120)}
    mapped = hf_to_torchgraft(state)
    assert "layers.0.attn.qkv.weight" in mapped and mapped["layers.0.attn.qkv.weight"].shape == (96, 32)
    assert not any(k.startswith(("pooler", "cls", "bert.")) for k in mapped)
    broken = {k: v for k, v in ref.state_dict().items() if "attention.self.key" not in k}
    with pytest.raises(KeyError, match="expected query, key and value"):
        hf_to_torchgraft(broken)


def test_too_long_inputs_and_bad_shapes_are_refused():
    model = tg.get_model("bert_base", **TINY).eval()
    with pytest.raises(ValueError, match="exceeds the model's 66 positions"):
        model(torch.ones(1, 70, dtype=torch.long))
    with pytest.raises(ValueError, match=r"input_ids must be \[batch, tokens\]"):
        model(torch.ones(70, dtype=torch.long))
    with pytest.raises(TypeError, match=r"unexpected keyword argument .hidden. \(did you mean .hidden_size.\?\)"):
        tg.get_model("bert_base", hidden=3)


def test_unpadded_and_padded_paths_agree_on_real_tokens_and_gradients():
    """Per-token layers skip padding (the default): same outputs on real tokens and same gradients
    as running every position, and zeros at padding."""
    torch.manual_seed(0)
    fast = tg.get_model("bert_base", num_layers=2, hidden_size=64, num_heads=4, intermediate_size=128, dropout=0.0)
    slow = tg.get_model(
        "bert_base", num_layers=2, hidden_size=64, num_heads=4, intermediate_size=128, dropout=0.0, unpad=False
    )
    slow.load_state_dict(fast.state_dict())
    ids = torch.randint(5, 1000, (3, 12))
    mask = torch.ones(3, 12, dtype=torch.long)
    mask[1, 7:] = 0
    mask[2, 2:] = 0  # 40% padding: the unpadded path runs
    a, b = fast(ids, mask), slow(ids, mask)
    real = mask.bool()
    torch.testing.assert_close(a[real], b[real], atol=1e-5, rtol=0)
    assert a[~real].abs().max() == 0
    a[real].sum().backward()
    b[real].sum().backward()
    for (name, p), q in zip(fast.named_parameters(), slow.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-4, rtol=1e-4, msg=name)
