"""A configuration checked against a checkpoint before anything is built at its size.

An importer reads a ``config.json`` (or infers a config from key names) and then builds the model.
A config that disagrees with its checkpoint (``num_layers`` set to a million, a ``vocab_size`` of
10**12, one stray key naming block 100000) would otherwise allocate for minutes and gigabytes
before the load compares shapes. `check_config` builds two-layer probes of the model on the
``meta`` device (no memory, milliseconds), learns from them which config field sets which stack of
layers and what every tensor's shape is, and compares that with the checkpoint's key names and
shapes, which safetensors gives without reading a byte of data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import ConfigMismatchError, CorruptCheckpointError, ModelTooLargeError, TorchgraftError

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_SIZE",
    "check_config",
    "check_fields",
    "check_size",
    "config_fields",
    "estimate_bytes",
    "layer_count",
    "memory_bytes",
    "read_json",
    "shard_files",
]

#: The largest size or count a config field may hold: no tensor dimension comes near it, and the
#: products of two such sizes still fit the 64-bit sizes torch computes with.
MAX_SIZE = 2**31 - 1
#: The largest ``config.json``, ``generation_config.json`` or shard index an importer reads.
MAX_CONFIG_BYTES = 16 << 20

#: A block's index inside a key: ``layers.3.`` or torchvision's ``encoder_layer_3.``.
_INDEX = re.compile(r"(?<=[._])(\d+)(?=\.)")
#: Config fields that count repeated blocks (``num_layers``, ``encoder_layers``, ``n_layer``, ``depth``...).
_COUNT_FIELD = re.compile(r"(^|_)(layers?|n_layers?|depth|blocks)$")


#: Int fields that are sizes or counts: a zero or negative one is never a model.
_SIZE_FIELD = re.compile(
    r"(size|layers?|heads|dim|positions|d_model|d_kv|d_ff|buckets|distance|channels|depth|width|n_embd|n_head|n_inner)$"
)


def read_json(path: Path) -> dict[str, Any]:
    """A checkpoint folder's JSON object (``config.json``, an index), read bounded: a missing,
    oversized, non-UTF-8 or malformed file, or one that is not an object, is a
    `CorruptCheckpointError` naming the file and what is wrong."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise CorruptCheckpointError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise CorruptCheckpointError(f"{path} is larger than {MAX_CONFIG_BYTES >> 20} MiB; not a config file")
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise CorruptCheckpointError(f"{path} is not UTF-8 text (byte {exc.start}): not a JSON config") from None
    except ValueError as exc:
        raise CorruptCheckpointError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise CorruptCheckpointError(f"{path} holds a JSON {type(value).__name__}; expected an object")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


@contextlib.contextmanager
def config_fields(path: Path) -> Iterator[None]:
    """Translating a config file into a config: a field that is missing or of the wrong kind is a
    `CorruptCheckpointError` naming the file and the field, never a bare ``KeyError``."""
    try:
        yield
    except ConfigMismatchError as exc:
        raise ConfigMismatchError(f"{path}: {exc}") from None
    except TorchgraftError:
        raise
    except KeyError as exc:
        raise CorruptCheckpointError(f"{path} lacks the field {exc.args[0]!r}") from None
    except (TypeError, ValueError, ZeroDivisionError, AttributeError, OverflowError) as exc:
        raise CorruptCheckpointError(f"{path} has a field of the wrong kind or value: {exc}") from None


