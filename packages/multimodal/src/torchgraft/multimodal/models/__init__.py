"""The multimodal models: every builder and model class, importable from here
(``from torchgraft.multimodal.models import clip_vit_b32``).

Lazy (PEP 562), as the domain packages' models: ``get_model("clip_vit_b32")`` imports the CLIP
module alone, and nothing here imports more than torch at module level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torchgraft.core.lazy import lazy_exports

# Family module -> the names it exports (kept equal to each module's __all__ by a test).
_FAMILIES: dict[str, tuple[str, ...]] = {
    "clip": (
        "ARCHITECTURES",
        "build_clip",
        "CLIPConfig",
        "CLIP_ViT_B_16_Weights",
        "CLIP_ViT_B_32_Weights",
        "CLIP_ViT_L_14_Weights",
        "clip_vit_b16",
        "clip_vit_b32",
        "clip_vit_l14",
        "from_huggingface",
        "from_open_clip",
        "huggingface_to_torchgraft",
        "open_clip_to_torchgraft",
    ),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _FAMILIES)

if TYPE_CHECKING:  # what editors and type checkers see
    from .clip import *  # noqa: F403
