"""The ``torchgraft`` command: list models, inspect and prefetch their weights, manage the cache.

Every command takes ``--json``. Exit status: 0 on success, 1 when something failed (one line on
stderr says what), 2 for a usage error. Domain packages add commands (``classify``, ``embed``, ...)
through the entry-point group ``torchgraft.cli``: each entry is a function taking the argparse
sub-parsers object.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from ._version import __version__
from .building._providers import COMMANDS
from .building.registry import domains, entry_of, get_model_weights, get_weight, list_models, model_of, resolve_target
from .contracts.errors import NotFoundError, TorchgraftError, UnknownWeightsError
from .io.store import cache as cache_ops
from .io.store import cache_root, fetch_weights, is_cached, known_sha256, resolve_local
from .io.weights import WeightsEnum

__all__ = ["build_parser", "catalog", "first_sentence", "main", "pick_weights", "weights_of"]

CLI_ENTRY_POINT_GROUP = "torchgraft.cli"


# --------------------------------------------------------------------------- output helpers
def json_safe(data: Any) -> Any:
    """``data`` with every NaN or infinite float replaced by ``None`` (JSON has no such numbers:
    ``NaN`` in the output would break every JSON reader downstream)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: json_safe(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [json_safe(v) for v in data]
    return data


def emit(args: argparse.Namespace, data: Any, text: Callable[[Any], str]) -> None:
    """Prints ``data`` as JSON with ``--json`` (always valid JSON: see `json_safe`), else as ``text(data)``."""
    if getattr(args, "json", False):
        print(json.dumps(json_safe(data), indent=2, default=str, allow_nan=False))
    else:
        out = text(data)
        if out:
            print(out)


def ranked(probs: Any, labels: Sequence[str], top: int | None = None) -> list[dict[str, Any]]:
    """The ``top`` most probable labels of a ``[C]`` probability vector (all of them when ``None``),
    most probable first: the records every image command prints per file."""
    order = probs.argsort(descending=True).tolist()[: top or len(labels)]
    return [{"index": i, "label": labels[i], "probability": round(float(probs[i]), 6)} for i in order]


def ranked_text(header: str, results: Sequence[Mapping[str, Any]]) -> str:
    """``header``, then each result's ``file`` and its ranked labels, one per line."""
    lines = [header]
    for r in results:
        lines.append(f"{r['file']}:")
        lines += [f"  {t['probability']:7.2%}  {t['label']}" for t in r["top"]]
    return "\n".join(lines)


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    cells = [list(map(str, header))] + [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover


_MARKUP = (
    (re.compile(r":[\w:.-]+:`~?([^`]+)`"), r"\1"),  # Sphinx roles: :class:`X`
    (re.compile(r"``([^`]+)``"), r"\1"),
    (re.compile(r"`([^`]+)`"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\([^)]+\)"), r"\1"),  # Markdown links: the text
)


def first_sentence(doc: str | None) -> str:
    """The first sentence of a docstring's first paragraph, whole (joined across lines), as plain
    text: roles, literals and links reduced to their text."""
    lines = []
    for line in (doc or "").strip().splitlines():
        if not line.strip():
            break
        lines.append(line.strip())
    text = " ".join(lines)
    for pattern, replacement in _MARKUP:
        text = pattern.sub(replacement, text)
    # A sentence ends at . ! or ? before a space and a capital (not inside "e.g. the" or "2.0").
    return re.split(r"(?<=[.!?])\s+(?=[A-Z])", text, maxsplit=1)[0]


# --------------------------------------------------------------------------- weights lookup
def weights_of(name: str) -> list[WeightsEnum]:
    try:
        return list(get_model_weights(name))
    except UnknownWeightsError:
        return []


def catalog() -> list[WeightsEnum]:
    """Every weights entry of every installed model, once each (models may share an enum)."""
    return list(dict.fromkeys(m for name in list_models() for m in weights_of(name)))


def catalog_files(members: Sequence[WeightsEnum]) -> list[tuple[str, str | None, str]]:
    """``(url, digest, name)`` of every file the entries name: each checkpoint (named like the
    entry) and each asset (``Entry:asset``); the digest is the published one, else the pin, else ``None``."""
    files = []
    for m in members:
        for name, f in [(str(m), m.value), *((f"{m}:{k}", a) for k, a in m.value.assets.items())]:
            files.append((f.url, known_sha256(f), name))
    return files


def pick_weights(model: str | None, weights: str | None, default_model: str) -> tuple[str, WeightsEnum]:
    """The model and weights a command's ``--model`` / ``--weights`` name. ``--weights`` takes every
    name form (``IMAGENET1K_V2``, ``default``, ``resnet50.IMAGENET1K_V2``,
    ``ResNet50_Weights.IMAGENET1K_V2``); a qualified one also names the model."""
    if weights is not None and "." in weights:
        owner, member = resolve_target(weights)
        assert member is not None
        if model is not None and model != owner:
            raise UsageError(f"--weights {weights} belongs to {owner}, not to --model {model}")
        return owner, member
    name = model or default_model
    return name, get_weight(weights or "DEFAULT", model=name)


def _weights_record(member: WeightsEnum) -> dict[str, Any]:
    w = member.value
    digest = known_sha256(w)  # published, else pinned here (read once)
    enum = type(member)
    meta = dict(w.meta)
    return {
        "name": str(member),
        "default": enum.default() is member,
        "url": w.url,
        "mirrors": list(w.mirrors),
        "sha256": digest,
        "hash": "sha256" if w.full_hash else "sha256-prefix (weaker)" if w.pinned else _pin_state(digest),
        "size": w.size,
        "approx_size_mb": meta.get("approx_size_mb"),
        "format": w.format,
        "role": w.role,
        "num_params": w.num_params,
        "license": meta.get("license"),
        "metrics": meta.get("metrics", {}),
        "recipe": meta.get("recipe"),
        "deprecated": bool(meta.get("deprecated")),
        "superseded_by": meta.get("superseded_by"),
        "num_categories": len(meta["categories"]) if meta.get("categories") else None,
        "cached": is_cached(w),
    }


def _pin_state(pinned: str | None) -> str:
    """For entries published without a digest: whether this cache has pinned one yet."""
    return "none published; pinned here" if pinned else "none published; pinned on first download"


# --------------------------------------------------------------------------- commands
def cmd_list(args: argparse.Namespace) -> int:
    if args.domain is not None and args.domain.lower() not in (known := domains()):
        raise UsageError(
            f"no installed package registers models of domain {args.domain!r}: expected one of "
            f"{', '.join(known)} (pip install torchgraft-{args.domain.lower()} adds a domain)"
        )
    pattern = args.pattern
    if pattern is not None and not any(c in pattern for c in "*?["):
        pattern = f"*{pattern}*"  # a bare word finds the models whose names contain it
    names = list_models(pattern, domain=args.domain)
    if not names and args.pattern is not None:
        close = difflib.get_close_matches(args.pattern, list_models(domain=args.domain), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise NotFoundError(f"no model matches {args.pattern!r}{hint} (torchgraft list shows them all)")
    rows = []
    for name in names:
        members = weights_of(name)
        default = next((m for m in members if type(m).default() is m), None)
        rows.append(
            {
                "model": name,
                "domain": entry_of(name).domain,
                "weights": [str(m) for m in members],
                "default": str(default) if default else None,
            }
        )
    emit(
        args,
        rows,
        lambda r: (
            table(
                [(x["model"], x["domain"], len(x["weights"]), x["default"] or "-") for x in r],
                ("model", "domain", "weights", "default"),
            )
            if r
            else "no models match"
        ),
    )
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    name, chosen = resolve_target(args.name, default=False)  # a model, or any weights name form
    entry = entry_of(name)
    members = [chosen] if chosen is not None else weights_of(name)
    data = {
        "model": name,
        "domain": entry.domain,
        "summary": first_sentence(entry.builder.__doc__),
        "weights": [_weights_record(m) for m in members],
    }

    def text(d: dict[str, Any]) -> str:
        lines = [f"{d['model']} ({d['domain']}): {d['summary']}".rstrip(": ")]
        for w in d["weights"]:
            flags = [
                f
                for f, on in (("default", w["default"]), ("deprecated", w["deprecated"]), ("cached", w["cached"]))
                if on
            ]
            lines.append(f"\n{w['name']}" + (f"  [{', '.join(flags)}]" if flags else ""))
            metrics = "; ".join(
                f"{ds}: " + ", ".join(f"{k} {v}" for k, v in m.items()) for ds, m in w["metrics"].items()
            )
            for label, value in (
                ("url", w["url"]),
                ("sha256", f"{w['sha256'] or '-'} ({w['hash']})"),
                ("size", _size(w["size"]) if w["size"] or not w["approx_size_mb"] else f"~{w['approx_size_mb']} MB"),
                ("format / role", f"{w['format']} / {w['role']}"),
                ("params", f"{w['num_params']:,}"),
                ("metrics", metrics or "-"),
                ("license", w["license"] or "-"),
                ("superseded by", w["superseded_by"]),
            ):
                if value:
                    lines.append(f"  {label:<14} {value}")
        if not d["weights"]:
            lines.append("no published weights")
        return "\n".join(lines)

    emit(args, data, text)
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    if args.all == bool(args.targets):
        raise UsageError("name the weights to download (NAME or NAME.WEIGHTS), or pass --all")
    targets = [(model_of(m), m) for m in catalog()] if args.all else [resolve_target(t) for t in args.targets]
    results = []
    for model, member in dict.fromkeys(targets):
        record = {"model": model, "weights": str(member)}
        try:
            path = fetch_weights(member.value, progress=None if not args.json else False)
            results.append({**record, "ok": True, "path": str(path)})
        except TorchgraftError as exc:
            results.append({**record, "ok": False, "error": str(exc).splitlines()[0]})
            print(f"torchgraft: {member}: {str(exc).splitlines()[0]}", file=sys.stderr)
    failed = sum(not r["ok"] for r in results)
    data = {"results": results, "ok": len(results) - failed, "failed": failed}

    def text(d: dict[str, Any]) -> str:
        lines = [f"{x['weights']}: {x['path']}" for x in d["results"] if x["ok"]]
        return "\n".join([*lines, f"{d['ok']} ok, {d['failed']} failed"])

    emit(args, data, text)
    return 1 if failed else 0


def cmd_cache(args: argparse.Namespace) -> int:
    action = args.action
    if action == "ls":
        data = cache_ops.list_cache()
        files = catalog_files(catalog())
        for f in data["files"]:
            f["weights"] = [name for _, d, name in files if d and f["sha256"].startswith(d)]
        data["packaged"] = _packaged(files)

        def text(d: dict[str, Any]) -> str:
            lines = [f"cache: {d['root']} ({len(d['files'])} files, {_size(d['total_bytes'])})"]
            if d["files"]:
                rows = [
                    (f["sha256"][:16], _size(f["size"]), ", ".join(f["weights"]) or f["url"] or "-") for f in d["files"]
                ]
                lines.append(table(rows, ("sha256", "size", "weights / source")))
            lines.append(f"{len(d['partial'])} partial downloads, {len(d['quarantined'])} quarantined files")
            if d["packaged"]:
                lines.append(f"\nread in place from installed packages ({len(d['packaged'])} files, not in the cache):")
                rows = [(_size(p["size"]), ", ".join(p["weights"]), p["path"]) for p in d["packaged"]]
                lines.append(table(rows, ("size", "weights", "path")))
            return "\n".join(lines)

        emit(args, data, text)
        return 0
    if action == "verify":
        results = cache_ops.verify_cache()
        bad = [r for r in results if not r["ok"]]
        emit(args, results, lambda r: f"{len(r) - len(bad)} files verified, {len(bad)} corrupt or unreadable")
        for r in bad:
            if "error" in r:
                print(f"torchgraft: cannot read cached file {r['path']}: {r['error']}", file=sys.stderr)
                continue
            print(
                f"torchgraft: corrupt cached file {r['sha256']} (content hashes to {r['actual']}), quarantined",
                file=sys.stderr,
            )
        return 1 if bad else 0
    if action == "prune":
        referenced = [d for _, d, _ in catalog_files(catalog()) if d]  # checkpoints and their assets
        removed = cache_ops.prune_cache(unreferenced=args.unreferenced, referenced=referenced, dry_run=args.dry_run)
        verb = "would remove" if args.dry_run else "removed"
        emit(args, removed, lambda r: f"{verb} {len(r)} entries ({_size(sum(x['size'] for x in r))})")
        return 0
    if action in ("export", "import"):
        if args.directory is None:
            raise UsageError(f"cache {action} needs a DIR")
        directory = Path(args.directory)
        if action == "export":
            out = cache_ops.export_cache(directory)
            emit(args, out, lambda r: f"exported {len(r)} files to {directory}")
            return 0
        out = cache_ops.import_cache(directory, trust_pins=args.trust_pins)
        # Another cache's files (torch.hub's checkpoints/, a download folder), by the catalog entry naming them.
        adopted = cache_ops.adopt_files(directory, [m.value for m in catalog()])
        out += [{**r, "kind": "adopted"} for r in adopted]
        files = [r for r in out if r.get("kind") not in ("pin", "adopted")]
        pins = [r for r in out if r.get("kind") == "pin"]
        rejected = [r for r in files if r["status"] == "rejected"]
        skipped = [r for r in pins if r["status"] == "skipped"]
        passed_over = [r for r in adopted if r["status"] == "skipped"]

        def summary(_: Any) -> str:
            imported = sum(x["status"] == "imported" for x in [*files, *adopted])
            text = f"imported {imported} files into {cache_root()}"
            text += f", {sum(x['status'] == 'imported' for x in pins)} pins"
            if skipped:
                text += (
                    f"; {len(skipped)} pins skipped (--trust-pins accepts the exporting machine's first-use digests)"
                )
            for r in passed_over:
                text += f"\nskipped {r['file']}: {r['reason']}"
            return text

        emit(args, out, summary)
        for r in rejected:
            why = f"its content hashes to {r['actual']}" if "actual" in r else r["reason"]
            print(f"torchgraft: rejected {r['sha256']}: {why}", file=sys.stderr)
        return 1 if rejected else 0
    raise UsageError(f"unknown cache action {action!r}")  # pragma: no cover - argparse restricts it


def _packaged(files: Sequence[tuple[str, str | None, str]]) -> list[dict[str, Any]]:
    """The ``pkg://`` files among ``files`` (see `catalog_files`) whose package is installed: read
    in place from it, never copied into the cache."""
    users: dict[str, list[str]] = {}
    for url, _, name in files:
        if url.startswith("pkg://"):
            users.setdefault(url, []).append(name)
    out = []
    for url, names in users.items():
        try:
            path = resolve_local(url)
        except NotFoundError:  # the shipping package is not installed
            continue
        if path is not None and path.is_file():
            out.append({"url": url, "path": str(path), "size": path.stat().st_size, "weights": names})
    return out


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="torchgraft", description="torchgraft models, weights and cache")
    parser.add_argument("--version", action="version", version=f"torchgraft-core {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("list", parents=[common], help="list registered models")
    p.add_argument("pattern", nargs="?", help="fnmatch pattern ('resnet*'), or a word the names contain ('resnet')")
    p.add_argument("--domain", choices=None, help="vision, text, audio, ...")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", parents=[common], help="a model's weights: metrics, size, hash, licence, cached")
    p.add_argument("name", help="a model, a weights entry (<model>.<MEMBER>) or a weights enum (<Enum>_Weights)")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("download", parents=[common], help="prefetch weights into the cache (for air-gapped use)")
    p.add_argument("targets", nargs="*", metavar="NAME[.WEIGHTS]")
    p.add_argument("--all", action="store_true", help="every weights entry of every installed model")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("cache", parents=[common], help="inspect and manage the weight cache")
    p.add_argument("action", choices=("ls", "verify", "prune", "export", "import"))
    p.add_argument(
        "directory",
        nargs="?",
        help="for export/import; import also adopts another cache's files (torch.hub's checkpoints/) that a weights entry vouches for",
    )
    p.add_argument("--unreferenced", action="store_true", help="prune: also files no installed weights entry names")
    p.add_argument("--dry-run", action="store_true", help="prune: only say what would go")
    p.add_argument(
        "--trust-pins",
        action="store_true",
        help="import: also accept the export's first-use pins (digests of files published without one)",
    )
    p.set_defaults(func=cmd_cache)

    for ep in metadata.entry_points(group=CLI_ENTRY_POINT_GROUP):
        ep.load()(sub, common)
    parser.set_defaults(commands=sorted(sub.choices))
    return parser


def _missing_command(argv: Sequence[str], installed: Sequence[str]) -> str | None:
    """For a command a domain that is not installed provides, what to install."""
    command = next((a for a in argv if not a.startswith("-")), None)
    if command is None or command in installed:
        return None
    for dist, names in COMMANDS.items():
        if command in names:
            return f"torchgraft {command} is provided by {dist}, which is not installed: pip install {dist}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        missing = _missing_command(argv, parser.get_default("commands"))
        if missing:
            print(f"torchgraft: error: {missing}", file=sys.stderr)
            return 2
        args = parser.parse_args(argv)
        if args.command is None:  # `torchgraft` alone: what it can do
            parser.print_help()
            return 0
        return int(args.func(args))
    except UsageError as exc:
        print(f"torchgraft: usage error: {exc} (see torchgraft --help)", file=sys.stderr)
        return 2
    except (TorchgraftError, ValueError, OSError) as exc:
        print(f"torchgraft: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("torchgraft: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
