"""torchgraft-text: Text encoders (BERT, RoBERTa, XLM-R) with tokenizers-based transforms, and task heads on any encoder.

Importing this package imports only torch and torchgraft.core; tokenizers is imported when a
model or transform that needs it is built.
"""

from ._version import __version__

__all__ = ["__version__"]
