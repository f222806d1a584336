"""The vision models: every builder, weights enum and model class, importable from here
(``from torchgraft.vision.models import resnet50, ResNet50_Weights``).

Lazy (PEP 562): a name is imported from its family module when first used, and each registered model
has its own entry point in ``torchgraft.models`` naming that module, so ``get_model("resnet50")``
imports ResNet's module alone. Nothing here imports more than torch at module level (torchvision is
imported when transforms or detection ops run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torchgraft.core.lazy import lazy_exports

# Family module -> the names it exports (kept equal to each module's __all__ by a test).
_FAMILIES: dict[str, tuple[str, ...]] = {
    "efficientnet": (
        "EfficientNet",
        "efficientnet_b0",
        "EfficientNet_B0_Weights",
        "efficientnet_b1",
        "EfficientNet_B1_Weights",
        "efficientnet_b2",
        "EfficientNet_B2_Weights",
        "efficientnet_b3",
        "EfficientNet_B3_Weights",
        "efficientnet_b4",
        "EfficientNet_B4_Weights",
        "efficientnet_b5",
        "EfficientNet_B5_Weights",
        "efficientnet_b6",
        "EfficientNet_B6_Weights",
        "efficientnet_b7",
        "EfficientNet_B7_Weights",
        "efficientnet_lite0",
        "EfficientNet_Lite0_Weights",
        "efficientnet_lite1",
        "efficientnet_lite2",
        "efficientnet_lite3",
        "efficientnet_lite4",
        "MBConvConfig",
    ),
    "faster_rcnn": (
        "BackboneWithFPN",
        "FasterRCNN",
        "fasterrcnn",
        "fasterrcnn_resnet50_fpn",
        "FasterRCNN_ResNet50_FPN_Weights",
        "freeze_batchnorm",
    ),
    "mobilenet": (
        "InvertedResidualConfig",
        "mobilenet_v2",
        "MobileNet_V2_Weights",
        "mobilenet_v3_large",
        "MobileNet_V3_Large_Weights",
        "mobilenet_v3_small",
        "MobileNet_V3_Small_Weights",
        "MobileNetV2",
        "MobileNetV3",
    ),
    "resnet": (
        "BasicBlock",
        "Bottleneck",
        "ResNet",
        "resnet101",
        "ResNet101_Weights",
        "resnet152",
        "ResNet152_Weights",
        "resnet18",
        "ResNet18_Weights",
        "resnet34",
        "ResNet34_Weights",
        "resnet50",
        "ResNet50_Weights",
        "ResNetConfig",
        "resnext50_32x4d",
        "ResNeXt50_32X4D_Weights",
        "wide_resnet50_2",
        "Wide_ResNet50_2_Weights",
    ),
    "segmentation": (
        "DeepLabHead",
        "DeepLabV3",
        "deeplabv3",
        "deeplabv3_resnet50",
        "DeepLabV3_ResNet50_Weights",
        "FCN",
        "fcn",
        "fcn_resnet50",
        "FCN_ResNet50_Weights",
        "FCNHead",
    ),
    "vit": (
        "QuickGELU",
        "SelfAttention",
        "VisionTransformer",
        "vit_b_16",
        "ViT_B_16_Weights",
        "ViTConfig",
    ),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _FAMILIES)

if TYPE_CHECKING:  # what editors and type checkers see
    from .efficientnet import *  # noqa: F403
    from .faster_rcnn import *  # noqa: F403
    from .mobilenet import *  # noqa: F403
    from .resnet import *  # noqa: F403
    from .segmentation import *  # noqa: F403
    from .vit import *  # noqa: F403
