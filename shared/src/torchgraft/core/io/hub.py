"""Weights entries for checkpoints published in Hugging Face Hub repositories: one factory, so the
metadata schema of every such entry has one signature (docs/weights.md, "Hub entries").

A family states once what its entries share (`HubFamily`: adapter, file name, license, recipe,
the assets its transforms read) and writes one `hub_weights` call per checkpoint with what differs
(the repository, ``num_params``, metrics)::

    GPT2_HUB = HubFamily(adapter=hf_to_gpt2, license="MIT", recipe=PAPER, transforms=tokenizer)
    WEBTEXT = hub_weights("openai-community/gpt2", GPT2_HUB, num_params=124439808, metrics=...)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from .weights import Asset, StateDictAdapter, Weights

__all__ = ["HUB", "HubFamily", "hub_asset", "hub_url", "hub_weights"]

HUB = "https://huggingface.co/"
#: The keys every Hub entry's ``meta`` holds (``num_params`` is required by `Weights` itself).
REQUIRED_META = ("num_params", "license", "recipe")


def hub_url(repo: str, filename: str, *, revision: str = "main") -> str:
    """The download address of ``filename`` in the Hub repository ``repo`` (``owner/name``)."""
    owner, slash, name = repo.partition("/")
    if not (owner and slash and name) or "/" in name or ".." in repo or any(c.isspace() for c in repo):
        raise ValueError(f"a Hub repository is written 'owner/name'; found {repo!r}")
    if not filename or filename.startswith("/") or ".." in filename.split("/"):
        raise ValueError(f"a Hub file name is a path inside the repository; found {filename!r}")
    return f"{HUB}{repo}/resolve/{revision}/{filename}"


def hub_asset(repo: str, filename: str, *, sha256: str | None = None, revision: str = "main") -> Asset:
    """A file of a Hub repository as an `Asset` (a tokenizer, a vocabulary)."""
    return Asset(hub_url(repo, filename, revision=revision), sha256=sha256)


#: Builds an entry's transforms from its assets (file name -> `Asset`).
TransformsFactory = Callable[[Mapping[str, Asset]], Any]


@dataclass(frozen=True)
class HubFamily:
    """What the Hub entries of one family share.

    ``assets`` names the files that go with each checkpoint: a file name is read from the entry's
    own repository, an `Asset` is the same file for every entry (CLIP's tokenizer). ``transforms``
    receives those assets and returns the entry's ``transforms``. ``meta`` holds metadata every
    entry shares (``license``, ``recipe``, ``max_length``, ``generation``); an entry's own keyword
    overrides it.
    """

    adapter: StateDictAdapter | None
    filename: str = "model.safetensors"
    role: Literal["full", "backbone"] = "full"
    assets: Mapping[str, str | Asset] = field(default_factory=dict)
    transforms: TransformsFactory | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "assets", MappingProxyType(dict(self.assets)))
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))


def hub_weights(
    repo: str,
    family: HubFamily,
    *,
    num_params: int,
    sha256: str | None = None,
    revision: str = "main",
    approx_size_mb: int | None = None,
    **meta: Any,
) -> Weights:
    """One checkpoint of a Hub repository as a `Weights` entry.

    ``meta`` is the family's shared metadata updated by the keywords given here; it must hold
    ``license`` and ``recipe``. ``source`` is the repository's page and ``approx_size_mb`` defaults
    to the size of ``num_params`` float32 values. ``sha256=None`` pins the first download's digest
    (Hub repositories publish none).
    """
    merged = {**family.meta, **meta}
    missing = [key for key in REQUIRED_META[1:] if key not in merged]
    if missing:
        raise TypeError(f"the Hub entry {repo!r} needs meta {missing}: give them to its HubFamily or here")
    assets = {
        name: hub_asset(repo, where, revision=revision) if isinstance(where, str) else where
        for name, where in family.assets.items()
    }
    size = approx_size_mb if approx_size_mb is not None else round(num_params * 4 / 2**20)
    return Weights(
        url=hub_url(repo, family.filename, revision=revision),
        sha256=sha256,
        role=family.role,
        adapter=family.adapter,
        transforms=family.transforms(assets) if family.transforms is not None else None,
        assets=assets,
        meta={
            "num_params": num_params,
            "license": merged.pop("license"),
            "recipe": merged.pop("recipe"),
            "source": f"{HUB}{repo}",
            "approx_size_mb": size,
            **merged,
        },
    )
