"""The vision model builders; importing this module registers them with torchgraft.core.

This module is the ``vision`` entry of the ``torchgraft.models`` entry-point group. It imports
nothing heavier than torch at module level (torchvision is imported when transforms or detection
ops are used), so that ``torchgraft.core.list_models()`` stays cheap.
"""

from .efficientnet import EfficientNet, MBConvConfig
from .resnet import ResNet

__all__ = ["EfficientNet", "MBConvConfig", "ResNet"]
