"""Typed errors raised by torchgraft.

Every error derives from `TorchgraftError` and, where a builtin fits, from that builtin too,
so ``except ValueError`` keeps working for callers that do not know torchgraft. Messages say what
was expected and what was found.
"""

from __future__ import annotations

import sys
import warnings

__all__ = [
    "TorchgraftDeprecationWarning",
    "warn_at_caller",
    "warn_deprecated",
    "UnauthorizedError",
    "OfflineError",
    "NotWeightsError",
    "NotFoundError",
    "NetworkError",
    "DiskSpaceError",
    "CacheError",
    "PrefetchError",
    "DistributedSetupError",
    "SizeLimitError",
    "SettingsError",
    "ConfigMismatchError",
    "ModelTooLargeError",
    "BackboneContractError",
    "CheckpointError",
    "ConfigConflictError",
    "CorruptCheckpointError",
    "DuplicateModelError",
    "FormatMismatchError",
    "IncompatibleHeadError",
    "InitializationError",
    "IntegrityError",
    "StateDictMismatchError",
    "TorchgraftError",
    "UnknownKeywordError",
    "UnknownModelError",
    "UnpinnedError",
    "UnknownWeightsError",
    "UnsafeCheckpointError",
    "WeightsMismatchError",
    "WeightsSourceError",
]


class TorchgraftError(Exception):
    """Base class of every error torchgraft raises on purpose."""


class UnknownModelError(TorchgraftError, LookupError):
    """No registered model has the requested name."""


class DuplicateModelError(TorchgraftError, ValueError):
    """Two builders were registered under one name."""


class UnknownWeightsError(TorchgraftError, ValueError):
    """A weights name does not exist in the enum it was looked up in."""


class WeightsMismatchError(TorchgraftError, ValueError):
    """Weights that do not belong to the model: a member of another builder's enum, or your own
    `Weights` declaring another parameter count than the model they load into."""


class ConfigConflictError(TorchgraftError, ValueError):
    """A builder argument conflicts with a value that the weights fix."""


class IncompatibleHeadError(TorchgraftError, ValueError):
    """A task head cannot consume what a backbone's ``feature_spec`` says it produces."""


class BackboneContractError(TorchgraftError, TypeError):
    """A module used as a backbone does not implement the backbone contract."""


class InitializationError(TorchgraftError, RuntimeError):
    """A parameter the checkpoint does not provide has no way to be initialised."""


class WeightsSourceError(TorchgraftError, OSError):
    """A weights file could not be located or read from its source."""


class IntegrityError(WeightsSourceError):
    """A file's sha256 (or size) differs from the one its weights entry declares."""


class NotFoundError(WeightsSourceError):
    """The server answered 404 (or the local file does not exist)."""


class UnauthorizedError(WeightsSourceError):
    """The server answered 401 or 403: the file needs credentials this machine does not send."""


class NetworkError(WeightsSourceError):
    """The transfer failed: no connection, a time-out, a server error (5xx), a broken redirect."""


class OfflineError(WeightsSourceError):
    """``TORCHGRAFT_OFFLINE=1`` and the file is not in the cache."""


class UnpinnedError(WeightsSourceError):
    """A file without a published sha256 was refused (``TORCHGRAFT_REQUIRE_PINNED`` is set)."""


class DiskSpaceError(WeightsSourceError):
    """The cache's file system has too little free space for the file."""


class SizeLimitError(WeightsSourceError):
    """A server sent (or announced) more bytes than the file's bound: its declared size, else its
    entry's approximate size with a margin, else ``TORCHGRAFT_MAX_DOWNLOAD``."""


class PrefetchError(WeightsSourceError):
    """A rank-coordinated download failed somewhere: every rank raises this same error, naming
    the rank, its host and the url that failed (``rank``, ``host``, ``url``, ``kind``: the
    original error's class name)."""

    def __init__(self, message: str, *, rank: int | None = None, host: str | None = None, url: str | None = None,
                 kind: str | None = None) -> None:  # fmt: skip
        super().__init__(message)
        self.rank, self.host, self.url, self.kind = rank, host, url, kind


