"""The text models: every builder, weights enum, model class and task head, importable from here
(``from torchgraft.text.models import bert_base, BertBase_Weights``).

Lazy (PEP 562): a name is imported from its family module when first used, and each registered model
has its own entry point in ``torchgraft.models`` naming that module, so ``get_model("bert_base")``
imports the BERT family alone. Nothing here imports more than torch at module level (``tokenizers``
is imported when a transform runs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torchgraft.core.lazy import lazy_exports

# Family module -> the names it exports (kept equal to each module's __all__ by a test).
_FAMILIES: dict[str, tuple[str, ...]] = {
    "bart": (
        "Bart",
        "bart_base",
        "bart_large",
        "bart_large_cnn",
        "BartBase_Weights",
        "BartConfig",
        "BartLarge_Weights",
        "BartLargeCnn_Weights",
        "hf_to_bart",
    ),
    "bert": (
        "all_minilm_l6_v2",
        "AllMiniLM_L6_V2_Weights",
        "ARCHITECTURES",
        "bert_base",
        "bert_large",
        "BertBase_Weights",
        "BertLarge_Weights",
        "EncoderConfig",
        "hf_to_torchgraft",
        "minilm_l6_h384",
        "roberta_base",
        "roberta_large",
        "RobertaBase_Weights",
        "RobertaLarge_Weights",
        "TextEncoder",
        "xlm_roberta_base",
        "xlm_roberta_large",
        "XlmRobertaBase_Weights",
        "XlmRobertaLarge_Weights",
    ),
    "clip_text": ("CLIPTextConfig", "CLIPTextTransformer"),
    "gpt": (
        "distilgpt2",
        "DistilGPT2_Weights",
        "GPT2",
        "gpt2",
        "gpt2_large",
        "gpt2_medium",
        "gpt2_xl",
        "GPT2_Weights",
        "GPT2Config",
        "GPT2Large_Weights",
        "GPT2Medium_Weights",
        "GPT2XL_Weights",
        "hf_to_gpt2",
    ),
    "heads": (
        "LMHead",
        "MaskedLMHead",
        "QuestionAnsweringHead",
        "SentenceEmbeddingHead",
        "TokenClassificationHead",
    ),
    "lm": ("CausalLMModel", "causal_lm", "Seq2Seq", "seq2seq"),
    "t5": (
        "flan_t5_base",
        "flan_t5_large",
        "flan_t5_small",
        "FlanT5Base_Weights",
        "FlanT5Large_Weights",
        "FlanT5Small_Weights",
        "hf_to_t5",
        "T5",
        "t5_base",
        "t5_large",
        "t5_small",
        "T5Base_Weights",
        "T5Config",
        "T5Large_Weights",
        "T5Small_Weights",
    ),
    "huggingface": ("from_huggingface", "UnsupportedConfigError"),
    "tasks": (
        "hf_mlm_head",
        "hf_mlm_head_state",
        "masked_lm",
        "question_answering",
        "sentence_embedder",
        "text_classifier",
        "token_classifier",
    ),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _FAMILIES)

if TYPE_CHECKING:  # what editors and type checkers see
    from .bart import *  # noqa: F403
    from .bert import *  # noqa: F403
    from .clip_text import *  # noqa: F403
    from .gpt import *  # noqa: F403
    from .heads import *  # noqa: F403
    from .huggingface import *  # noqa: F403
    from .lm import *  # noqa: F403
    from .t5 import *  # noqa: F403
    from .tasks import *  # noqa: F403
