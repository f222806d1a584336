"""torchgraft-audio against torchaudio and torchcrepe, side by side.

build:      wav2vec2_base and wav2vec2_large with weights (same file): torchgraft builder vs
            torchaudio's factory + load_state_dict, fresh process each, median of --repeat.
            Target: <= 0.1x time.
throughput: seconds of audio per second, CPU fp32, wav2vec2_base, identical weights: batch 4 x 10 s
            (target >= 1.0x), and a padded batch of 10/7/4/2 s clips with lengths (torchgraft
            runs the transformer on the real frames only).
crepe:      frames/s of crepe_tiny and crepe_full on 10 s of audio vs torchcrepe.infer, same weights.
            Target >= 1.0x.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
from functools import partial
from pathlib import Path

from _harness import interleaved, markdown_table, run_child

BUILD = r"""
import torch
arch, method, path, sha = sys.argv[1:5]
torch.set_num_threads(1)
import torchaudio
import torchgraft.core as tg
tg.list_models()
reset_peak()
t0 = time.perf_counter()
if method == "torchaudio":
    model = getattr(torchaudio.models, arch)()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
else:
    model = tg.get_model(arch, weights=tg.Weights(url="file://" + path, sha256=sha, meta={}))
report(time=time.perf_counter() - t0, peak=peak_mb())
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()

    import torch
    import torchaudio

    import torchgraft.core as tg
    from torchgraft.audio.models import estimate_pitch

    med = statistics.median
    rows = []
    with tempfile.TemporaryDirectory(prefix="tg-audio-bench-") as tmp:
        env = {**os.environ, "TORCHGRAFT_HOME": str(Path(tmp) / "tg")}
        for arch in ("wav2vec2_base", "wav2vec2_large"):
            path = Path(tmp) / f"{arch}.pth"
            torch.save(getattr(torchaudio.models, arch)().state_dict(), path)
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            run_child(BUILD, arch, "torchgraft", str(path), sha, env=env)  # verify + stamp once
            runs = {
                m: [run_child(BUILD, arch, m, str(path), sha, env=env) for _ in range(args.repeat)]
                for m in ("torchaudio", "torchgraft")
            }
            ta, tgt = med(r["time"] for r in runs["torchaudio"]), med(r["time"] for r in runs["torchgraft"])
            ma, mt = med(r["peak"] for r in runs["torchaudio"]), med(r["peak"] for r in runs["torchgraft"])
            rows.append(
                [
                    arch,
                    f"{path.stat().st_size / 2**20:.0f}",
                    f"{ta:.3f}",
                    f"{tgt:.3f}",
                    f"{tgt / ta:.3f}x",
                    f"{ma:.0f}",
                    f"{mt:.0f}",
                ]
            )
    print(f"torch {torch.__version__}, torchaudio {torchaudio.__version__}, {os.cpu_count()} CPUs\n")
    print("build with weights (same file, single-threaded, median of repeats):")
    print(
        markdown_table(
            ["model", "MB", "torchaudio s", "torchgraft s", "time ratio", "torchaudio peak MB", "torchgraft peak MB"],
            rows,
        )
    )
    print("target: <= 0.1x\n")

    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    ref = torchaudio.models.wav2vec2_base().eval()
    ours = tg.get_model("wav2vec2_base").eval()
    ours.load_state_dict(ref.state_dict())
    audio = torch.randn(4, 160000)
    # A batch of real-world shape: 10, 7, 4 and 2 s clips padded to 10 s, with their lengths.
    mixed_lengths = torch.tensor([160000, 112000, 64000, 32000])
    mixed = audio * (torch.arange(160000)[None] < mixed_lengths[:, None])
    throughput_rows = []
    for label, batch, lengths in (
        ("4 x 10 s", audio, None),
        ("10 + 7 + 4 + 2 s, padded, with lengths", mixed, mixed_lengths),
    ):
        total = float(lengths.sum()) / 16000 if lengths is not None else 40.0

        def seconds_of_audio(model: torch.nn.Module, batch=batch, lengths=lengths, total=total) -> float:
            with torch.inference_mode():
                model(batch, lengths)
            return total

        rates = interleaved(
            {"torchaudio": partial(seconds_of_audio, ref), "torchgraft": partial(seconds_of_audio, ours)},
            4,
            args.seconds,
        )
        ratio = rates["torchgraft"] / rates["torchaudio"]
        throughput_rows.append([label, f"{rates['torchaudio']:.1f}", f"{rates['torchgraft']:.1f}", f"{ratio:.2f}x"])
    print("wav2vec2_base throughput, seconds of (real) audio per second, fp32:")
    print(markdown_table(["batch", "torchaudio", "torchgraft", "ratio"], throughput_rows))
    print("target: >= 1.0x\n")

    import torchcrepe

    clip = torch.randn(160000) * 0.1
    crepe_rows = []
    for capacity in ("tiny", "full"):
        model = tg.get_model(f"crepe_{capacity}", weights="DEFAULT").eval()
        n = 1 + clip.shape[0] // 160

        def ours_run(model=model, n=n) -> float:
            estimate_pitch(model, clip, 16000)
            return float(n)

        def ref_run(capacity=capacity, n=n) -> float:
            with torch.inference_mode():
                frames = next(torchcrepe.preprocess(clip[None], 16000, hop_length=160))
                torchcrepe.infer(frames, model=capacity)
            return float(n)

        ref_run()
        frame_rates = interleaved({"torchcrepe": ref_run, "torchgraft": ours_run}, 2, args.seconds)
        crepe_rows.append(
            [
                f"crepe_{capacity}",
                f"{frame_rates['torchcrepe']:.0f}",
                f"{frame_rates['torchgraft']:.0f}",
                f"{frame_rates['torchgraft'] / frame_rates['torchcrepe']:.2f}x",
            ]
        )
    print(
        "CREPE frames/s on 10 s of audio (torchcrepe: preprocess + infer; torchgraft: estimate_pitch incl. decoding):"
    )
    print(markdown_table(["model", "torchcrepe", "torchgraft", "ratio"], crepe_rows))
    print("target: >= 1.0x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
