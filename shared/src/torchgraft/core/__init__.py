"""torchgraft-core: versioned pre-trained weights, the model registry, fast and safe loading, and
the composition contract that attaches any task head to any backbone."""

from ._version import __version__
from .builders import build_model, categories_config
from .compose import ClassifierHead, Composite, Head, Pool, classifier, compose, poolings_for
from .errors import (
    BackboneContractError,
    CheckpointError,
    ConfigConflictError,
    CorruptCheckpointError,
    DuplicateModelError,
    FormatMismatchError,
    IncompatibleHeadError,
    InitializationError,
    IntegrityError,
    StateDictMismatchError,
    TorchgraftError,
    UnknownModelError,
    UnknownWeightsError,
    UnsafeCheckpointError,
    WeightsMismatchError,
    WeightsSourceError,
)
from .features import Backbone, Features, FeatureSpec, StageSpec, check_backbone
from .loading import LoadReport, init_empty, load_weights, read_checkpoint
from .registry import get_model, get_model_weights, get_weight, list_models, register_model
from .weights import TorchgraftDeprecationWarning, Weights, WeightsEnum

__all__ = [
    "Backbone",
    "BackboneContractError",
    "CheckpointError",
    "ClassifierHead",
    "Composite",
    "ConfigConflictError",
    "CorruptCheckpointError",
    "DuplicateModelError",
    "FeatureSpec",
    "Features",
    "FormatMismatchError",
    "Head",
    "IncompatibleHeadError",
    "InitializationError",
    "IntegrityError",
    "LoadReport",
    "Pool",
    "StageSpec",
    "StateDictMismatchError",
    "TorchgraftDeprecationWarning",
    "TorchgraftError",
    "UnknownModelError",
    "UnknownWeightsError",
    "UnsafeCheckpointError",
    "Weights",
    "WeightsEnum",
    "WeightsMismatchError",
    "WeightsSourceError",
    "__version__",
    "build_model",
    "categories_config",
    "check_backbone",
    "classifier",
    "compose",
    "get_model",
    "get_model_weights",
    "get_weight",
    "init_empty",
    "list_models",
    "load_weights",
    "poolings_for",
    "read_checkpoint",
    "register_model",
]
