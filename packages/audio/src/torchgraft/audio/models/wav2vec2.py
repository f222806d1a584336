"""wav2vec 2.0 (Baevski et al., 2020) and HuBERT (Hsu et al., 2021): one ``Wav2Vec2Model`` with a
``feature_extractor`` (strided convolutions over the waveform), an ``encoder`` (transformer) and an
optional ``aux`` module (the linear CTC head of the ASR fine-tuned variants).

State-dict layout equals torchaudio's ``Wav2Vec2Model``, so torchaudio checkpoints load
unchanged. As a backbone it is a sequence ``[B, frames, D]`` whose padding mask comes from the
waveform ``lengths``.

Weights: Weights of torchaudio's published wav2vec 2.0 and HuBERT bundles.

Pre-trained bundles are encoders (``role="backbone"``: attach your own head, or pass
``aux_num_out=`` for a fresh CTC head); ASR bundles are whole models (``role="full"``) whose
``categories`` are the CTC labels, blank first. The files are torchaudio's ``.pth`` state dicts,
read with ``weights_only=True`` and adapted on load (`TorchaudioBundleFile`). torchaudio
publishes no digests, so the entries carry ``sha256=None``: the store pins each file on its first
download (see docs/store.md). ``meta["defaults"]`` holds each bundle's dropout rates, used unless
the caller passes others; ``meta["torchaudio_bundle"]`` names the torchaudio pipeline it equals.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from torchgraft.core import (
    Features,
    FeatureSpec,
    Packing,
    UnknownKeywordError,
    Weights,
    WeightsEnum,
    init_empty,
    load_weights,
    own_weights,
    read_checkpoint,
    register_model,
)
from torchgraft.core.family import Family
from torchgraft.core.packing import padding_matters
from torchgraft.core.preflight import check_config, check_fields, config_fields, read_json

from ..transforms import Wav2Vec2Transform
from .convert import TorchaudioBundleFile, config_from_hf, hf_to_torchaudio

__all__ = [
    "EN_LABELS",
    "Hubert_Base_Weights",
    "Hubert_Large_Weights",
    "Hubert_XLarge_Weights",
    "Wav2Vec2Config",
    "Wav2Vec2Model",
    "Wav2Vec2_Base_Weights",
    "Wav2Vec2_Large_LV60K_Weights",
    "Wav2Vec2_Large_Weights",
    "from_huggingface",
    "hubert_base",
    "hubert_large",
    "hubert_xlarge",
    "wav2vec2_base",
    "wav2vec2_large",
    "wav2vec2_large_lv60k",
    "wav2vec2_model",
]

BASE_CONV = ((512, 10, 5),) + ((512, 3, 2),) * 4 + ((512, 2, 2),) * 2


@dataclass(frozen=True)
class Wav2Vec2Config:
    extractor_mode: str = "group_norm"  # or "layer_norm"
    extractor_conv_layer_config: tuple[tuple[int, int, int], ...] = BASE_CONV  # (channels, kernel, stride)
    extractor_conv_bias: bool = False
    encoder_embed_dim: int = 768
    encoder_projection_dropout: float = 0.1
    encoder_pos_conv_kernel: int = 128
    encoder_pos_conv_groups: int = 16
    encoder_num_layers: int = 12
    encoder_num_heads: int = 12
    encoder_attention_dropout: float = 0.1
    encoder_ff_interm_features: int = 3072
    encoder_ff_interm_dropout: float = 0.0
    encoder_dropout: float = 0.1
    encoder_layer_norm_first: bool = False
    encoder_layer_drop: float = 0.1
    aux_num_out: int | None = None
    # With lengths and >= 10% padding, run per-frame layers on the real frames only (data-dependent
    # shapes: turn off for CUDA graphs; torch.export always packs a masked batch).
    unpad: bool = True

    def __post_init__(self) -> None:
        check_fields(self, what=type(self).__name__)
        if self.extractor_mode not in ("group_norm", "layer_norm"):
            raise ValueError(f"extractor_mode must be 'group_norm' or 'layer_norm'; found {self.extractor_mode!r}")
        if self.encoder_embed_dim % self.encoder_num_heads:
            raise ValueError(
                f"encoder_embed_dim {self.encoder_embed_dim} is not divisible by {self.encoder_num_heads} heads"
            )
        object.__setattr__(
            self, "extractor_conv_layer_config", tuple(tuple(c) for c in self.extractor_conv_layer_config)
        )


# --------------------------------------------------------------------------- feature extractor
class ConvLayerBlock(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int, bias: bool, layer_norm: nn.Module | None) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel, stride
        self.layer_norm = layer_norm
        self.conv = nn.Conv1d(cin, cout, kernel, stride, bias=bias)

    def forward(self, x: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor | None]:
        x = self.conv(x)  # [B, C, frames]
        if isinstance(self.layer_norm, nn.LayerNorm):
            x = self.layer_norm(x.transpose(-2, -1)).transpose(-2, -1)
        elif self.layer_norm is not None:
            x = self.layer_norm(x)
        x = F.gelu(x)
        if lengths is not None:
            lengths = torch.div(lengths - self.kernel_size, self.stride, rounding_mode="floor") + 1
            lengths = torch.clamp(lengths, min=0)
        return x, lengths


class FeatureExtractor(nn.Module):
    def __init__(self, cfg: Wav2Vec2Config) -> None:
        super().__init__()
        blocks, cin = [], 1
        for i, (cout, kernel, stride) in enumerate(cfg.extractor_conv_layer_config):
            if cfg.extractor_mode == "layer_norm":
                norm: nn.Module | None = nn.LayerNorm(cout, elementwise_affine=True)
            else:
                norm = nn.GroupNorm(cout, cout, affine=True) if i == 0 else None
            blocks.append(ConvLayerBlock(cin, cout, kernel, stride, cfg.extractor_conv_bias, norm))
            cin = cout
        self.conv_layers = nn.ModuleList(blocks)

    def forward(self, waveforms: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor | None]:
        if waveforms.dim() != 2:
            raise ValueError(f"expected waveforms [batch, samples]; found shape {list(waveforms.shape)}")
        x = waveforms.unsqueeze(1)  # [B, 1, samples]
        for layer in self.conv_layers:
            x, lengths = layer(x, lengths)
        return x.transpose(1, 2), lengths  # [B, frames, C]


# --------------------------------------------------------------------------- encoder
class FeatureProjection(nn.Module):
    def __init__(self, cin: int, cout: int, dropout: float) -> None:
        super().__init__()
        self.layer_norm = nn.LayerNorm(cin)
        self.projection = nn.Linear(cin, cout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.projection(self.layer_norm(x)))


class ConvolutionalPositionalEmbedding(nn.Module):
    def __init__(self, dim: int, kernel: int, groups: int) -> None:
        super().__init__()
        conv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=groups)
        self.conv = nn.utils.parametrizations.weight_norm(conv, name="weight", dim=2)
        self.num_remove = 1 if kernel % 2 == 0 else 0

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x.transpose(-2, -1))
        if self.num_remove:
            x = x[..., : -self.num_remove]
        return F.gelu(x).transpose(-2, -1)


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.num_heads, self.dropout = heads, dropout
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.q_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, attn_mask: Tensor | None, packing: Packing | None = None) -> Tensor:
        """``x``: ``[B, T, D]``, or ``[N, D]`` real frames with their ``packing``."""
        B, T = (packing.batch, packing.length) if packing is not None else x.shape[:2]
        D, H = x.shape[-1], self.num_heads

        def heads(t: Tensor) -> Tensor:
            t = packing.pad(t) if packing is not None else t
            return t.view(B, T, H, D // H).transpose(1, 2)  # [B, H, T, Dh]

        out = F.scaled_dot_product_attention(
            heads(self.q_proj(x)),
            heads(self.k_proj(x)),
            heads(self.v_proj(x)),
            attn_mask=attn_mask,
            dropout_p=self.dropout if self.training else 0.0,
        )
        out = out.transpose(1, 2).reshape(B, T, D)
        return self.out_proj(packing.unpad(out) if packing is not None else out)


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, hidden_dropout: float, dropout: float) -> None:
        super().__init__()
        self.intermediate_dense = nn.Linear(dim, hidden)
        self.intermediate_dropout = nn.Dropout(hidden_dropout)
        self.output_dense = nn.Linear(hidden, dim)
        self.output_dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.output_dropout(self.output_dense(self.intermediate_dropout(F.gelu(self.intermediate_dense(x)))))


class EncoderLayer(nn.Module):
    def __init__(self, cfg: Wav2Vec2Config) -> None:
        super().__init__()
        dim = cfg.encoder_embed_dim
        self.attention = SelfAttention(dim, cfg.encoder_num_heads, cfg.encoder_attention_dropout)
        self.dropout = nn.Dropout(cfg.encoder_dropout)
        self.layer_norm = nn.LayerNorm(dim)
        self.layer_norm_first = cfg.encoder_layer_norm_first
        self.feed_forward = FeedForward(
            dim, cfg.encoder_ff_interm_features, cfg.encoder_ff_interm_dropout, cfg.encoder_dropout
        )
        self.final_layer_norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, attn_mask: Tensor | None, packing: Packing | None = None) -> Tensor:
        residual = x
        if self.layer_norm_first:
            x = self.layer_norm(x)
        x = residual + self.dropout(self.attention(x, attn_mask, packing))
        if self.layer_norm_first:
            return x + self.feed_forward(self.final_layer_norm(x))
        x = self.layer_norm(x)
        return self.final_layer_norm(x + self.feed_forward(x))


class Transformer(nn.Module):
    def __init__(self, cfg: Wav2Vec2Config) -> None:
        super().__init__()
        self.pos_conv_embed = ConvolutionalPositionalEmbedding(
            cfg.encoder_embed_dim, cfg.encoder_pos_conv_kernel, cfg.encoder_pos_conv_groups
        )
        self.layer_norm = nn.LayerNorm(cfg.encoder_embed_dim)
        self.layer_norm_first = cfg.encoder_layer_norm_first
        self.layer_drop = cfg.encoder_layer_drop
        self.dropout = nn.Dropout(cfg.encoder_dropout)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.encoder_num_layers))

    def forward(self, x: Tensor, attn_mask: Tensor | None, packing: Packing | None = None) -> Tensor:
        h = self._prepare(x, packing)
        outputs = self._run_layers(h, attn_mask, None, packing)
        out = outputs[-1] if outputs else h
        out = self.layer_norm(out) if self.layer_norm_first else out
        return packing.pad(out) if packing is not None else out

    def layer_outputs(
        self, x: Tensor, attn_mask: Tensor | None, num_layers: int | None = None, packing: Packing | None = None
    ) -> list[Tensor]:
        """Raw outputs of the first ``num_layers`` layers (all by default), as torchaudio's
        ``extract_features`` returns them (no final norm); ``[N, D]`` real frames with a
        ``packing``, else ``[B, T, D]``."""
        return self._run_layers(self._prepare(x, packing), attn_mask, num_layers, packing)

    def _prepare(self, x: Tensor, packing: Packing | None) -> Tensor:
        x = x + self.pos_conv_embed(x)  # [B, T, D]: the positional convolution runs across time
        if not self.layer_norm_first:
            x = self.layer_norm(x)
        x = self.dropout(x)
        return packing.unpad(x) if packing is not None else x

    def _run_layers(
        self, x: Tensor, attn_mask: Tensor | None, num_layers: int | None, packing: Packing | None
    ) -> list[Tensor]:
        outputs = []
        for layer in self.layers[:num_layers]:
            if self.training and self.layer_drop and torch.rand(()) <= self.layer_drop:
                outputs.append(x)
                continue
            x = layer(x, attn_mask, packing)
            outputs.append(x)
        return outputs


class Encoder(nn.Module):
    def __init__(self, cfg: Wav2Vec2Config) -> None:
        super().__init__()
        in_features = cfg.extractor_conv_layer_config[-1][0]
        self.feature_projection = FeatureProjection(in_features, cfg.encoder_embed_dim, cfg.encoder_projection_dropout)
        self.transformer = Transformer(cfg)

    def preprocess(self, features: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Projected features, the padding mask ``[B, frames]`` (True = real) and the additive
        attention mask ``[B, 1, 1, frames]`` (``None`` without padding: long recordings then keep
        the memory-efficient attention kernels)."""
        x = self.feature_projection(features)
        if lengths is None:
            return x, None, None
        frames = torch.arange(x.shape[1], device=x.device)
        real = frames[None, :] < lengths[:, None]  # [B, frames]
        if not padding_matters(real):
            return x, real, None
        x = x.masked_fill(~real[..., None], 0.0)
        bias = -10000.0 * (~real)[:, None, None, :].to(x.dtype)  # broadcast over heads and queries
        return x, real, bias