def check_fields(config: Any, *, what: str) -> None:
    """Every field of a dataclass config holds what its annotation says: an ``int`` field an int
    (sizes positive, block counts >= 0), a ``float`` field a finite number (dropouts in [0, 1],
    epsilons > 0), a ``bool`` field a bool; `ConfigMismatchError` naming the field otherwise (a
    list, a string or NaN where a size belongs never reaches torch)."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        kind = str(f.type).replace("<class '", "").replace("'>", "")
        optional = kind.endswith(" | None")
        kind = kind.removesuffix(" | None")
        if value is None and optional:
            continue
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind == "bool":
            expected, ok = "True or False", isinstance(value, bool)
        elif kind == "int" and _COUNT_FIELD.search(f.name):  # a stack may be empty (a feature extractor alone)
            expected, ok = f"an integer from 0 to {MAX_SIZE:,}", type(value) is int and 0 <= value <= MAX_SIZE
        elif kind == "int" and _SIZE_FIELD.search(f.name):
            expected, ok = f"an integer from 1 to {MAX_SIZE:,}", type(value) is int and 0 < value <= MAX_SIZE
        elif kind == "int" and f.name.endswith("_token_id"):
            vocab = getattr(config, "vocab_size", None)
            within = f.name != "pad_token_id" or type(vocab) is not int or value < vocab  # padding_idx
            expected = "a token id >= 0" + (f" below vocab_size={vocab}" if f.name == "pad_token_id" else "")
            ok = type(value) is int and 0 <= value < 2**63 and within
        elif kind == "int":
            expected, ok = "a 64-bit integer", type(value) is int and -(2**63) <= value < 2**63
        elif kind == "float" and "dropout" in f.name:
            expected, ok = "a probability in [0, 1]", number and 0 <= value <= 1
        elif kind == "float" and f.name.endswith("eps"):
            expected, ok = "a positive number", number and math.isfinite(value) and value > 0
        elif kind == "float":
            expected, ok = "a finite number", number and math.isfinite(value)
        else:
            continue
        if not ok:
            raise ConfigMismatchError(f"{what}: {f.name} must be {expected}; found {value!r}")


def shard_files(index: Path) -> list[Path]:
    """The shard files a ``model.safetensors.index.json`` names, each a plain file name inside
    the index's folder: a name with a path (``../../etc/passwd``, an absolute path) is a
    `CorruptCheckpointError`, never read. (A shard that is itself a symlink, as in the Hugging Face
    cache's snapshot folders, is the folder owner's choice and is followed.)"""
    folder = index.parent
    weight_map = read_json(index).get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise CorruptCheckpointError(f"{index} has no weight_map object naming the shards")
    odd = [v for v in weight_map.values() if not isinstance(v, str)]
    if odd:
        raise CorruptCheckpointError(f"{index} maps a tensor to {odd[0]!r}; expected a shard file name")
    shards = []
    for name in sorted(set(weight_map.values())):
        path = folder / name
        plain = name not in ("", ".", "..") and not any(c in name for c in "/\\\0") and Path(name).name == name
        if not plain or len(name.encode("utf-8", "surrogatepass")) > 255:
            raise CorruptCheckpointError(
                f"{index} names the shard {name!r}, which is not a file in {folder}; shards must be plain "
                f"file names beside the index"
            )
        shards.append(path)
    return shards


def _general(key: str) -> str:
    return _INDEX.sub("N", key)


def _stacks(keys: Any) -> dict[str, set[int]]:
    """For each stack of numbered blocks (a generalised prefix such as ``encoder.layers``), the
    indices the keys name."""
    out: dict[str, set[int]] = {}
    for key in keys:
        for match in _INDEX.finditer(key):
            out.setdefault(_general(key[: match.start()]), set()).add(int(match.group(1)))
    return out


def _consecutive(prefix: str, indices: set[int], *, what: str) -> int:
    """``len(indices)``, which must be ``0 .. n-1`` without a gap (`CorruptCheckpointError` naming
    the first stray block otherwise)."""
    ordered = sorted(indices)
    if ordered != list(range(len(ordered))):
        gap = next(i for i, n in enumerate(ordered) if i != n)
        last = f"{prefix}{ordered[gap - 1]}" if gap else "none"
        raise CorruptCheckpointError(
            f"{what}: the blocks {prefix}N run up to {last} and then jump to {prefix}{ordered[gap]}; "
            f"expected consecutive blocks from 0 (a stray key, or a file that is not this model's)"
        )
    return len(ordered)


def _signature(shapes: Mapping[str, Any]) -> tuple[dict[str, tuple[int, ...]], dict[str, set[int]]]:
    general: dict[str, tuple[int, ...]] = {}
    for key, value in shapes.items():
        general.setdefault(_general(key), tuple(getattr(value, "shape", value)))
    return general, _stacks(shapes)


def layer_count(keys: Any, prefix: str, *, what: str) -> int:
    """How many numbered blocks ``prefix0.``, ``prefix1.``... the keys hold (``prefix`` ends with
    its separator: ``"visual.transformer.resblocks."``), for importers that infer a depth from key
    names. The indices must run from 0 without a gap: one stray key naming block 100000 is a
    `CorruptCheckpointError`, never a config of 100001 blocks."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    return _consecutive(prefix, {int(m.group(1)) for k in keys if (m := pattern.match(k))}, what=what)


