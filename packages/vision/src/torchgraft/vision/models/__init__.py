"""The vision models: every builder, weights enum and model class, importable from here
(``from torchgraft.vision.models import resnet50, ResNet50_Weights``).

This module is the ``vision`` entry of the ``torchgraft.models`` entry-point group; importing it
registers the builders with torchgraft.core. It imports nothing heavier than torch at module level
(torchvision is imported when transforms or detection ops are used), so that
``torchgraft.core.list_models()`` stays cheap.
"""

from .efficientnet import *  # noqa: F403
from .efficientnet import __all__ as _efficientnet
from .faster_rcnn import *  # noqa: F403
from .faster_rcnn import __all__ as _faster_rcnn
from .mobilenet import *  # noqa: F403
from .mobilenet import __all__ as _mobilenet
from .resnet import *  # noqa: F403
from .resnet import __all__ as _resnet
from .segmentation import *  # noqa: F403
from .segmentation import __all__ as _segmentation
from .vit import *  # noqa: F403
from .vit import __all__ as _vit

__all__ = sorted({*_efficientnet, *_faster_rcnn, *_mobilenet, *_resnet, *_segmentation, *_vit})