class Wav2Vec2Model(nn.Module):
    """``forward(waveforms [B, samples], lengths [B] | None) -> (features [B, frames, D or aux], lengths)``.

    ``aux`` is its own output layer (a CTC head; ``num_classes`` its size, 0 without it)."""

    classifier_name = "aux"

    def __init__(self, cfg: Wav2Vec2Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.feature_extractor = FeatureExtractor(cfg)
        self.encoder = Encoder(cfg)
        self.aux = nn.Linear(cfg.encoder_embed_dim, cfg.aux_num_out) if cfg.aux_num_out else None
        self.feature_spec = FeatureSpec(kind="sequence", width=cfg.encoder_embed_dim, has_mask=True)

    @property
    def num_classes(self) -> int:
        return self.aux.out_features if self.aux is not None else 0

    @property
    def min_samples(self) -> int:
        """The shortest input that makes one frame: the feature extractor's receptive field."""
        layers = self.cfg.extractor_conv_layer_config
        return 1 + sum((k - 1) * math.prod(s for _, _, s in layers[:i]) for i, (_, k, _) in enumerate(layers))

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh linear ``aux`` output (CTC head) of ``num_classes``, or none for 0."""
        self.aux = nn.Linear(self.cfg.encoder_embed_dim, num_classes) if num_classes else None

    def reset_parameters(self) -> None:
        for m in self.modules():
            if (isinstance(m, (nn.Linear, nn.Conv1d)) and not nn.utils.parametrize.is_parametrized(m)) or isinstance(
                m, (nn.LayerNorm, nn.GroupNorm)
            ):
                m.reset_parameters()

    def _packing(self, real: Tensor | None) -> Packing | None:
        return Packing.when_worthwhile(real) if self.cfg.unpad else None

    def _encode(self, x: Tensor, real: Tensor | None, bias: Tensor | None) -> Tensor:
        """The transformer over ``[B, frames, D]``, zeros at padded frames whether or not the
        batch was packed (so eager and exported programs agree everywhere)."""
        packing = self._packing(real)
        x = self.encoder.transformer(x, bias, packing)
        return x if packing is not None or real is None else x.masked_fill(~real[..., None], 0.0)

    def extract_features(
        self, waveforms: Tensor, lengths: Tensor | None = None, num_layers: int | None = None
    ) -> tuple[list[Tensor], Tensor | None]:
        """Per-layer transformer outputs ``[B, frames, D]`` (up to ``num_layers``) and frame lengths."""
        features, lengths = self.feature_extractor(waveforms, lengths)
        x, real, bias = self.encoder.preprocess(features, lengths)
        packing = self._packing(real)
        outputs = self.encoder.transformer.layer_outputs(x, bias, num_layers, packing)
        return [packing.pad(o) for o in outputs] if packing is not None else outputs, lengths

    def shard_units(self) -> list[nn.Module]:
        """The transformer layers, sharded one by one."""
        return list(self.encoder.transformer.layers)

    def forward_features(self, waveforms: Tensor, lengths: Tensor | None = None) -> Features:
        features, frame_lengths = self.feature_extractor(waveforms, lengths)
        x, real, bias = self.encoder.preprocess(features, frame_lengths)
        return Features(last=self._encode(x, real, bias), mask=real)

    def forward(self, waveforms: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        features, lengths = self.feature_extractor(waveforms, lengths)
        x, real, bias = self.encoder.preprocess(features, lengths)
        x = self._encode(x, real, bias)
        if self.aux is not None:
            x = self.aux(x)
        return x, lengths


# Dropout defaults follow torchaudio's factory functions (checked by a test), so fine-tuning recipes
# written for them carry over.
_W2V = {"encoder_ff_interm_dropout": 0.1}
_LARGE = {
    "encoder_embed_dim": 1024,
    "encoder_num_layers": 24,
    "encoder_num_heads": 16,
    "encoder_ff_interm_features": 4096,
}
_HUBERT_LARGE = {
    **_LARGE,
    "extractor_mode": "layer_norm",
    "encoder_layer_norm_first": True,
    "encoder_projection_dropout": 0.0,
    "encoder_attention_dropout": 0.0,
    "encoder_dropout": 0.0,
    "encoder_layer_drop": 0.0,
}
_SETTINGS: dict[str, dict[str, Any]] = {
    "wav2vec2_base": _W2V,
    "wav2vec2_large": {**_W2V, **_LARGE},
    "wav2vec2_large_lv60k": {
        **_W2V,
        **_LARGE,
        "extractor_mode": "layer_norm",
        "extractor_conv_bias": True,
        "encoder_layer_norm_first": True,
        "encoder_dropout": 0.0,
        "encoder_attention_dropout": 0.0,
    },
    "hubert_base": {"encoder_layer_drop": 0.05},
    "hubert_large": _HUBERT_LARGE,
    "hubert_xlarge": {
        **_HUBERT_LARGE,
        "encoder_embed_dim": 1280,
        "encoder_num_layers": 48,
        "encoder_num_heads": 16,
        "encoder_ff_interm_features": 5120,
    },
}
VARIANTS: dict[str, Wav2Vec2Config] = {
    "wav2vec2_model": Wav2Vec2Config(),
    **{name: Wav2Vec2Config(**settings) for name, settings in _SETTINGS.items()},
}
#: The family: ``Wav2Vec2Model`` over one ``Wav2Vec2Config`` per variant; ASR weights fix the CTC
#: head's size (one output per label) and backbone weights leave it fresh.
FAMILY = Family(Wav2Vec2Model, Wav2Vec2Config, VARIANTS, head=("aux.",), categories="aux_num_out")


# --------------------------------------------------------------------------- weights
BASE_URL = "https://download.pytorch.org/torchaudio/models/"
SAMPLE_RATE = 16000
#: CTC labels of the English ASR bundles: blank ("-"), word delimiter ("|"), letters, apostrophe.
EN_LABELS = ("-", "|", *"ETAONIHSRDLUMWCFGYPBVK'XJQZ")
_FAIRSEQ = "https://github.com/facebookresearch/fairseq/tree/main/examples"
_DROPOUTS = (
    "encoder_projection_dropout",
    "encoder_attention_dropout",
    "encoder_ff_interm_dropout",
    "encoder_dropout",
    "encoder_layer_drop",
)
# the dropout rates of each bundle family, in _DROPOUTS order
_BASE = (0.1, 0.1, 0.0, 0.1, 0.05)
_LARGE = (0.1, 0.1, 0.0, 0.0, 0.2)
_LV60K = (0.1, 0.1, 0.0, 0.0, 0.0)
_NONE = (0.0, 0.0, 0.0, 0.0, 0.0)
_HUBERT_ASR = (0.0, 0.0, 0.1, 0.0, 0.1)


def _bundle(
    file: str,
    bundle: str,
    *,
    num_params: int,
    dropouts: tuple[float, ...],
    normalize: bool,
    pretraining: str,
    finetuning: str | None = None,
    recipe: str = f"{_FAIRSEQ}/wav2vec",
) -> Weights:
    asr = finetuning is not None
    meta: dict[str, Any] = {
        "num_params": num_params,
        "approx_size_mb": round(num_params * 4 / 2**20),  # fp32 state dicts
        "license": "MIT",
        "recipe": recipe,
        "sample_rate": SAMPLE_RATE,
        "normalize_waveform": normalize,
        "pretraining_data": pretraining,
        "torchaudio_bundle": bundle,
        "defaults": dict(zip(_DROPOUTS, dropouts, strict=True)),
    }
    if asr:
        meta.update(finetuning_data=finetuning, categories=EN_LABELS, blank=0, word_delimiter="|")
    return Weights(
        url=BASE_URL + file,
        sha256=None,
        format="pth",
        role="full" if asr else "backbone",
        adapter=TorchaudioBundleFile(remove_aux_rows=(1, 2, 3) if asr else ()),
        transforms=partial(Wav2Vec2Transform, sample_rate=SAMPLE_RATE, normalize=normalize),
        meta=meta,
    )


_LS960 = "LibriSpeech 960 h, unlabelled"
_LL60K = "Libri-Light 60k h, unlabelled"
_FT = {"10M": "Libri-Light 10 min", "100H": "LibriSpeech train-clean-100", "960H": "LibriSpeech 960 h"}


class Wav2Vec2_Base_Weights(WeightsEnum):
    LS960 = _bundle(
        "wav2vec2_fairseq_base_ls960.pth", "WAV2VEC2_BASE",
        num_params=94370944, dropouts=_BASE, normalize=False, pretraining=_LS960,
    )  # fmt: skip
    ASR_LS960_10M = _bundle(
        "wav2vec2_fairseq_base_ls960_asr_ll10m.pth", "WAV2VEC2_ASR_BASE_10M",
        num_params=94393245, dropouts=_BASE, normalize=False, pretraining=_LS960, finetuning=_FT["10M"],
    )  # fmt: skip
    ASR_LS960_100H = _bundle(
        "wav2vec2_fairseq_base_ls960_asr_ls100.pth", "WAV2VEC2_ASR_BASE_100H",
        num_params=94393245, dropouts=_BASE, normalize=False, pretraining=_LS960, finetuning=_FT["100H"],
    )  # fmt: skip
    ASR_LS960_960H = _bundle(
        "wav2vec2_fairseq_base_ls960_asr_ls960.pth", "WAV2VEC2_ASR_BASE_960H",
        num_params=94393245, dropouts=_BASE, normalize=False, pretraining=_LS960, finetuning=_FT["960H"],
    )  # fmt: skip
    DEFAULT = LS960


class Wav2Vec2_Large_Weights(WeightsEnum):
    LS960 = _bundle(
        "wav2vec2_fairseq_large_ls960.pth", "WAV2VEC2_LARGE",
        num_params=315427968, dropouts=_LARGE, normalize=False, pretraining=_LS960,
    )  # fmt: skip
    ASR_LS960_10M = _bundle(
        "wav2vec2_fairseq_large_ls960_asr_ll10m.pth", "WAV2VEC2_ASR_LARGE_10M",
        num_params=315457693, dropouts=_LARGE, normalize=False, pretraining=_LS960, finetuning=_FT["10M"],
    )  # fmt: skip
    ASR_LS960_100H = _bundle(
        "wav2vec2_fairseq_large_ls960_asr_ls100.pth", "WAV2VEC2_ASR_LARGE_100H",
        num_params=315457693, dropouts=_LARGE, normalize=False, pretraining=_LS960, finetuning=_FT["100H"],
    )  # fmt: skip
    ASR_LS960_960H = _bundle(
        "wav2vec2_fairseq_large_ls960_asr_ls960.pth", "WAV2VEC2_ASR_LARGE_960H",
        num_params=315457693, dropouts=_LARGE, normalize=False, pretraining=_LS960, finetuning=_FT["960H"],
    )  # fmt: skip
    DEFAULT = LS960


class Wav2Vec2_Large_LV60K_Weights(WeightsEnum):
    LV60K = _bundle(
        "wav2vec2_fairseq_large_lv60k.pth", "WAV2VEC2_LARGE_LV60K",
        num_params=315437696, dropouts=_LV60K, normalize=True, pretraining=_LL60K,
    )  # fmt: skip
    ASR_LV60K_10M = _bundle(
        "wav2vec2_fairseq_large_lv60k_asr_ll10m.pth", "WAV2VEC2_ASR_LARGE_LV60K_10M",
        num_params=315467421, dropouts=_LV60K, normalize=True, pretraining=_LL60K, finetuning=_FT["10M"],
    )  # fmt: skip
    ASR_LV60K_100H = _bundle(
        "wav2vec2_fairseq_large_lv60k_asr_ls100.pth", "WAV2VEC2_ASR_LARGE_LV60K_100H",
        num_params=315467421, dropouts=_LV60K, normalize=True, pretraining=_LL60K, finetuning=_FT["100H"],
    )  # fmt: skip
    ASR_LV60K_960H = _bundle(
        "wav2vec2_fairseq_large_lv60k_asr_ls960.pth", "WAV2VEC2_ASR_LARGE_LV60K_960H",
        num_params=315467421, dropouts=_LV60K, normalize=True, pretraining=_LL60K, finetuning=_FT["960H"],
    )  # fmt: skip
    XLSR53 = _bundle(
        "wav2vec2_fairseq_large_xlsr53.pth", "WAV2VEC2_XLSR53",
        num_params=315437696, dropouts=_NONE, normalize=True,
        pretraining="56k h in 53 languages (MLS, CommonVoice, BABEL), unlabelled",
    )  # fmt: skip
    DEFAULT = LV60K


class Hubert_Base_Weights(WeightsEnum):
    LS960 = _bundle(
        "hubert_fairseq_base_ls960.pth", "HUBERT_BASE",
        num_params=94370944, dropouts=_BASE, normalize=False, pretraining=_LS960, recipe=f"{_FAIRSEQ}/hubert",
    )  # fmt: skip
    DEFAULT = LS960


class Hubert_Large_Weights(WeightsEnum):
    LL60K = _bundle(
        "hubert_fairseq_large_ll60k.pth", "HUBERT_LARGE",
        num_params=315434112, dropouts=_NONE, normalize=True, pretraining=_LL60K, recipe=f"{_FAIRSEQ}/hubert",
    )  # fmt: skip
    ASR_LL60K_960H = _bundle(
        "hubert_fairseq_large_ll60k_asr_ls960.pth", "HUBERT_ASR_LARGE",
        num_params=315463837, dropouts=_HUBERT_ASR, normalize=True, pretraining=_LL60K,
        finetuning=_FT["960H"], recipe=f"{_FAIRSEQ}/hubert",
    )  # fmt: skip
    DEFAULT = LL60K


class Hubert_XLarge_Weights(WeightsEnum):
    LL60K = _bundle(
        "hubert_fairseq_xlarge_ll60k.pth", "HUBERT_XLARGE",
        num_params=962492544, dropouts=_NONE, normalize=True, pretraining=_LL60K, recipe=f"{_FAIRSEQ}/hubert",
    )  # fmt: skip
    ASR_LL60K_960H = _bundle(
        "hubert_fairseq_xlarge_ll60k_asr_ls960.pth", "HUBERT_ASR_XLARGE",
        num_params=962529693, dropouts=_HUBERT_ASR, normalize=True, pretraining=_LL60K,
        finetuning=_FT["960H"], recipe=f"{_FAIRSEQ}/hubert",
    )  # fmt: skip
    DEFAULT = LL60K


# --------------------------------------------------------------------------- builders
@register_model()
def wav2vec2_model(*, weights: Weights | None = None, progress: bool = True, **kwargs: Any) -> Wav2Vec2Model:
    """A wav2vec 2.0 / HuBERT model of any shape: every `Wav2Vec2Config` field is a keyword
    (the named variants below fix the published shapes).

    Args:
        weights: your own ``Weights`` of this shape (torchaudio's layout), or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `Wav2Vec2Config` fields: ``aux_num_out`` (a fresh CTC head of that size on
            pre-trained weights), dropouts, ``unpad``, ...

    Example::

        model = wav2vec2_model(encoder_num_layers=2, encoder_embed_dim=64, encoder_num_heads=4, aux_num_out=32)
    """
    return FAMILY.build("wav2vec2_model", own_weights("wav2vec2_model", weights), progress, kwargs)


@register_model()
def wav2vec2_base(
    *, weights: Wav2Vec2_Base_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> Wav2Vec2Model:
    """wav2vec 2.0 Base from [wav2vec 2.0: A Framework for Self-Supervised Learning of Speech Representations](https://arxiv.org/abs/2006.11477): 12 transformer layers of
    width 768 over a 7-layer convolutional feature extractor, 94.4 M parameters.

    Args:
        weights: `Wav2Vec2_Base_Weights`: ``LS960`` = ``DEFAULT`` (pre-trained on LibriSpeech
            960 h; an encoder) or ``ASR_LS960_10M`` / ``_100H`` / ``_960H`` (fine-tuned for English CTC),
            its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `Wav2Vec2Config` fields: ``aux_num_out`` (a fresh CTC head of that size on
            pre-trained weights), dropouts, ``unpad``, ...

    Example::

        weights = Wav2Vec2_Base_Weights.ASR_LS960_960H
        model = wav2vec2_base(weights=weights).eval()
        emissions, _ = model(*weights.transforms()("speech.wav"))  # [1, frames, 29] CTC logits
    """
    return FAMILY.build("wav2vec2_base", Wav2Vec2_Base_Weights.verify(weights), progress, kwargs)


@register_model()
def wav2vec2_large(
    *, weights: Wav2Vec2_Large_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> Wav2Vec2Model:
    """wav2vec 2.0 Large from [wav2vec 2.0: A Framework for Self-Supervised Learning of Speech Representations](https://arxiv.org/abs/2006.11477): 24 layers of width 1024,
    315 M parameters.

    Args:
        weights: `Wav2Vec2_Large_Weights` (``LS960`` = ``DEFAULT``, ``ASR_LS960_10M`` /
            ``_100H`` / ``_960H``), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `Wav2Vec2Config` fields: ``aux_num_out`` (a fresh CTC head of that size on
            pre-trained weights), dropouts, ``unpad``, ...

    Example::

        model = wav2vec2_large(weights="ASR_LS960_960H").eval()
    """
    return FAMILY.build("wav2vec2_large", Wav2Vec2_Large_Weights.verify(weights), progress, kwargs)


@register_model()
def wav2vec2_large_lv60k(
    *, weights: Wav2Vec2_Large_LV60K_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> Wav2Vec2Model:
    """wav2vec 2.0 Large (LV-60k) from [wav2vec 2.0: A Framework for Self-Supervised Learning of Speech Representations](https://arxiv.org/abs/2006.11477): the
    Large shape with a layer-norm feature extractor and pre-LN transformer, pre-trained on
    Libri-Light 60k h.

    Args:
        weights: `Wav2Vec2_Large_LV60K_Weights` (``LV60K`` = ``DEFAULT``, ``ASR_LV60K_10M`` /
            ``_100H`` / ``_960H``, ``XLSR53``: 53 languages), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `Wav2Vec2Config` fields: ``aux_num_out`` (a fresh CTC head of that size on
            pre-trained weights), dropouts, ``unpad``, ...

    Example::

        model = wav2vec2_large_lv60k(weights="XLSR53").eval()
    """
    return FAMILY.build(
        "wav2vec2_large_lv60k",
        Wav2Vec2_Large_LV60K_Weights.verify(weights),
        progress,
        kwargs,
    )


@register_model()
def hubert_base(
    *, weights: Hubert_Base_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> Wav2Vec2Model:
    """HuBERT Base from [HuBERT: Self-Supervised Speech Representation Learning by Masked Prediction of Hidden
    Units](https://arxiv.org/abs/2106.07447): the wav2vec 2.0 Base shape trained
    on masked prediction of clustered units, 94.4 M parameters.

    Args:
        weights: `Hubert_Base_Weights` (``LS960`` = ``DEFAULT``), its name, your own
            ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `Wav2Vec2Config` fields: ``aux_num_out`` (a fresh CTC head of that size on
            pre-trained weights), dropouts, ``unpad``, ...

    Example::

        model = hubert_base(weights="DEFAULT").eval()
    """
    return FAMILY.build("hubert_base", Hubert_Base_Weights.verify(weights), progress, kwargs)


@register_model()
def hubert_large(
    *, weights: Hubert_Large_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> Wav2Vec2Model:
    """HuBERT Large from [HuBERT: Self-Supervised Speech Representation Learning by Masked Prediction of Hidden
    Units](https://arxiv.org/abs/2106.07447): 24 pre-LN layers of width 1024,
    315 M parameters.

    Args:
        weights: `Hubert_Large_Weights` (``LL60K`` = ``DEFAULT``, ``ASR_LL60K_960H``), its
            name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `Wav2Vec2Config` fields: ``aux_num_out`` (a fresh CTC head of that size on
            pre-trained weights), dropouts, ``unpad``, ...

    Example::

        model = hubert_large(weights="ASR_LL60K_960H").eval()
    """
    return FAMILY.build("hubert_large", Hubert_Large_Weights.verify(weights), progress, kwargs)


@register_model()
def hubert_xlarge(
    *, weights: Hubert_XLarge_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> Wav2Vec2Model:
    """HuBERT X-Large from [HuBERT: Self-Supervised Speech Representation Learning by Masked Prediction of Hidden
    Units](https://arxiv.org/abs/2106.07447): 48 pre-LN layers of width 1280,
    962 M parameters.

    Args:
        weights: `Hubert_XLarge_Weights` (``LL60K`` = ``DEFAULT``, ``ASR_LL60K_960H``), its
            name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `Wav2Vec2Config` fields: ``aux_num_out`` (a fresh CTC head of that size on
            pre-trained weights), dropouts, ``unpad``, ...

    Example::

        model = hubert_xlarge(weights="DEFAULT").eval()
    """
    return FAMILY.build("hubert_xlarge", Hubert_XLarge_Weights.verify(weights), progress, kwargs)


def from_huggingface(directory: str | Path, **config: Any) -> Wav2Vec2Model:
    """A ``Wav2Vec2Model`` from a Hugging Face checkpoint directory (``config.json`` plus
    ``model.safetensors`` or ``pytorch_model.bin``, read with ``weights_only=True``). ``config``
    overrides training-only values such as dropouts."""
    directory = Path(directory)
    config_file = directory / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"{directory} has no config.json; expected a Hugging Face checkpoint directory")
    weights_file = next(
        (directory / n for n in ("model.safetensors", "pytorch_model.bin") if (directory / n).is_file()), None
    )
    if weights_file is None:
        raise FileNotFoundError(f"{directory} has neither model.safetensors nor pytorch_model.bin")
    names = [f.name for f in dataclasses.fields(Wav2Vec2Config)]
    if unknown := [k for k in config if k not in names]:
        raise UnknownKeywordError("from_huggingface (Wav2Vec2Config fields)", unknown, names)
    with config_fields(config_file):
        cfg = Wav2Vec2Config(**{**config_from_hf(read_json(config_file)), **config})
    converted = hf_to_torchaudio(read_checkpoint(weights_file))
    check_config(Wav2Vec2Model, cfg, converted, what=str(config_file))  # before anything is built at its size
    with init_empty():
        model = Wav2Vec2Model(cfg)
    load_weights(model, converted)
    return model
