"""torchgraft-audio: Speech and audio models (wav2vec 2.0, HuBERT, CREPE) with versioned weights, and heads on any audio encoder.

Importing this package imports only torch and torchgraft.core; torchaudio is imported when a
model or transform that needs it is built.
"""

from ._version import __version__

__all__ = ["__version__"]
