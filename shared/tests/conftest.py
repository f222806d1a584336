"""Tiny backbones of each feature kind, shared by the core tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from torch import nn

from torchgraft.core import Features, FeatureSpec, StageSpec


class TinyConvNet(nn.Module):
    """A two-stage spatial backbone with an ImageNet-style classifier ``fc``."""

    def __init__(self, *, num_classes: int = 10, width: int = 8, norm_layer: type[nn.Module] = nn.BatchNorm2d):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, stride=2, padding=1, bias=False), norm_layer(width), nn.ReLU())
        self.layer1 = nn.Sequential(nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU())
        self.fc = nn.Linear(2 * width, num_classes)
        self.feature_spec = FeatureSpec(
            kind="spatial",
            width=2 * width,
            stages=(StageSpec("stem", width, 2), StageSpec("layer1", 2 * width, 4)),
        )

    def forward_features(self, x: torch.Tensor) -> Features:
        s0 = self.stem(x)
        s1 = self.layer1(s0)
        return Features(last=s1, stages={"stem": s0, "layer1": s1})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x).last.mean(dim=(2, 3)))


class TinyEncoder(nn.Module):
    """A sequence backbone: embeddings, one transformer layer, a tied LM decoder and a non-persistent
    buffer, exercising ties and buffers that checkpoints do not hold."""

    def __init__(self, *, vocab_size: int = 50, dim: int = 16, max_len: int = 32):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.pos = nn.Parameter(torch.zeros(max_len, dim))
        self.layer = nn.TransformerEncoderLayer(dim, nhead=2, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.decoder = nn.Linear(dim, vocab_size, bias=False)
        self.decoder.weight = self.embed.weight
        self.register_buffer("position_ids", torch.arange(max_len), persistent=False)
        self.feature_spec = FeatureSpec(kind="sequence", width=dim, has_mask=True, pooled_width=dim)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.pos, std=0.02)

    def forward_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> Features:
        T = input_ids.shape[1]
        x = self.embed(input_ids) + self.pos[self.position_ids[:T]]
        pad = None if attention_mask is None else ~attention_mask.bool()
        x = self.norm(self.layer(x, src_key_padding_mask=pad))
        return Features(last=x, mask=attention_mask.bool() if attention_mask is not None else None, pooled=x[:, 0])

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(self.forward_features(input_ids, attention_mask).last)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def cache_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache root, so stamps and downloads never leak between tests."""
    root = tmp_path_factory.mktemp("tg_home")
    monkeypatch.setenv("TORCHGRAFT_HOME", str(root))
    return root


@pytest.fixture
def image() -> torch.Tensor:
    return torch.randn(2, 3, 16, 16)


@pytest.fixture
def tokens() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(0, 50, (2, 7))
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[1, 4:] = 0
    return ids, mask


@pytest.fixture
def conv_net() -> type[TinyConvNet]:
    return TinyConvNet


@pytest.fixture
def encoder() -> type[TinyEncoder]:
    return TinyEncoder


@pytest.fixture
def save_checkpoint(tmp_path: Path):
    """Saves a model (or state dict) as safetensors or .pth; returns ``(path, sha256)``."""

    def save(obj: nn.Module | dict, name: str = "model.safetensors") -> tuple[Path, str]:
        from safetensors.torch import save_file, save_model

        path = tmp_path / name
        if name.endswith(".safetensors"):
            if isinstance(obj, nn.Module):
                save_model(obj, str(path))
            else:
                save_file({k: v.contiguous() for k, v in obj.items()}, str(path))
        else:
            torch.save(obj.state_dict() if isinstance(obj, nn.Module) else obj, path)
        return path, sha256(path)

    return save
