"""Pickles of protocol 4 and 5, read by torch's weights-only unpickler without running anything.

torch's weights-only unpickler reads protocol 2 (``torch.save``'s default) and refuses the
opcodes protocols 4 and 5 add (``FRAME``, ``SHORT_BINUNICODE``, ``MEMOIZE``, ``STACK_GLOBAL``),
so a plain state dict saved with ``pickle_protocol=4`` failed as if it were malicious. Those
opcodes only frame, shorten and memoise what protocol 2 says longhand: `to_protocol_2` rewrites
them as their protocol-2 equivalents, opcode by opcode, with `pickletools` (which parses and never
executes), and the weights-only unpickler then decides exactly as for any other file, with its own
allowlist. `globals_named` lists the callables a pickle names, for messages that say what was refused.
"""

from __future__ import annotations

import pickle
import pickletools
import struct
from typing import Any

__all__ = ["UnsupportedPickle", "globals_named", "protocol", "to_protocol_2"]

_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"}
_PUTS = {"MEMOIZE", "BINPUT", "LONG_BINPUT", "PUT"}
_GETS = {"BINGET", "LONG_BINGET", "GET"}


class UnsupportedPickle(ValueError):
    """The pickle uses a construct `to_protocol_2` does not rewrite (it is then left to torch's
    unpickler to refuse by name)."""


def protocol(data: bytes) -> int:
    """The protocol a pickle declares in its first opcode (2 when it declares none)."""
    return data[1] if len(data) > 1 and data[0] == pickle.PROTO[0] else 2


def globals_named(data: bytes) -> list[str]:
    """``module.name`` of every global a pickle names (``GLOBAL`` or ``STACK_GLOBAL`` of two
    strings), in order, without executing it; unreadable pickles give what was read."""
    found: list[str] = []
    strings: list[str | None] = []
    memo: dict[int, str | None] = {}
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name == "GLOBAL":
                found.append(arg.replace(" ", "."))
            elif op.name in _STRINGS:
                strings.append(arg)
            elif op.name in _GETS:
                strings.append(memo.get(arg))
            elif op.name in _PUTS:
                memo[arg if op.name != "MEMOIZE" else len(memo)] = strings[-1] if strings else None
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2 and None not in strings[-2:]:
                found.append(f"{strings[-2]}.{strings[-1]}")
            if op.name not in _STRINGS and op.name not in _GETS and op.name not in _PUTS:
                strings.append(None)
    except Exception:
        pass
    return list(dict.fromkeys(found))


def _string(value: str) -> bytes:
    raw = value.encode("utf-8", "surrogatepass")
    return pickle.BINUNICODE + struct.pack("<I", len(raw)) + raw


def _put(index: int) -> bytes:
    return pickle.BINPUT + bytes([index]) if index < 256 else pickle.LONG_BINPUT + struct.pack("<I", index)


def to_protocol_2(data: bytes) -> bytes:
    """The same pickle in protocol-2 opcodes: frames dropped, short strings and memo operations
    spelled longhand, and each ``STACK_GLOBAL`` of two known strings written as ``GLOBAL``.
    Raises `UnsupportedPickle` for anything else it cannot rewrite."""
    # Each entry: (bytes, kind, value): kind "str" pushes the string value, "put" memoises, "op" is other.
    out: list[tuple[bytes, str, Any]] = []
    memo: dict[int, str | None] = {}
    dropped: set[int] = set()
    next_memo = 0
    ops = list(pickletools.genops(data))
    for i, (op, arg, pos) in enumerate(ops):
        end = ops[i + 1][2] if i + 1 < len(ops) else len(data)
        name = op.name
        if name == "PROTO":
            out.append((pickle.PROTO + b"\x02", "op", None))
        elif name == "FRAME":
            continue
        elif name in _STRINGS:
            out.append((_string(arg), "str", arg))
        elif name in _PUTS:
            index = next_memo if name == "MEMOIZE" else arg
            next_memo = max(next_memo, index + 1)
            last = next((e for e in reversed(out) if e[1] != "put"), None)
            memo[index] = last[2] if last is not None and last[1] == "str" else None
            out.append((_put(index), "put", index))
        elif name in _GETS:
            value = memo.get(arg)
            raw = _string(value) if arg in dropped and value is not None else data[pos:end]
            if arg in dropped and value is None:
                raise UnsupportedPickle(f"memo entry {arg} is read after its value was rewritten")
            out.append((raw, "str" if value is not None else "op", value))
        elif name == "STACK_GLOBAL":
            pushes: list[int] = []
            for j in range(len(out) - 1, -1, -1):
                if out[j][1] != "put":
                    pushes.append(j)
                    if len(pushes) == 2:
                        break
            if len(pushes) < 2 or any(out[j][1] != "str" for j in pushes):
                raise UnsupportedPickle("STACK_GLOBAL of values that are not two strings")
            name_at, module_at = pushes
            module, attr = out[module_at][2], out[name_at][2]
            for j in range(module_at, len(out)):
                if out[j][1] == "put":
                    dropped.add(out[j][2])
            del out[module_at:]
            out.append((pickle.GLOBAL + f"{module}\n{attr}\n".encode(), "op", None))
        else:
            out.append((data[pos:end], "op", None))
    return b"".join(entry[0] for entry in out)
