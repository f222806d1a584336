"""torchgraft-multimodal: models whose published weights span domains (CLIP), built from
torchgraft-vision and torchgraft-text towers.

Importing this package imports only torch and torchgraft.core; the towers' packages are imported
when a model is built.
"""

from ._version import __version__

__all__ = ["__version__"]
