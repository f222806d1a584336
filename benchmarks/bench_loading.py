"""Build-with-weights: torchgraft's fast path vs the usual path, side by side.

usual:      model = arch(); sd = torch.load(f, weights_only=True) | safetensors load_file(f); model.load_state_dict(sd)
torchgraft: model = build_model(arch, weights=Weights(url=file://f, sha256=...))   (meta build + memory-mapped assign)

Each measurement runs in a fresh process: time is the build+load wall time (median of --repeat runs),
peak is the growth of peak RSS (VmHWM, reset after imports) over the process's baseline, and "+touch" is the RSS
after every weight has been read once (pages of the memory-mapped file faulted in). The sha256 is
verified once beforehand (torchgraft then trusts a stamp until the file changes); "first" is the
torchgraft time including that one-off hash; "verify=always" is every load re-hashing the file
(``TORCHGRAFT_VERIFY=always``, stamps ignored). Targets: time <= 0.25x, peak(+touch) <= 1.1x weight bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from _harness import run_child

MODELS = {"resnet50": "~25 M params", "vit_b_16": "~87 M params"}
VERIFY_ALWAYS = {**os.environ, "TORCHGRAFT_VERIFY": "always"}

CHILD = r"""
import torch, torchvision
from torchgraft.core import Weights, build_model
arch, path, sha, method = sys.argv[1:5]
torch.set_num_threads(1)
factory = getattr(torchvision.models, arch)
reset_peak()
t0 = time.perf_counter()
if method == "usual":
    model = factory()
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        sd = load_file(path)
    else:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(sd)
    del sd
else:
    fmt = "safetensors" if path.endswith(".safetensors") else "pth"
    model = build_model(factory, weights=Weights(url="file://" + path, sha256=sha, meta={}, format=fmt), config={})
elapsed = time.perf_counter() - t0
peak = peak_mb()
with torch.no_grad():
    total = sum(float(p.sum()) for p in model.parameters())
report(time=elapsed, peak=peak, touch=peak_mb())
"""


def run(arch: str, path: Path, sha: str, method: str, env: dict[str, str] | None = None) -> dict:
    return run_child(CHILD, arch, str(path), sha, method, env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()

    import torch
    import torchvision
    from safetensors.torch import save_file

    from torchgraft.core.store import verify_file

    rows = []
    with tempfile.TemporaryDirectory(prefix="tg-bench-") as tmp:
        for arch in args.models:
            model = getattr(torchvision.models, arch)()
            sd = {k: v.contiguous() for k, v in model.state_dict().items()}
            params = sum(p.numel() for p in model.parameters())
            for fmt in ("safetensors", "pth"):
                path = Path(tmp) / f"{arch}.{fmt}"
                save_file(sd, str(path)) if fmt == "safetensors" else torch.save(sd, path)
                sha = hashlib.sha256(path.read_bytes()).hexdigest()
                first = run(arch, path, sha, "torchgraft")["time"]  # includes the one-off sha256
                verify_file(path, sha)
                usual = [run(arch, path, sha, "usual") for _ in range(args.repeat)]
                fast = [run(arch, path, sha, "torchgraft") for _ in range(args.repeat)]
                always = [run(arch, path, sha, "torchgraft", VERIFY_ALWAYS) for _ in range(args.repeat)]
                med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
                mb = path.stat().st_size / 2**20
                rows.append(
                    {
                        "model": arch,
                        "params_M": params / 1e6,
                        "format": fmt,
                        "weights_MB": mb,
                        "usual_s": med(usual, "time"),
                        "torchgraft_s": med(fast, "time"),
                        "first_s": first,
                        "always_s": med(always, "time"),
                        "usual_peak_MB": med(usual, "peak"),
                        "tg_peak_MB": med(fast, "peak"),
                        "tg_touch_MB": med(fast, "touch"),
                    }
                )
            del model, sd
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, 1 thread, median of {args.repeat}")
    head = (
        "| model | params | format | weights MB | usual s | torchgraft s | time ratio | first (hash) s "
        "| verify=always s | usual peak MB | tg peak MB | tg +touch MB | usual peak / weights | tg +touch / weights |"
    )
    print(head)
    print("|" + "|".join("---" for _ in range(head.count("|") - 1)) + "|")
    for r in rows:
        print(
            f"| {r['model']} | {r['params_M']:.1f} M | {r['format']} | {r['weights_MB']:.0f} | {r['usual_s']:.3f} "
            f"| {r['torchgraft_s']:.3f} | {r['torchgraft_s'] / r['usual_s']:.3f}x | {r['first_s']:.3f} "
            f"| {r['always_s']:.3f} ({r['always_s'] / r['usual_s']:.2f}x) "
            f"| {r['usual_peak_MB']:.0f} | {r['tg_peak_MB']:.0f} | {r['tg_touch_MB']:.0f} "
            f"| {r['usual_peak_MB'] / r['weights_MB']:.2f}x | {r['tg_touch_MB'] / r['weights_MB']:.2f}x |"
        )
    print("targets: time ratio <= 0.25x; tg +touch / weights <= 1.1x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