def _on_meta(build: Callable[[Any], nn.Module], config: Any, what: str) -> nn.Module:
    """``build(config)`` on the ``meta`` device; sizes whose products overflow torch's 64-bit sizes
    are a `ConfigMismatchError` (no such tensor could exist)."""
    try:
        with torch.device("meta"):
            return build(config)
    except (RuntimeError, OverflowError) as exc:
        if "overflow" not in str(exc).lower() and not isinstance(exc, OverflowError):
            raise
        raise ConfigMismatchError(f"{what}: the configuration asks for tensors too large to exist ({exc})") from None


def _probe(build: Callable[[Any], nn.Module], config: Any, what: str) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in _on_meta(build, config, what).state_dict().items()}


def check_config(build: Callable[[Any], nn.Module], config: Any, checkpoint: Mapping[str, Any], *, what: str) -> None:
    """Raises `ConfigMismatchError` naming the field, its value and the checkpoint's when the
    dataclass ``config`` cannot be what ``checkpoint`` (names to tensors or shapes, in the model's
    own key names) was saved from: a stack of blocks of another depth, or a tensor of another
    shape. Keys only one side has are left to the load, which reports them."""
    check_fields(config, what=what)
    counts = [
        f.name
        for f in dataclasses.fields(config)
        if _COUNT_FIELD.search(f.name) and type(getattr(config, f.name)) is int and getattr(config, f.name) > 0
    ]
    base = dataclasses.replace(config, **{name: 1 for name in counts})
    probe = _probe(build, base, what)
    probe_shapes, probe_stacks = _signature(probe)
    owners: dict[str, str] = {}
    for name in counts:
        _, stacks = _signature(_probe(build, dataclasses.replace(base, **{name: 2}), what))
        for prefix, indices in stacks.items():
            if len(indices) == 2 and len(probe_stacks.get(prefix, ())) == 1:
                owners.setdefault(prefix, name)
    shapes, stacks = _signature(checkpoint)
    for prefix, name in owners.items():
        want = getattr(config, name)
        found = _consecutive(prefix, stacks.get(prefix, set()), what=what)
        if found != want:
            raise ConfigMismatchError(
                f"{what}: the config has {name}={want:,}, but the checkpoint holds {found:,} "
                f"blocks {prefix}N; a config must describe its checkpoint"
            )
    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    for key, shape in probe_shapes.items():
        if key in shapes and shapes[key] != shape:
            differing = {a for a, b in zip(shape, shapes[key], strict=False) if a != b}
            suspects = [f"{n}={v:,}" for n, v in fields.items() if type(v) is int and v in differing]
            hint = f" (from {', '.join(suspects)})" if suspects else ""
            raise ConfigMismatchError(
                f"{what}: the config makes {key} of shape {list(shape)}{hint}, but the "
                f"checkpoint's is {list(shapes[key])}; a config must describe its checkpoint"
            )


def _bytes(build: Callable[[dict[str, Any]], nn.Module], values: dict[str, Any], what: str) -> int:
    model = _on_meta(build, values, what)
    tensors = {id(t): t for t in (*model.parameters(), *model.buffers())}
    return sum(t.numel() * t.element_size() for t in tensors.values())


def estimate_bytes(
    build: Callable[[dict[str, Any]], nn.Module], values: Mapping[str, Any], *, what: str = "the model"
) -> int:
    """The bytes of parameters and buffers ``build(values)`` would allocate, from probes on
    ``meta`` with one and two blocks per stack: a depth of a million costs no more to estimate
    than a depth of one."""
    values = dict(values)
    counts = [k for k, v in values.items() if _COUNT_FIELD.search(k) and type(v) is int and v > 2]
    base = {**values, **{k: 1 for k in counts}}
    one = _bytes(build, base, what)
    return one + sum((_bytes(build, {**base, k: 2}, what) - one) * (values[k] - 1) for k in counts)


def memory_bytes() -> int:
    """This machine's physical memory."""
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 1 << 62


def check_size(build: Callable[[dict[str, Any]], nn.Module], values: Mapping[str, Any], *, what: str) -> None:
    """Raises `ModelTooLargeError` when ``build(values)`` would not fit in this machine's memory,
    naming the largest of ``values``, before a parameter is allocated."""
    need = estimate_bytes(build, values, what=what)
    have = memory_bytes()
    if need > have:
        sizes = sorted(
            ((k, v) for k, v in values.items() if type(v) is int and v > 1), key=lambda kv: kv[1], reverse=True
        )
        named = ", ".join(f"{k}={v:,}" for k, v in sizes[:3])
        raise ModelTooLargeError(
            f"{what} with {named} would take {need / 2**30:,.1f} GiB of parameters; this machine has "
            f"{have / 2**30:,.1f} GiB of memory: check the configuration"
        )
