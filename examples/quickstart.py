"""torchgraft end to end on an embedded default: publish a backbone's weights, build it by name
with those weights (meta build + memory-mapped load), attach a fresh classifier, fine-tune it.

Run with ``python3 dev.py demo``. The domain packages grow this into a demo of real pre-trained
models (image classification, sentence embeddings, pitch).
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_model
from torch import nn

import torchgraft.core as tg


class DemoNet(nn.Module):
    """A small spatial backbone honouring the backbone contract."""

    def __init__(self, *, width: int = 16, num_classes: int = 10) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(nn.Conv2d(3, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU())
        self.stage2 = nn.Sequential(
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU()
        )
        self.fc = nn.Linear(2 * width, num_classes)
        self.feature_spec = tg.FeatureSpec(
            kind="spatial",
            width=2 * width,
            stages=(tg.StageSpec("stage1", width, 2), tg.StageSpec("stage2", 2 * width, 4)),
        )

    def forward_features(self, x: torch.Tensor) -> tg.Features:
        s1 = self.stage1(x)
        s2 = self.stage2(s1)
        return tg.Features(last=s2, stages={"stage1": s1, "stage2": s2})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x).last.mean(dim=(2, 3)))


def main() -> int:
    torch.manual_seed(0)
    work = Path(tempfile.mkdtemp(prefix="torchgraft-demo-"))
    print(
        f"installed models: {len(tg.list_models())} "
        f"({', '.join(f'{d}: {len(tg.list_models(domain=d))}' for d in ('vision', 'text', 'audio'))})"
    )

    # 1. Publish: a checkpoint as safetensors, described by a weights entry.
    published = DemoNet()
    path = work / "demonet.safetensors"
    save_model(published, str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    class DemoNet_Weights(tg.WeightsEnum):
        SYNTH_V1 = tg.Weights(
            url=path.as_uri(),
            sha256=digest,
            meta={
                "num_params": sum(p.numel() for p in published.parameters()),
                "license": "CC0-1.0",
                "categories": [f"class{i}" for i in range(10)],
            },
        )
        DEFAULT = SYNTH_V1

    @tg.register_model("demonet")
    def demonet(*, weights: DemoNet_Weights | str | None = None, progress: bool = True, **config: Any) -> DemoNet:
        weights = DemoNet_Weights.verify(weights)
        return tg.build_model(
            DemoNet,
            weights=weights,
            progress=progress,
            config=config,
            fixed=tg.categories_config(weights),
            head=("fc.",),
        )

    # 2. Build by name with weights: no random init, tensors memory-mapped from the file.
    model = tg.get_model("demonet", weights="DEFAULT").eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        same = torch.equal(model(x), published.eval()(x))
    print(f"built demonet with {DemoNet_Weights.DEFAULT}: outputs identical to the published model: {same}")

    # 3. Compose: the pre-trained backbone with a fresh 3-class head; only the head is new.
    with tg.init_empty():
        clf = tg.classifier(DemoNet(), num_classes=3)
    report = tg.load_weights(clf, DemoNet_Weights.DEFAULT)
    print(report)

    # 4. Fine-tune the head on a toy task for a few steps.
    clf.freeze_backbone()
    target = torch.randint(0, 3, (4,))
    opt = torch.optim.SGD([p for p in clf.parameters() if p.requires_grad], lr=0.5)
    losses = []
    for _ in range(20):
        loss = nn.functional.cross_entropy(clf(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    print(f"fine-tuned the head: loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    ok = same and report.fresh == ["head.fc.bias", "head.fc.weight"] and losses[-1] < losses[0]
    print("demo ok" if ok else "demo FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
