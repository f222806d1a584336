"""get_model by name against a direct builder import and against the reference libraries, each in a
fresh process, from after ``import torch`` to a model with its weights (imports and registry
discovery included, since a user pays them).

registry:  ``torchgraft.core.get_model(name, weights=...)`` vs ``from torchgraft.<domain>.models
           import <builder>; <builder>(weights=...)``. Target: <= 1.2x.
reference: the same against torchvision / torchaudio building the model and loading the same
           weights (``load_state_dict(torch.load(...))``). Targets: <= 0.25x (vision), <= 0.1x (audio).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
from pathlib import Path

from _harness import markdown_table, run_child

CHILD = r"""
import torch
name, domain, method, path, sha = sys.argv[1:6]
torch.set_num_threads(1)
t0 = time.perf_counter()
if method == "get_model":
    import torchgraft.core as tg
    model = tg.get_model(name, weights=tg.Weights(url="file://" + path, sha256=sha, meta={}))
elif method == "builder":
    import importlib
    from torchgraft.core import Weights
    builder = getattr(importlib.import_module(f"torchgraft.{domain}.models"), name)
    model = builder(weights=Weights(url="file://" + path, sha256=sha, meta={}))
elif method == "torchvision":
    import torchvision.models
    model = getattr(torchvision.models, name)()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
else:
    import torchaudio.models
    model = getattr(torchaudio.models, name)()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
report(time=time.perf_counter() - t0)
"""

MODELS = {"resnet50": ("vision", "torchvision"), "wav2vec2_base": ("audio", "torchaudio")}


def _weights_file(name: str, reference: str, directory: Path) -> tuple[str, str]:
    """The reference library's random weights of ``name`` as a .pth file (both sides load it)."""
    import torch

    if reference == "torchvision":
        import torchvision.models

        model = getattr(torchvision.models, name)()
    else:
        import torchaudio.models

        model = getattr(torchaudio.models, name)()
    path = directory / f"{name}.pth"
    torch.save(model.state_dict(), path)
    return str(path), hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="tg-registry-bench-") as tmp:
        # Compiled bytecode, as an installed package has it (pip compiles on install): without it
        # every run would recompile torchgraft's sources, which the reference libraries never pay.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["TORCHGRAFT_HOME"] = str(Path(tmp) / "tg")
        for name, (domain, reference) in MODELS.items():
            path, sha = _weights_file(name, reference, Path(tmp))
            for method in ("get_model", "builder"):  # hash once (a stamp, as in use) and write bytecode
                run_child(CHILD, name, domain, method, path, sha, env=env)
            times = {}
            for method in ("get_model", "builder", reference):
                runs = [run_child(CHILD, name, domain, method, path, sha, env=env)["time"] for _ in range(args.repeat)]
                times[method] = statistics.median(runs)
            target = 0.25 if domain == "vision" else 0.1
            rows.append(
                [
                    name,
                    f"{times['get_model'] * 1e3:.0f} ms",
                    f"{times['builder'] * 1e3:.0f} ms",
                    f"{times['get_model'] / times['builder']:.2f}x (<= 1.2x)",
                    f"{times[reference] * 1e3:.0f} ms ({reference})",
                    f"{times['get_model'] / times[reference]:.3f}x (<= {target}x)",
                ]
            )
    header = ["model", "get_model", "direct builder", "ratio", "reference", "get_model / reference"]
    print("Fresh process, from after `import torch` to the model with weights (median of", args.repeat, "runs):")
    print(markdown_table(header, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
