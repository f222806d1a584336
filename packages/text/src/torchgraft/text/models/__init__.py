"""The text model builders; importing this module registers them with torchgraft.core.

This module is the ``text`` entry of the ``torchgraft.models`` entry-point group. It imports
nothing heavier than torch at module level (``tokenizers`` is imported when a transform runs), so
that ``torchgraft.core.list_models()`` stays cheap.
"""

from .catalog import ARCHITECTURES
from .encoder import EncoderConfig, TextEncoder, hf_to_torchgraft
from .published import (
    BertBase_Weights,
    BertLarge_Weights,
    RobertaBase_Weights,
    RobertaLarge_Weights,
    XlmRobertaBase_Weights,
    XlmRobertaLarge_Weights,
)
from .tasks import masked_lm, question_answering, sentence_embedder, text_classifier, token_classifier

__all__ = [
    "ARCHITECTURES",
    "BertBase_Weights",
    "BertLarge_Weights",
    "RobertaBase_Weights",
    "RobertaLarge_Weights",
    "XlmRobertaBase_Weights",
    "XlmRobertaLarge_Weights",
    "EncoderConfig",
    "TextEncoder",
    "hf_to_torchgraft",
    "masked_lm",
    "question_answering",
    "sentence_embedder",
    "text_classifier",
    "token_classifier",
]
