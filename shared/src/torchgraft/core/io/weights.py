"""Versioned pre-trained weights: one `Weights` per published checkpoint, grouped per
architecture in a `WeightsEnum`.

A member names a file (``url`` + ``sha256``), what it was trained on and measured at (``meta``),
and how inputs must be prepared (``transforms``). ``role`` says whether the file holds a whole
model ("full") or only a backbone whose task head is trained by the user ("backbone").
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from enum import Enum
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from ..contracts.errors import (
    TorchgraftDeprecationWarning,
    UnknownWeightsError,
    WeightsMismatchError,
    WeightsSourceError,
    warn_deprecated,
)
from .checkpoints import read_checkpoint
from .store import check_sha256, download, fetch_weights

if TYPE_CHECKING:
    import torch

__all__ = [
    "Asset",
    "StateDictAdapter",
    "TorchgraftDeprecationWarning",
    "Weights",
    "WeightsEnum",
    "local_weights",
    "warn_deprecated",
]

#: Turns a checkpoint saved in another library's layout into this model's layout.
StateDictAdapter = Callable[[dict[str, "torch.Tensor"]], dict[str, "torch.Tensor"]]

SCHEMES = ("https://", "http://", "file://", "pkg://")
FORMATS = ("safetensors", "pth")
ROLES = ("full", "backbone")


# Set through WeightsEnum.add_model_name and add_renamed_member (the registry calls them): which
# model names use an enum (for "resnet50.IMAGENET1K_V2"), and renamed members (old name -> new name,
# version that removes the old one).
_MODEL_NAMES: dict[type, set[str]] = {}
_RENAMED_MEMBERS: dict[tuple[type, str], tuple[str, str]] = {}


def _rebuild(cls: type, kwargs: dict[str, Any]) -> Any:
    return cls(**kwargs)


def _infer_format(url: str) -> str:
    path = url.split("?", 1)[0].lower()
    if path.endswith(".safetensors"):
        return "safetensors"
    if path.endswith((".pth", ".pt", ".bin", ".ckpt")):
        return "pth"
    raise ValueError(
        f"cannot infer the checkpoint format of {url!r}: expected a name ending in .safetensors, "
        f".pth, .pt, .bin or .ckpt, or an explicit format= one of {FORMATS}"
    )


def _as_url(url: Any) -> Any:
    """A local path as the ``file://`` URL of the file (a ``Path``, or a string without a scheme
    naming a file that exists); anything else as given, for `_check_source` to judge."""
    if isinstance(url, Path) or (
        isinstance(url, str) and "://" not in url and url and Path(url).expanduser().is_file()
    ):
        path = Path(url).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"no checkpoint file at {path}")
        return path.as_uri()
    return url


def _check_source(url: str, sha256: str | None) -> str | None:
    if not isinstance(url, str) or not url.startswith(SCHEMES):
        raise ValueError(f"url must start with one of {SCHEMES}, or be the path of an existing file; found {url!r}")
    if sha256 is None:
        if url.startswith("pkg://"):
            raise ValueError(f"{url}: files shipped in a package must be pinned with their sha256")
        return None
    return check_sha256(sha256)


@dataclass(frozen=True)
class Asset:
    """A file that goes with a checkpoint (a tokenizer, a vocabulary, a label map), fetched and
    verified through the weight store like the weights themselves (``sha256=None``: as for
    `Weights`)."""

    url: str
    sha256: str | None
    size: int | None = None
    mirrors: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha256", _check_source(self.url, self.sha256))
        for mirror in self.mirrors:
            _check_source(mirror, self.sha256)
        object.__setattr__(self, "mirrors", tuple(self.mirrors))

    def fetch(self, *, progress: bool | None = None) -> Path:
        return download(
            self.url,
            sha256=self.sha256,
            size=self.size,
            mirrors=self.mirrors,
            progress=progress,
            label=f"asset {self.url}",
        )


@dataclass(frozen=True)
class Weights:
    """One published checkpoint.

    ``sha256`` is the file's full hex digest, or a prefix of at least 8 hex digits for checkpoints
    published with only a prefix (torchvision's are); a prefix is a weaker guarantee and is shown as
    such. ``None`` is for files published with no digest at all (torchaudio's bundles, Hugging Face
    repositories): the weight store pins the digest of the first download and verifies every later
    one against it, and refuses such files when ``TORCHGRAFT_REQUIRE_PINNED`` is set. ``meta`` must hold ``num_params``; it also carries ``categories``, metrics (with the
    dataset they were measured on), ``recipe``, ``license`` and ``deprecated`` / ``superseded_by``
    where they apply; ``config`` holds builder values the checkpoint fixes (``image_size``) and
    ``defaults`` values it was trained with that a caller may override (dropout rates). ``adapter`` maps a checkpoint saved in another library's key layout to this
    model's layout when it is loaded.
    """

    url: str
    sha256: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    transforms: Callable[..., Any] | None = field(default=None, repr=False)
    mirrors: tuple[str, ...] = ()
    size: int | None = None
    format: Literal["safetensors", "pth"] | None = None
    role: Literal["full", "backbone"] = "full"
    adapter: StateDictAdapter | None = field(default=None, repr=False)
    assets: Mapping[str, Asset] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", _as_url(self.url))
        digest = _check_source(self.url, self.sha256)
        for mirror in self.mirrors:
            _check_source(mirror, digest)
        if not isinstance(self.meta, Mapping):
            raise TypeError(f"Weights meta must be a mapping; found {type(self.meta).__name__}")
        num_params = self.meta.get("num_params")
        if num_params is not None and (
            not isinstance(num_params, int) or isinstance(num_params, bool) or num_params <= 0
        ):
            raise ValueError(f"Weights meta num_params must be a positive int (or absent); found {num_params!r}")
        if self.role not in ROLES:
            raise ValueError(f"Weights role must be one of {ROLES}; found {self.role!r}")
        fmt = self.format if self.format is not None else _infer_format(self.url)
        if fmt not in FORMATS:
            raise ValueError(f"Weights format must be one of {FORMATS}; found {fmt!r}")
        if self.size is not None and (not isinstance(self.size, int) or self.size <= 0):
            raise ValueError(f"Weights size must be a positive int (bytes); found {self.size!r}")
        object.__setattr__(self, "sha256", digest)
        object.__setattr__(self, "format", fmt)
        object.__setattr__(self, "mirrors", tuple(self.mirrors))
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))
        bad = [k for k, v in self.assets.items() if not isinstance(v, Asset)]
        if bad:
            raise TypeError(f"Weights assets must be Asset instances; found {bad}")
        object.__setattr__(self, "assets", MappingProxyType(dict(self.assets)))

    # Identity is the file: two entries naming the same bytes are the same weights.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Weights):
            return NotImplemented
        return (self.url, self.sha256, self.role) == (other.url, other.sha256, other.role)

    def __hash__(self) -> int:
        return hash((self.url, self.sha256, self.role))

    # Immutable: copies are the entry itself; pickles rebuild it (meta and assets travel as dicts).
    def __copy__(self) -> Weights:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Weights:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        kwargs = {f.name: getattr(self, f.name) for f in fields(self)}
        kwargs.update(meta=dict(self.meta), assets=dict(self.assets))
        return _rebuild, (type(self), kwargs)

    @property
    def full_hash(self) -> bool:
        """Whether ``sha256`` is a complete digest (``False`` for a published prefix or none)."""
        return self.sha256 is not None and len(self.sha256) == 64

    @property
    def pinned(self) -> bool:
        """Whether the entry publishes a digest (``False``: pinned on first download instead)."""
        return self.sha256 is not None

    @property
    def num_params(self) -> int | None:
        """The architecture's parameter count the entry states (every published entry does; your
        own file may leave it out)."""
        value = self.meta.get("num_params")
        return int(value) if value is not None else None

    @property
    def categories(self) -> list[str] | None:
        cats = self.meta.get("categories")
        return list(cats) if cats is not None else None

    def fetch(self, *, progress: bool | None = None) -> Path:
        """Returns the local path of the verified checkpoint file, downloading it if needed."""
        return fetch_weights(self, progress=progress)

    def fetch_asset(self, name: str, *, progress: bool | None = None) -> Path:
        """The verified local path of one of the entry's assets (e.g. ``"tokenizer.json"``)."""
        if name not in self.assets:
            raise KeyError(f"these weights have no asset {name!r}; they have {sorted(self.assets) or 'none'}")
        return self.assets[name].fetch(progress=progress)

    def get_state_dict(
        self, *, progress: bool | None = None, device: torch.device | str | None = None
    ) -> dict[str, torch.Tensor]:
        """Reads the checkpoint (memory-mapped where the format allows) in this model's layout."""
        state = read_checkpoint(self.fetch(progress=progress), format=self.format, device=device)
        return self.adapter(state) if self.adapter is not None else state


CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")


def local_weights(obj: Any) -> Weights | None:
    """Your own checkpoint named by its path (a ``Path``, or a string with a directory part or a
    checkpoint suffix) as a `Weights`, so ``weights="clf.safetensors"`` loads it; ``None`` for
    anything else. A path that names no file is a `WeightsSourceError`."""
    if isinstance(obj, Path) or (
        isinstance(obj, str) and "://" not in obj and ("/" in obj or obj.lower().endswith(CHECKPOINT_SUFFIXES))
    ):
        path = Path(obj).expanduser()
        if not path.is_file():
            raise WeightsSourceError(f"no checkpoint file at {path.resolve()}; weights= took {str(obj)!r} for a path")
        return Weights(url=path)
    return None


class WeightsEnum(Enum):
    """The published checkpoints of one architecture.

    Members are `Weights`; ``DEFAULT`` is an alias of the recommended one. Attribute access
    falls through to the member's `Weights` (``Enum.MEMBER.meta``, ``.url``, ...).
    """

    @classmethod
    def verify(cls, obj: Any) -> Any:
        """Turns what a user passed as ``weights=`` into a member (or ``None``).

        Accepts ``None``, a member, ``"Enum.MEMBER"``, ``"MEMBER"``, ``"DEFAULT"`` and a user's own
        `Weights` that is not in any enum (a fine-tuned checkpoint). Deprecated members warn
        and name their successor.
        """
        if obj is None:
            return None
        own = local_weights(obj)
        if own is not None:
            return own
        if isinstance(obj, cls):
            member = obj
        elif isinstance(obj, Enum) and not isinstance(obj, WeightsEnum):
            return cls._warn_if_deprecated(cls._foreign(obj))
        elif isinstance(obj, WeightsEnum):
            raise WeightsMismatchError(
                f"{obj} belongs to {type(obj).__name__}, but this model takes {cls.__name__}: "
                f"expected one of {cls._choices()}"
            )
        elif isinstance(obj, Weights):
            for candidate in cls:
                if candidate.value == obj:
                    return cls._warn_if_deprecated(candidate)
            return obj
        elif isinstance(obj, str):
            member = cls._from_name(obj)
        else:
            raise TypeError(
                f"weights must be None, a {cls.__name__} member, its name or a Weights; found {type(obj).__name__}"
            )
        return cls._warn_if_deprecated(member)

    @classmethod
    def _foreign(cls, obj: Enum) -> WeightsEnum:
        """Another library's weights member (torchvision's ``ResNet50_Weights.DEFAULT``): the entry of
        this enum that names the same file, or an error naming what to write instead."""
        url = getattr(obj.value, "url", None)
        same = [m for m in cls.members() if url and m.value.url.rsplit("/", 1)[-1] == url.rsplit("/", 1)[-1]]
        if same:
            return same[0]
        owner = type(obj).__module__.split(".")[0]
        raise WeightsMismatchError(
            f"{type(obj).__name__}.{obj.name} is {owner}'s weights member, not torchgraft's, and no {cls.__name__} "
            f"entry names its file {url!r}: expected one of {cls._choices()} (or its name as a string)"
        )

    @classmethod
    def _from_name(cls, text: str) -> WeightsEnum:
        """``MEMBER``, ``Enum.MEMBER`` or ``model.MEMBER`` (a model that uses this enum);
        ``DEFAULT`` in any case; a renamed member with a deprecation warning."""
        name = text
        if "." in text:
            owner, name = text.rsplit(".", 1)
            if owner != cls.__name__ and owner not in _MODEL_NAMES.get(cls, ()):
                raise WeightsMismatchError(
                    f"{text!r} names {owner}, but this model takes {cls.__name__}: expected one of {cls._choices()}"
                )
        if name.upper() == "DEFAULT" and "DEFAULT" in cls.__members__:
            name = "DEFAULT"
        renamed = _RENAMED_MEMBERS.get((cls, name))
        if renamed is not None:
            new, removed_in = renamed
            warn_deprecated(
                f"{cls.__name__}.{name} was renamed {cls.__name__}.{new}; the old name will be removed in {removed_in}"
            )
            name = new
        try:
            return cls[name]
        except KeyError:
            pass
        close = difflib.get_close_matches(name, list(cls.__members__), n=1, cutoff=0.4)
        hint = f"; did you mean {cls.__name__}.{close[0]}?" if close else ""
        raise UnknownWeightsError(
            f"{cls.__name__} has no weights named {name!r}: expected one of {cls._choices()}{hint}"
        ) from None

    @classmethod
    def add_model_name(cls, name: str) -> None:
        """Lets ``"name.MEMBER"`` name a member: the registry calls it for each model using this enum."""
        _MODEL_NAMES.setdefault(cls, set()).add(name)

    @classmethod
    def add_renamed_member(cls, old: str, new: str, *, removed_in: str) -> None:
        """Keeps the old name ``old`` of member ``new`` working, with a deprecation warning naming
        ``removed_in`` (`torchgraft.core.register_deprecations` calls it)."""
        if new not in cls.__members__:
            raise UnknownWeightsError(f"{cls.__name__} has no member {new!r} to rename {old!r} to")
        _RENAMED_MEMBERS[(cls, old)] = (new, removed_in)

    @classmethod
    def _choices(cls) -> str:
        return ", ".join(cls.__members__)

    @classmethod
    def _warn_if_deprecated(cls, member: WeightsEnum) -> WeightsEnum:
        meta = member.value.meta
        if meta.get("deprecated"):
            successor = meta.get("superseded_by")
            hint = f"; use {cls.__name__}.{successor} instead" if successor else ""
            warn_deprecated(f"{member} is deprecated{hint}")
        return member

    @classmethod
    def first_published(cls) -> WeightsEnum:
        """The member declared first: what ``pretrained=True`` meant when the model was published."""
        return next(iter(cls))

    @classmethod
    def members(cls) -> Iterable[WeightsEnum]:
        """Distinct members, without aliases such as ``DEFAULT``."""
        return iter(cls)

    @classmethod
    def default(cls) -> WeightsEnum | None:
        return cls.__members__.get("DEFAULT")

    def __str__(self) -> str:
        return f"{type(self).__name__}.{self.name}"

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        # By name, so a member pickles whatever its Weights hold (transforms, adapters).
        return getattr, (type(self), self.name)

    def __repr__(self) -> str:
        return f"<{self}: {self.value.url}>"

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the enum member itself lacks.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.value, name)
