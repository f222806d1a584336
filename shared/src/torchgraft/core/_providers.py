"""Which official distribution provides each model name, so that asking for a model of a domain
that is not installed says what to install. Data only; a cross-package test keeps it equal to the
registry of the installed distributions."""

from __future__ import annotations

__all__ = ["PROVIDERS"]

PROVIDERS: dict[str, frozenset[str]] = {
    "torchgraft-vision": frozenset(
        {
            *(f"resnet{n}" for n in (18, 34, 50, 101, 152)),
            "resnext50_32x4d",
            "wide_resnet50_2",
            *(f"efficientnet_b{i}" for i in range(8)),
            *(f"efficientnet_lite{i}" for i in range(5)),
            "mobilenet_v2",
            "mobilenet_v3_large",
            "mobilenet_v3_small",
            "vit_b_16",
            "fasterrcnn",
            "fasterrcnn_resnet50_fpn",
            "deeplabv3",
            "deeplabv3_resnet50",
            "fcn",
            "fcn_resnet50",
        }
    ),
    "torchgraft-text": frozenset(
        {
            "bert_base",
            "bert_large",
            "minilm_l6_h384",
            "roberta_base",
            "roberta_large",
            "xlm_roberta_base",
            "xlm_roberta_large",
            "all_minilm_l6_v2",
            "gpt2",
            "gpt2_medium",
            "gpt2_large",
            "gpt2_xl",
            "distilgpt2",
            "t5_small",
            "t5_base",
            "t5_large",
            "flan_t5_small",
            "flan_t5_base",
            "flan_t5_large",
            "bart_base",
            "bart_large",
            "bart_large_cnn",
            "text_classifier",
            "token_classifier",
            "question_answering",
            "masked_lm",
            "sentence_embedder",
            "causal_lm",
            "seq2seq",
        }
    ),
    "torchgraft-audio": frozenset(
        {
            "wav2vec2_model",
            "wav2vec2_base",
            "wav2vec2_large",
            "wav2vec2_large_lv60k",
            "hubert_base",
            "hubert_large",
            "hubert_xlarge",
            "crepe_full",
            "crepe_tiny",
        }
    ),
    "torchgraft-multimodal": frozenset({"clip_vit_b32", "clip_vit_b16", "clip_vit_l14"}),
}
