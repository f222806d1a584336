"""The audio model builders; importing this module registers them with torchgraft.core.

This module is the ``audio`` entry of the ``torchgraft.models`` entry-point group. It imports
nothing heavier than torch at module level (torchaudio is imported when resampling runs), so that
``torchgraft.core.list_models()`` stays cheap.
"""

from .crepe import Crepe, CrepeConfig, PitchTrack, estimate_pitch
from .wav2vec2 import Wav2Vec2Config, Wav2Vec2Model

__all__ = ["Crepe", "CrepeConfig", "PitchTrack", "Wav2Vec2Config", "Wav2Vec2Model", "estimate_pitch"]
