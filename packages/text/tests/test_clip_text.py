"""CLIP's text tower on its own (its parity with open_clip is torchgraft-multimodal's test): a
causal text backbone whose real tokens end at the end-of-text token."""

from __future__ import annotations

import pytest
import torch

import torchgraft.core as tg
from torchgraft.text.models import CLIPTextConfig, CLIPTextTransformer


def test_a_causal_text_backbone_summarised_at_its_end_of_text_token():
    torch.manual_seed(0)
    model = CLIPTextTransformer(CLIPTextConfig(vocab_size=50, context_length=12, width=32, heads=2, layers=2)).eval()
    ids = torch.tensor([[48, 5, 6, 49, 0, 0], [48, 7, 49, 0, 0, 0]])  # start, text, end-of-text (the highest id), zeros
    features = model.forward_features(ids)
    assert features.mask.tolist() == [[True] * 4 + [False] * 2, [True] * 3 + [False] * 3]
    emb = tg.Embedder(model, embed_dim=8)  # the default pooling of a causal backbone: its last real token
    assert emb.pool.mode == "last"
    changed = ids.clone()
    changed[0, 4:] = 3  # what follows the end-of-text token cannot change the embedding (causal)
    with torch.no_grad():
        torch.testing.assert_close(emb(changed)[0], emb(ids)[0])
    with pytest.raises(ValueError, match="exceed CLIP's context of 12"):
        model(torch.zeros(1, 13, dtype=torch.long))
    with pytest.raises(ValueError, match="activation must be"):
        CLIPTextConfig(activation="relu")
