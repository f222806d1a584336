"""torchgraft's CLIP against open_clip, side by side, on identical weights (CPU, fp32).

build:      CLIP ViT-B/32 with weights from the same safetensors file in open_clip's layout:
            torchgraft's builder vs ``open_clip.create_model_and_transforms(pretrained=file)``,
            fresh process each, median of --repeat: time and peak RSS growth against the file's
            bytes. Targets: <= 0.25x time, peak <= 1.1x the weight bytes.
throughput: image embeddings/s (batches of 16 at 224 px) and text embeddings/s (batches of 64
            captions), median of alternating rounds; the text row runs the same [64, 77] ids
            through both, and a second row shows torchgraft on its tokenizer's padding to the
            longest caption. Target: >= 1.0x.

    python benchmarks/bench_multimodal.py [--repeat 3] [--seconds 12]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile

from _harness import markdown_table, run_child

SAVE = r"""
import torch, open_clip
from safetensors.torch import save_file
torch.manual_seed(0)
model = open_clip.create_model("ViT-B-32", pretrained=None)
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, sys.argv[1])
report(bytes=__import__("os").path.getsize(sys.argv[1]))
"""

BUILD = r"""
import torch
method, path = sys.argv[1:3]
torch.set_num_threads(1)
if method == "torchgraft":
    import torchgraft.core as tg
    from torchgraft.multimodal.models import clip_vit_b32
    weights = tg.Weights(url="file://" + path, sha256=None, meta={})
    weights.fetch()  # pinned once in the store: not timed
else:
    import open_clip
reset_peak()
t0 = time.perf_counter()
if method == "torchgraft":
    model = clip_vit_b32(weights=weights)
else:
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=path)
report(time=time.perf_counter() - t0, peak=peak_mb())
"""

THROUGHPUT = r"""
import statistics, torch, open_clip
from torchgraft.multimodal.models import from_open_clip
seconds = float(sys.argv[1])
torch.manual_seed(0)
theirs = open_clip.create_model("ViT-B-32", pretrained=None).eval()
mine = from_open_clip(theirs.state_dict(), quick_gelu=False).eval()
images = torch.rand(16, 3, 224, 224)
lengths = torch.randint(6, 24, (64,))  # captions of 6 to 23 tokens
ids = torch.zeros(64, 77, dtype=torch.long)
for i, n in enumerate(lengths.tolist()):
    ids[i, 0], ids[i, 1 : n - 1], ids[i, n - 1] = 49406, torch.randint(300, 40000, (n - 2,)), 49407
longest = int(lengths.max())
mask = (torch.arange(longest)[None] < lengths[:, None]).long()
short = {"input_ids": ids[:, :longest], "attention_mask": mask}
runs = {
    ("image", "open_clip"): (lambda: theirs.encode_image(images, normalize=True), 16),
    ("image", "torchgraft"): (lambda: mine.encode("image", images), 16),
    ("text", "open_clip"): (lambda: theirs.encode_text(ids, normalize=True), 64),
    ("text", "torchgraft"): (lambda: mine.encode("text", ids), 64),
    ("text-short", "torchgraft"): (lambda: mine.encode("text", short), 64),
}
rates = {k: [] for k in runs}
with torch.inference_mode():
    for fn, _ in runs.values():
        fn()
    torch.testing.assert_close(mine.encode("text", ids), theirs.encode_text(ids, normalize=True), atol=1e-4, rtol=0)
    for r in range(4):
        for key in list(runs)[:: 1 if r % 2 == 0 else -1]:
            fn, n = runs[key]
            done, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds / 4:
                fn()
                done += n
            rates[key].append(done / (time.perf_counter() - t0))
report(**{"/".join(k): statistics.median(v) for k, v in rates.items()})
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=12.0, help="measuring time per run")
    args = parser.parse_args()
    env = {**os.environ, "TORCHGRAFT_HOME": tempfile.mkdtemp(prefix="tg-bench-home-")}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "open_clip_model.safetensors")
        size_mb = run_child(SAVE, path)["bytes"] / 2**20
        results = {
            m: [run_child(BUILD, m, path, env=env) for _ in range(args.repeat)] for m in ("open_clip", "torchgraft")
        }
    t = {m: statistics.median(r["time"] for r in v) for m, v in results.items()}
    peak = {m: statistics.median(r["peak"] for r in v) for m, v in results.items()}
    print(
        f"## build CLIP ViT-B/32 with weights ({size_mb:.0f} MB file; targets <= 0.25x time, peak <= 1.1x the file)\n"
    )
    print(
        markdown_table(
            ["library", "time s", "ratio", "peak MB", "peak / file"],
            [
                [m, f"{t[m]:.3f}", f"{t[m] / t['open_clip']:.2f}x", f"{peak[m]:.0f}", f"{peak[m] / size_mb:.2f}x"]
                for m in t
            ],
        )
    )
    r = run_child(THROUGHPUT, str(args.seconds))
    rows = [
        [
            "images/s, batch 16",
            f"{r['image/open_clip']:.1f}",
            f"{r['image/torchgraft']:.1f}",
            f"{r['image/torchgraft'] / r['image/open_clip']:.2f}x",
        ],
        [
            "texts/s, batch 64, the same [64, 77] ids",
            f"{r['text/open_clip']:.1f}",
            f"{r['text/torchgraft']:.1f}",
            f"{r['text/torchgraft'] / r['text/open_clip']:.2f}x",
        ],
        [
            "texts/s, torchgraft padded to the longest",
            f"{r['text/open_clip']:.1f}",
            f"{r['text-short/torchgraft']:.1f}",
            f"{r['text-short/torchgraft'] / r['text/open_clip']:.2f}x",
        ],
    ]
    print("\n## embedding throughput, identical weights (target >= 1.0x)\n")
    print(markdown_table(["case", "open_clip", "torchgraft", "ratio"], rows))


if __name__ == "__main__":
    main()
