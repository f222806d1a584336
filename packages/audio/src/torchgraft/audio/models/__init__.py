"""The audio model builders; importing this module registers them with torchgraft.core.

This module is the ``audio`` entry of the ``torchgraft.models`` entry-point group. It imports
nothing heavier than torch at module level (torchaudio is imported when resampling runs), so that
``torchgraft.core.list_models()`` stays cheap.
"""

from .convert import (
    TorchaudioBundleFile,
    config_from_hf,
    fairseq_to_torchaudio,
    from_huggingface,
    hf_labels,
    hf_to_torchaudio,
    read_fairseq_checkpoint,
)
from .crepe import Crepe, CrepeConfig, PitchTrack, estimate_pitch
from .wav2vec2 import Wav2Vec2Config, Wav2Vec2Model
from .wav2vec2_weights import (
    EN_LABELS,
    Hubert_Base_Weights,
    Hubert_Large_Weights,
    Hubert_XLarge_Weights,
    Wav2Vec2_Base_Weights,
    Wav2Vec2_Large_LV60K_Weights,
    Wav2Vec2_Large_Weights,
)

__all__ = [
    "EN_LABELS",
    "Crepe",
    "CrepeConfig",
    "Hubert_Base_Weights",
    "Hubert_Large_Weights",
    "Hubert_XLarge_Weights",
    "PitchTrack",
    "TorchaudioBundleFile",
    "Wav2Vec2Config",
    "Wav2Vec2Model",
    "Wav2Vec2_Base_Weights",
    "Wav2Vec2_Large_LV60K_Weights",
    "Wav2Vec2_Large_Weights",
    "config_from_hf",
    "estimate_pitch",
    "fairseq_to_torchaudio",
    "from_huggingface",
    "hf_labels",
    "hf_to_torchaudio",
    "read_fairseq_checkpoint",
]
