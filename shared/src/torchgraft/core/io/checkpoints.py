"""Reading checkpoint files: what a file holds (`sniff_format`) and its tensors as a flat
``{key: tensor}`` dict (`read_checkpoint`), memory-mapped where the format allows; pickles only
through ``torch.load(weights_only=True)``."""

from __future__ import annotations

import contextlib
import io
import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..contracts.errors import CorruptCheckpointError, FormatMismatchError, UnsafeCheckpointError, WeightsSourceError
from .pickles import UnsupportedPickle, globals_named, to_protocol_2
from .pickles import protocol as pickle_protocol
from .transfer import sniff_not_weights

__all__ = ["read_checkpoint", "sniff_format"]

_WRAPPER_KEYS = ("state_dict", "model", "module", "model_state_dict")


def sniff_format(path: Path) -> str:
    """What a file really holds, from its first bytes: ``safetensors``, ``pth`` (a zip or legacy
    pickle written by ``torch.save``), or a description of what it is instead."""
    with open(path, "rb") as fh:
        head = fh.read(64)
    if head.startswith(b"PK\x03\x04"):
        return "pth"
    if head[:1] == b"\x80" and len(head) > 1 and head[1] in range(2, 6):
        return "pth"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    if what := sniff_not_weights(head):
        return what
    if not head:
        return "an empty file"
    return "an unrecognised file"


def read_checkpoint(
    path: str | Path, *, format: str | None = None, device: torch.device | str | None = None
) -> dict[str, torch.Tensor]:
    """Reads a checkpoint into a flat ``{key: tensor}`` dict, memory-mapped where possible.

    ``format`` is what the caller expects (``"safetensors"`` or ``"pth"``); a file holding something
    else raises `FormatMismatchError` instead of being read as whatever it is.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsSourceError(f"no checkpoint file at {path}")
    found = sniff_format(path)
    if found not in ("safetensors", "pth"):
        raise CorruptCheckpointError(f"{path} is {found}; expected a {format or 'checkpoint'} file")
    if format is not None and found != format:
        raise FormatMismatchError(f"{path} was declared {format} but holds {found} data")
    device = torch.device(device) if device is not None else torch.device("cpu")
    state = _read_safetensors(path, device) if found == "safetensors" else _read_pth(path, device)
    return _as_flat_tensors(state, path)


def _read_safetensors(path: Path, device: torch.device) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device=str(device)) as fh:
            return {key: fh.get_tensor(key) for key in fh.keys()}  # noqa: SIM118 - not a dict
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CorruptCheckpointError(f"{path} is not a valid safetensors file: {exc}") from exc


def _refused(exc: pickle.UnpicklingError) -> str:
    """What torch's weights-only unpickler refused, from its message: the global it names (the
    callable a malicious pickle would run), else its one-line reason."""
    text = str(exc)
    if match := re.search(r"GLOBAL\s+([\w.]+)", text):
        return f"the global {match.group(1)}"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return next((ln for ln in lines if not ln.startswith("Weights only load failed")), lines[0] if lines else "?")


def _data_pickle(path: Path) -> tuple[str, bytes] | None:
    """The member name and bytes of a torch zip checkpoint's ``data.pkl``, or ``None``."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = next((n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
            return (name, archive.read(name)) if name is not None else None
    except (OSError, zipfile.BadZipFile, KeyError):
        return None


def _rewritten_zip(path: Path, member: str, data: bytes) -> io.BytesIO:
    """The zip checkpoint with ``member`` replaced by ``data`` (the other members copied)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            target.writestr(info, data if info.filename == member else source.read(info.filename))
    buffer.seek(0)
    return buffer


def _load_protocol_4(path: Path, device: torch.device, exc: pickle.UnpicklingError) -> Any:
    """A zip checkpoint whose ``data.pkl`` uses pickle protocol 4 or 5, which torch's weights-only
    unpickler does not read: rewritten into protocol-2 opcodes (`to_protocol_2`, which
    executes nothing) and loaded by that same unpickler, which still decides what is allowed.
    Raises the `UnsafeCheckpointError` to report otherwise."""
    found = _data_pickle(path)
    if found is None or pickle_protocol(found[1]) < 4:
        raise _unsafe(path, _refused(exc)) from exc
    member, data = found
    try:
        rewritten = to_protocol_2(data)
    except (UnsupportedPickle, ValueError) as err:
        named = ", ".join(globals_named(data)) or "none"
        raise _unsafe(
            path,
            f"a protocol-{pickle_protocol(data)} pickle torchgraft cannot rewrite ({err}); it names the globals {named}",
        ) from exc
    try:
        return torch.load(_rewritten_zip(path, member, rewritten), map_location=device, weights_only=True)
    except pickle.UnpicklingError as again:
        raise _unsafe(path, _refused(again)) from again


def _unsafe(path: Path, refused: str, *, lead: str | None = None) -> UnsafeCheckpointError:
    lead = lead or f"{path} is a pickle that needs more than tensors to load"
    return UnsafeCheckpointError(
        f"{lead}, and torchgraft only loads pickles with weights_only=True. Refused: {refused}. If you "
        f"trust the file, load it once yourself and save its tensors with safetensors"
    )


def _read_pth(path: Path, device: torch.device) -> Any:
    # weights_only=True is passed explicitly: torch then ignores TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD.
    try:
        mmap = zipfile.is_zipfile(path)  # the legacy (pre-1.6) format cannot be memory-mapped
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            try:
                return torch.load(path, map_location=device, weights_only=True, mmap=mmap)
            except pickle.UnpicklingError as exc:
                if not mmap:
                    raise
                return _load_protocol_4(path, device, exc)
    except UnsafeCheckpointError:
        raise
    except pickle.UnpicklingError as exc:
        with contextlib.suppress(OSError), open(path, "rb") as fh:
            head = fh.read(64 << 20)
            if pickle_protocol(head) >= 4:
                named = ", ".join(globals_named(head)) or "none"
                raise _unsafe(
                    path,
                    f"nothing was run; the pickle names the globals {named}",
                    lead=f"{path} is a pickle of protocol {pickle_protocol(head)} outside torch's zip format (a "
                    f"plain pickle, or torch's legacy pre-1.6 format), which torch's weights-only loader cannot read",
                ) from exc
        raise _unsafe(path, _refused(exc)) from exc
    except MemoryError:
        raise
    except Exception as exc:  # torch.load's many failure types on damaged bytes (EINVAL, IndexError, ...)
        raise CorruptCheckpointError(
            f"{path} is not a readable torch checkpoint: {type(exc).__name__}: {exc}".rstrip(": ")
        ) from exc


def _as_flat_tensors(state: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(state, Mapping) and not any(isinstance(v, torch.Tensor) for v in state.values()):
        wrapped = [k for k in _WRAPPER_KEYS if isinstance(state.get(k), Mapping)]
        if len(wrapped) == 1:
            state = state[wrapped[0]]
    if not isinstance(state, Mapping):
        raise CorruptCheckpointError(f"{path} holds a {type(state).__name__}; expected a mapping of names to tensors")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CorruptCheckpointError(
            f"{path} holds non-tensor entries {bad[:5]}; expected a mapping of names to tensors"
        )
    return dict(state)
