"""The vision model builders; importing this module registers them with torchgraft.core.

This module is the ``vision`` entry of the ``torchgraft.models`` entry-point group. It imports
nothing heavier than torch at module level (torchvision is imported when transforms or detection
ops are used), so that ``torchgraft.core.list_models()`` stays cheap.
"""

from .efficientnet import EfficientNet, MBConvConfig
from .faster_rcnn import BackboneWithFPN, FasterRCNN
from .mobilenet import InvertedResidualConfig, MobileNetV2, MobileNetV3
from .resnet import ResNet
from .segmentation import FCN, DeepLabV3
from .vit import VisionTransformer, ViTConfig

__all__ = [
    "FCN",
    "BackboneWithFPN",
    "DeepLabV3",
    "EfficientNet",
    "FasterRCNN",
    "InvertedResidualConfig",
    "MBConvConfig",
    "MobileNetV2",
    "MobileNetV3",
    "ResNet",
    "ViTConfig",
    "VisionTransformer",
]
