"""Weights of the published BERT, RoBERTa and XLM-R encoders (Hugging Face repositories).

The files are the upstream ``model.safetensors`` and ``tokenizer.json`` of each repository, read in
the Hugging Face layout and converted on load (:func:`hf_to_torchgraft`: query/key/value fused,
pooler and pre-training heads dropped). They are encoder weights (``role="backbone"``): task heads
come fresh from the task builders.

Their publishers give no sha256, so the entries carry ``sha256=None``: the weight store checks the
digest the Hub declares for the file on the first download, pins it, and verifies every later
download against it (see docs/store.md); ``TORCHGRAFT_REQUIRE_PINNED=1`` refuses them.
``num_params`` counts the encoder without the pooler (the published totals include it:
e.g. bert-base-uncased 109,482,240 = 108,891,648 + 768 x 768 + 768).
"""

from __future__ import annotations

from typing import Any

from torchgraft.core import Asset, Weights, WeightsEnum

from ..transforms import TokenizerFromAsset
from .encoder import hf_to_torchgraft

__all__ = [
    "BertBase_Weights",
    "BertLarge_Weights",
    "RobertaBase_Weights",
    "RobertaLarge_Weights",
    "XlmRobertaBase_Weights",
    "XlmRobertaLarge_Weights",
]

HUB = "https://huggingface.co/"
_BERT_PAPER = "https://arxiv.org/abs/1810.04805"
_ROBERTA_PAPER = "https://arxiv.org/abs/1907.11692"
_XLMR_PAPER = "https://arxiv.org/abs/1911.02116"


def _hub(
    repo: str,
    *,
    num_params: int,
    license: str,
    paper: str,
    approx_size_mb: int,
    token_types: bool,
    max_length: int = 512,
    config: dict[str, Any] | None = None,
    **meta: Any,
) -> Weights:
    """One repository's encoder: ``model.safetensors`` plus its ``tokenizer.json`` as an asset."""
    base = f"{HUB}{repo}/resolve/main/"
    tokenizer = Asset(base + "tokenizer.json", sha256=None)
    return Weights(
        url=base + "model.safetensors",
        sha256=None,
        role="backbone",
        adapter=hf_to_torchgraft,
        transforms=TokenizerFromAsset(tokenizer, max_length=max_length, with_token_types=token_types),
        assets={"tokenizer.json": tokenizer},
        meta={
            "num_params": num_params,
            "license": license,
            "recipe": paper,
            "source": f"{HUB}{repo}",
            "approx_size_mb": approx_size_mb,
            "max_length": max_length,
            **({"config": config} if config else {}),
            **meta,
        },
    )


class BertBase_Weights(WeightsEnum):
    UNCASED = _hub(
        "google-bert/bert-base-uncased",
        num_params=108891648,
        license="Apache-2.0",
        paper=_BERT_PAPER,
        approx_size_mb=440,
        token_types=True,
        training_data="BooksCorpus + English Wikipedia, lower-cased",
        metrics={"GLUE test": {"average": 79.6}},
    )
    CASED = _hub(
        "google-bert/bert-base-cased",
        num_params=107719680,
        license="Apache-2.0",
        paper=_BERT_PAPER,
        approx_size_mb=436,
        token_types=True,
        config={"vocab_size": 28996},
        training_data="BooksCorpus + English Wikipedia, cased",
    )
    DEFAULT = UNCASED


class BertLarge_Weights(WeightsEnum):
    UNCASED = _hub(
        "google-bert/bert-large-uncased",
        num_params=334092288,
        license="Apache-2.0",
        paper=_BERT_PAPER,
        approx_size_mb=1340,
        token_types=True,
        training_data="BooksCorpus + English Wikipedia, lower-cased",
        metrics={"GLUE test": {"average": 82.1}},
    )
    DEFAULT = UNCASED


class RobertaBase_Weights(WeightsEnum):
    ENGLISH_160GB = _hub(
        "FacebookAI/roberta-base",
        num_params=124055040,
        license="MIT",
        paper=_ROBERTA_PAPER,
        approx_size_mb=499,
        token_types=False,
        training_data="BookCorpus, Wikipedia, CC-News, OpenWebText, Stories (160 GB)",
        metrics={"GLUE test": {"MNLI": 87.6, "QQP": 91.9, "QNLI": 92.8, "SST-2": 94.8}},
    )
    DEFAULT = ENGLISH_160GB


class RobertaLarge_Weights(WeightsEnum):
    ENGLISH_160GB = _hub(
        "FacebookAI/roberta-large",
        num_params=354310144,
        license="MIT",
        paper=_ROBERTA_PAPER,
        approx_size_mb=1420,
        token_types=False,
        training_data="BookCorpus, Wikipedia, CC-News, OpenWebText, Stories (160 GB)",
        metrics={"GLUE test": {"MNLI": 90.2, "QQP": 92.2, "QNLI": 94.7, "SST-2": 96.4}},
    )
    DEFAULT = ENGLISH_160GB


class XlmRobertaBase_Weights(WeightsEnum):
    CC100 = _hub(
        "FacebookAI/xlm-roberta-base",
        num_params=277453056,
        license="MIT",
        paper=_XLMR_PAPER,
        approx_size_mb=1120,
        token_types=False,
        training_data="CommonCrawl CC-100, 100 languages (2.5 TB)",
        metrics={"XNLI": {"accuracy, cross-lingual transfer (average)": 76.2}},
    )
    DEFAULT = CC100


class XlmRobertaLarge_Weights(WeightsEnum):
    CC100 = _hub(
        "FacebookAI/xlm-roberta-large",
        num_params=558840832,
        license="MIT",
        paper=_XLMR_PAPER,
        approx_size_mb=2240,
        token_types=False,
        training_data="CommonCrawl CC-100, 100 languages (2.5 TB)",
        metrics={"XNLI": {"accuracy, cross-lingual transfer (average)": 80.9}},
    )
    DEFAULT = CC100


PUBLISHED: dict[str, type[WeightsEnum]] = {
    "bert_base": BertBase_Weights,
    "bert_large": BertLarge_Weights,
    "roberta_base": RobertaBase_Weights,
    "roberta_large": RobertaLarge_Weights,
    "xlm_roberta_base": XlmRobertaBase_Weights,
    "xlm_roberta_large": XlmRobertaLarge_Weights,
}