class SettingsError(TorchgraftError, ValueError):
    """A ``TORCHGRAFT_*`` environment variable holds a value it does not accept."""


class DistributedSetupError(TorchgraftError, RuntimeError):
    """A distributed helper was called without what it needs: no initialised process group, or a
    device mesh that does not fit the group."""


class CacheError(WeightsSourceError):
    """The cache directory cannot be used as asked: it is a file, unreadable, or read-only while a
    file it lacks must be written."""


class NotWeightsError(WeightsSourceError):
    """A server sent something that is not weights: an HTML page (a proxy or login page), a git-lfs
    pointer."""


class CheckpointError(TorchgraftError):
    """Base class for problems with the content of a checkpoint file."""


class CorruptCheckpointError(CheckpointError, ValueError):
    """A checkpoint file is truncated, malformed or holds something other than tensors."""


class FormatMismatchError(CheckpointError, ValueError):
    """A checkpoint file is not in the format its weights entry declares."""


class UnsafeCheckpointError(CheckpointError):
    """A pickle checkpoint asked to run code or build objects that safe loading refuses."""


class ConfigMismatchError(CheckpointError, ValueError):
    """A model's configuration disagrees with the checkpoint it is to load (a depth, a vocabulary
    size): found before anything is built at the configuration's size."""


class ModelTooLargeError(TorchgraftError, MemoryError):
    """A configuration asks for a model larger than this machine's memory: refused before any
    parameter is allocated."""


class StateDictMismatchError(CheckpointError, ValueError):
    """A checkpoint's keys or shapes do not match the model it is loaded into.

    ``missing``, ``unexpected`` and ``mismatched`` hold the offending keys, so a caller can act on
    them without parsing the message.
    """

    def __init__(
        self,
        message: str,
        *,
        missing: list[str] | None = None,
        unexpected: list[str] | None = None,
        mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] | None = None,
    ) -> None:
        super().__init__(message)
        self.missing = missing or []
        self.unexpected = unexpected or []
        self.mismatched = mismatched or []


#: Keywords other libraries spell differently: theirs -> (ours, whose name it is). One idea has
#: one name here; an unknown keyword found in this table is answered with ours.
FOREIGN_KEYWORDS: dict[str, tuple[str, str]] = {
    "drop_rate": ("dropout", "timm"),
    "drop_path_rate": ("stochastic_depth_prob", "timm"),
    "num_labels": ("num_classes", "transformers"),
    "in_channels": ("in_chans", "segmentation_models_pytorch"),
    "hidden_dropout_prob": ("dropout", "transformers"),
}


class UnknownKeywordError(TorchgraftError, TypeError):
    """A builder or model was given a keyword it does not take (the message suggests the closest)."""

    def __init__(self, where: str, unknown: list[str], allowed: list[str]) -> None:
        import difflib

        hints = []
        for key in unknown:
            ours, library = FOREIGN_KEYWORDS.get(key, (None, None))
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            if ours in allowed:
                whose = f"{library}'" if str(library).endswith("s") else f"{library}'s"
                hints.append(f"{key!r} ({whose} name; write {ours}=)")
            else:
                hints.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
        super().__init__(
            f"{where} got unexpected keyword argument{'s' if len(unknown) > 1 else ''} {', '.join(hints)}; "
            f"it takes {', '.join(sorted(allowed)) or 'none'}"
        )
        self.unknown = unknown


class TorchgraftDeprecationWarning(FutureWarning):
    """Warns that a name, keyword or weights entry is deprecated; shown by default, unlike
    DeprecationWarning."""


def warn_at_caller(message: str, category: type[Warning]) -> None:
    """Warns, attributed to the first caller outside torchgraft: the user's own line, however many
    builders, registry calls and store functions lie between."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith(("torchgraft.", "functools")):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def warn_deprecated(message: str) -> None:
    """Warns with `TorchgraftDeprecationWarning` at the user's own line."""
    warn_at_caller(message, TorchgraftDeprecationWarning)
