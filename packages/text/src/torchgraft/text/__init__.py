"""torchgraft-text: Text encoders (BERT, RoBERTa, XLM-R), decoders (GPT-2) and encoder-decoders (T5, BART) with tokenizers-based transforms, text generation, and task heads on any backbone.

Importing this package imports only torch and torchgraft.core; tokenizers is imported when a
model or transform that needs it is built.
"""

from ._version import __version__

__all__ = ["__version__"]
