"""The audio models: every builder, weights enum, model class and checkpoint converter, importable
from here (``from torchgraft.audio.models import wav2vec2_base, Wav2Vec2_Base_Weights``).

Lazy (PEP 562): a name is imported from its family module when first used, and each registered model
has its own entry point in ``torchgraft.models`` naming that module, so ``get_model("wav2vec2_base")``
imports the wav2vec2 family alone. Nothing here imports more than torch at module level (torchaudio
is imported when resampling runs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torchgraft.core.lazy import lazy_exports

# Family module -> the names it exports (kept equal to each module's __all__ by a test).
_FAMILIES: dict[str, tuple[str, ...]] = {
    "convert": (
        "config_from_hf",
        "fairseq_to_torchaudio",
        "hf_labels",
        "hf_to_torchaudio",
        "read_fairseq_checkpoint",
        "TorchaudioBundleFile",
    ),
    "crepe": (
        "Crepe",
        "crepe_full",
        "Crepe_Full_Weights",
        "crepe_tiny",
        "Crepe_Tiny_Weights",
        "CrepeConfig",
        "check_pitch_input",
        "estimate_pitch",
        "PitchTrack",
    ),
    "wav2vec2": (
        "EN_LABELS",
        "from_huggingface",
        "hubert_base",
        "Hubert_Base_Weights",
        "hubert_large",
        "Hubert_Large_Weights",
        "hubert_xlarge",
        "Hubert_XLarge_Weights",
        "wav2vec2_base",
        "Wav2Vec2_Base_Weights",
        "wav2vec2_large",
        "wav2vec2_large_lv60k",
        "Wav2Vec2_Large_LV60K_Weights",
        "Wav2Vec2_Large_Weights",
        "wav2vec2_model",
        "Wav2Vec2Config",
        "Wav2Vec2Model",
    ),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _FAMILIES)

if TYPE_CHECKING:  # what editors and type checkers see
    from .convert import *  # noqa: F403
    from .crepe import *  # noqa: F403
    from .wav2vec2 import *  # noqa: F403
