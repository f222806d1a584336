"""The audio models: every builder, weights enum, model class and checkpoint converter, importable
from here (``from torchgraft.audio.models import wav2vec2_base, Wav2Vec2_Base_Weights``).

This module is the ``audio`` entry of the ``torchgraft.models`` entry-point group; importing it
registers the builders with torchgraft.core. It imports nothing heavier than torch at module level
(torchaudio is imported when resampling runs), so that ``torchgraft.core.list_models()`` stays cheap.
"""

from .convert import *  # noqa: F403
from .convert import __all__ as _convert
from .crepe import *  # noqa: F403
from .crepe import __all__ as _crepe
from .wav2vec2 import *  # noqa: F403
from .wav2vec2 import __all__ as _wav2vec2

__all__ = sorted({*_convert, *_crepe, *_wav2vec2})
