"""torchgraft-vision: Image models: classification backbones with versioned ImageNet weights, and detection and segmentation models that take any backbone.

Importing this package imports only torch and torchgraft.core; torchvision is imported when a
model or transform that needs it is built.
"""

from ._version import __version__

__all__ = ["__version__"]
