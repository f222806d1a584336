"""CLIP (Radford et al., 2021, [Learning Transferable Visual Models From Natural Language
Supervision](https://arxiv.org/abs/2103.00020)) as core's `DualEncoder` of two towers from
separately released packages: torchgraft-vision's `VisionTransformer` with CLIP's switches (no
patch bias, a norm before the encoder, QuickGELU for OpenAI's weights), pooled at the class token,
and torchgraft-text's `CLIPTextTransformer`, pooled at the end-of-text token; each projected
without bias into one space and normalised, with a learned temperature. The towers are named
``image`` and ``text``; the state dict is ``towers.<name>.backbone.*`` / ``towers.<name>.proj.*``
/ ``logit_scale``.

open_clip's checkpoints (and OpenAI's, in open_clip's layout) load through
`open_clip_to_torchgraft`; `from_open_clip` builds the architecture a checkpoint's tensor shapes
say, as open_clip does for OpenAI's files.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from torchgraft.core import (
    Asset,
    CorruptCheckpointError,
    DualEncoder,
    Embedder,
    Weights,
    WeightsEnum,
    init_empty,
    load_weights,
    read_checkpoint,
    register_model,
)
from torchgraft.core.family import Family
from torchgraft.core.hub import HubFamily, hub_asset, hub_weights
from torchgraft.core.preflight import check_config, check_fields, config_fields, layer_count, read_json

__all__ = [
    "ARCHITECTURES",
    "CLIPConfig",
    "build_clip",
    "CLIP_ViT_B_16_Weights",
    "CLIP_ViT_B_32_Weights",
    "CLIP_ViT_L_14_Weights",
    "clip_vit_b16",
    "clip_vit_b32",
    "clip_vit_l14",
    "from_huggingface",
    "from_open_clip",
    "huggingface_to_torchgraft",
    "open_clip_to_torchgraft",
]


@dataclass(frozen=True)
class CLIPConfig:
    embed_dim: int = 512
    image_size: int = 224
    patch_size: int = 32
    vision_width: int = 768
    vision_layers: int = 12
    vision_heads: int = 12
    vision_mlp_ratio: float = 4.0
    context_length: int = 77
    vocab_size: int = 49408
    text_width: int = 512
    text_heads: int = 8
    text_layers: int = 12
    text_mlp_ratio: float = 4.0
    #: OpenAI's checkpoints use QuickGELU; LAION's (and open_clip's own models) GELU.
    quick_gelu: bool = False
    init_logit_scale: float = math.log(1 / 0.07)

    def __post_init__(self) -> None:
        check_fields(self, what=type(self).__name__)


def build_clip(cfg: CLIPConfig) -> DualEncoder:
    """The CLIP architecture ``cfg`` describes, as a dual encoder with towers ``image`` and ``text``."""
    from torchgraft.text.models import CLIPTextConfig, CLIPTextTransformer
    from torchgraft.vision.models import VisionTransformer, ViTConfig

    activation = "quick_gelu" if cfg.quick_gelu else "gelu"
    vision = ViTConfig(
        image_size=cfg.image_size,
        patch_size=cfg.patch_size,
        num_layers=cfg.vision_layers,
        num_heads=cfg.vision_heads,
        hidden_dim=cfg.vision_width,
        mlp_dim=int(cfg.vision_width * cfg.vision_mlp_ratio),
        patch_bias=False,
        pre_norm=True,
        activation=activation,
        layer_norm_eps=1e-5,
    )
    text = CLIPTextConfig(
        vocab_size=cfg.vocab_size,
        context_length=cfg.context_length,
        width=cfg.text_width,
        heads=cfg.text_heads,
        layers=cfg.text_layers,
        mlp_ratio=cfg.text_mlp_ratio,
        activation=activation,
    )
    towers = {
        "image": Embedder(VisionTransformer(vision, num_classes=0), pooling="first", embed_dim=cfg.embed_dim),
        "text": Embedder(CLIPTextTransformer(text), pooling="last", embed_dim=cfg.embed_dim),
    }
    model = DualEncoder(towers, init_logit_scale=cfg.init_logit_scale)
    model.cfg = cfg
    return model


# --------------------------------------------------------------------------- open_clip's layout
_IMAGE = "towers.image.backbone."
_TEXT = "towers.text.backbone."
_RENAMES = [
    (r"^visual\.conv1\.", _IMAGE + "conv_proj."),
    (r"^visual\.ln_pre\.", _IMAGE + "encoder.ln_pre."),
    (r"^visual\.ln_post\.", _IMAGE + "encoder.ln."),
    (
        r"^visual\.transformer\.resblocks\.(\d+)\.attn\.in_proj_",
        _IMAGE + r"encoder.layers.encoder_layer_\1.self_attention.in_proj_",
    ),
    (
        r"^visual\.transformer\.resblocks\.(\d+)\.attn\.out_proj\.",
        _IMAGE + r"encoder.layers.encoder_layer_\1.self_attention.out_proj.",
    ),
    (r"^visual\.transformer\.resblocks\.(\d+)\.ln_(1|2)\.", _IMAGE + r"encoder.layers.encoder_layer_\1.ln_\2."),
    (r"^visual\.transformer\.resblocks\.(\d+)\.mlp\.c_fc\.", _IMAGE + r"encoder.layers.encoder_layer_\1.mlp.0."),
    (r"^visual\.transformer\.resblocks\.(\d+)\.mlp\.c_proj\.", _IMAGE + r"encoder.layers.encoder_layer_\1.mlp.3."),
    (r"^token_embedding\.", _TEXT + "token_embedding."),
    (r"^transformer\.resblocks\.", _TEXT + "resblocks."),
    (r"^ln_final\.", _TEXT + "ln_final."),
]
#: Scalars OpenAI's files carry beside the tensors (the JIT archive's constants).
_DROPPED = ("input_resolution", "context_length", "vocab_size", "attn_mask")


def open_clip_to_torchgraft(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Maps an open_clip CLIP state dict (``visual.*``, ``transformer.*``, ``token_embedding``,
    ``text_projection``, ``logit_scale``; OpenAI's layout too) onto `build_clip`'s: the class and
    positional embeddings reshaped, the projections ``[width, embed]`` as linear weights
    ``[embed, width]`` (transposed views, no copy), ``logit_scale`` given its ``[1]`` shape."""
    out: dict[str, Tensor] = {}
    for key, tensor in state.items():
        if key in _DROPPED:
            continue
        if key == "visual.class_embedding":
            out[_IMAGE + "class_token"] = tensor.view(1, 1, -1)
        elif key == "visual.positional_embedding":
            out[_IMAGE + "encoder.pos_embedding"] = tensor.unsqueeze(0)
        elif key == "positional_embedding":
            out[_TEXT + "positional_embedding"] = tensor
        elif key == "visual.proj":
            out["towers.image.proj.weight"] = tensor.t()
        elif key == "text_projection":
            out["towers.text.proj.weight"] = tensor.t()
        elif key == "logit_scale":
            out["logit_scale"] = tensor.reshape(1)
        else:
            for pattern, repl in _RENAMES:
                new, n = re.subn(pattern, repl, key)
                if n:
                    out[new] = tensor
                    break
            else:
                out[key] = tensor  # left for the strict load to report
    return out


def from_open_clip(
    checkpoint: str | Path | dict[str, Tensor],
    config: Mapping[str, Any] | str | Path | None = None,
    *,
    quick_gelu: bool | None = None,
) -> DualEncoder:
    """A CLIP built from an open_clip (or OpenAI) checkpoint.

    ``config`` is open_clip's model config (a dict, or its JSON file: ``embed_dim``, ``vision_cfg``,
    ``text_cfg``, ``quick_gelu``), as ``open_clip.get_model_config("ViT-B-32")`` returns it: the
    heads and the activation come from it. Without one, the architecture is read from the tensors'
    shapes as OpenAI's own loader reads them (heads of width 64; a width that is no multiple of 64
    needs the config), and the activation, which no shape says, must be given: ``quick_gelu=True``
    for OpenAI's weights, ``False`` for LAION's and for open_clip's ``create_model`` defaults. The
    model never shares storage with a state dict passed in; files are read memory-mapped, pickles
    only with ``weights_only=True``."""
    given = isinstance(checkpoint, dict)
    state = {k: v.detach().clone() for k, v in checkpoint.items()} if given else read_checkpoint(checkpoint)
    missing = [
        k
        for k in ("visual.conv1.weight", "visual.positional_embedding", "text_projection", "ln_final.weight")
        if k not in state
    ]
    if missing:
        raise CorruptCheckpointError(
            f"not an open_clip CLIP checkpoint: it has no {missing} (expected open_clip's layout)"
        )
    what = str(checkpoint) if not given else "the open_clip state dict"
    if isinstance(config, (str, Path)):
        config = read_json(Path(config))
    vision_cfg = dict((config or {}).get("vision_cfg") or {})
    text_cfg = dict((config or {}).get("text_cfg") or {})
    if quick_gelu is None:
        if config is None:
            raise TypeError(
                "from_open_clip cannot tell QuickGELU from GELU from the weights: pass quick_gelu=True (OpenAI's "
                "checkpoints) or quick_gelu=False (LAION's, and open_clip's create_model defaults), or open_clip's "
                "model config as config="
            )
        quick_gelu = bool(config.get("quick_gelu", False))
    conv = state["visual.conv1.weight"]
    vision_width, patch = conv.shape[0], conv.shape[-1]
    grid = round((state["visual.positional_embedding"].shape[0] - 1) ** 0.5)
    text_width = state["ln_final.weight"].shape[0]
    head_width = int(vision_cfg.get("head_width", 64))
    text_heads = text_cfg.get("heads")
    for tower, width, fixed in (("vision", vision_width, "head_width" in vision_cfg), ("text", text_width, text_heads)):
        if not fixed and width % 64:
            raise ValueError(
                f"{what}: the {tower} width {width} is no multiple of 64, so its heads cannot be read from the "
                "shapes: pass open_clip's model config as config="
            )
    cfg = CLIPConfig(
        embed_dim=state["text_projection"].shape[1],
        image_size=patch * grid,
        patch_size=patch,
        vision_width=vision_width,
        vision_layers=layer_count(state, "visual.transformer.resblocks.", what=what),
        vision_heads=vision_width // head_width,
        vision_mlp_ratio=state["visual.transformer.resblocks.0.mlp.c_fc.weight"].shape[0] / vision_width,
        context_length=state["positional_embedding"].shape[0],
        vocab_size=state["token_embedding.weight"].shape[0],
        text_width=text_width,
        text_heads=int(text_heads) if text_heads else text_width // 64,
        text_layers=layer_count(state, "transformer.resblocks.", what=what),
        text_mlp_ratio=state["transformer.resblocks.0.mlp.c_fc.weight"].shape[0] / text_width,
        quick_gelu=quick_gelu,
    )
    converted = open_clip_to_torchgraft(state)
    check_config(build_clip, cfg, converted, what=what)  # before anything is built at its size
    with init_empty():
        model = build_clip(cfg)
    model.load_report = load_weights(model, converted)
    model.preprocessing = _open_clip_preprocessing(cfg, vision_cfg, text_cfg)
    return model


def _open_clip_preprocessing(
    cfg: CLIPConfig, vision_cfg: Mapping[str, Any], text_cfg: Mapping[str, Any]
) -> CLIPTransforms:
    """open_clip's preprocessing for a model of its config (``image_mean``, ``image_std`` and
    ``interpolation`` in ``vision_cfg``, OpenAI's by default; CLIP's tokenizer unless the text
    config names another, or the vocabulary is not CLIP's 49,408 tokens)."""
    clip_tokenizer = not text_cfg.get("hf_tokenizer_name") and cfg.vocab_size == 49408
    return CLIPTransforms(
        tuple(vision_cfg.get("image_mean", CLIP_MEAN)),
        tuple(vision_cfg.get("image_std", CLIP_STD)),
        TOKENIZER if clip_tokenizer else None,
        size=cfg.image_size,
        max_length=cfg.context_length,
        interpolation=str(vision_cfg.get("interpolation", "bicubic")),
    )


# --------------------------------------------------------------------------- Hugging Face's layout
_HF_LAYER = re.compile(r"^(vision|text)_model\.encoder\.layers\.(\d+)\.(.+)$")
_HF_QKV = re.compile(r"^self_attn\.(q|k|v)_proj\.(weight|bias)$")


def _hf_layer_key(tower: str, index: str, rest: str) -> str:
    """One transformer-layer key of transformers' CLIP in the tower's own layout."""
    if tower == "vision":
        block = f"{_IMAGE}encoder.layers.encoder_layer_{index}."
        names = {"self_attn.out_proj.": "self_attention.out_proj.", "layer_norm1.": "ln_1.", "layer_norm2.": "ln_2.",
                 "mlp.fc1.": "mlp.0.", "mlp.fc2.": "mlp.3."}  # fmt: skip
    else:
        block = f"{_TEXT}resblocks.{index}."
        names = {"self_attn.out_proj.": "attn.out_proj.", "layer_norm1.": "ln_1.", "layer_norm2.": "ln_2.",
                 "mlp.fc1.": "mlp.c_fc.", "mlp.fc2.": "mlp.c_proj."}  # fmt: skip
    for theirs, ours in names.items():
        if rest.startswith(theirs):
            return block + ours + rest[len(theirs) :]
    return f"{tower}_model.encoder.layers.{index}.{rest}"  # left for the strict load to report


def huggingface_to_torchgraft(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Maps transformers' ``CLIPModel`` state dict onto `build_clip`'s: query/key/value fused into one
    projection per layer, the class and positional embeddings reshaped, ``logit_scale`` given its
    ``[1]`` shape (the projections are already linear layers without bias)."""
    out: dict[str, Tensor] = {}
    qkv: dict[tuple[str, str, str], dict[str, Tensor]] = {}
    simple = {
        "vision_model.embeddings.patch_embedding.weight": _IMAGE + "conv_proj.weight",
        "vision_model.pre_layrnorm.weight": _IMAGE + "encoder.ln_pre.weight",
        "vision_model.pre_layrnorm.bias": _IMAGE + "encoder.ln_pre.bias",
        "vision_model.post_layernorm.weight": _IMAGE + "encoder.ln.weight",
        "vision_model.post_layernorm.bias": _IMAGE + "encoder.ln.bias",
        "visual_projection.weight": "towers.image.proj.weight",
        "text_model.embeddings.token_embedding.weight": _TEXT + "token_embedding.weight",
        "text_model.embeddings.position_embedding.weight": _TEXT + "positional_embedding",
        "text_model.final_layer_norm.weight": _TEXT + "ln_final.weight",
        "text_model.final_layer_norm.bias": _TEXT + "ln_final.bias",
        "text_projection.weight": "towers.text.proj.weight",
    }
    for key, tensor in state.items():
        if key.endswith("position_ids"):
            continue
        if key in simple:
            out[simple[key]] = tensor
        elif key == "vision_model.embeddings.class_embedding":
            out[_IMAGE + "class_token"] = tensor.view(1, 1, -1)
        elif key == "vision_model.embeddings.position_embedding.weight":
            out[_IMAGE + "encoder.pos_embedding"] = tensor.unsqueeze(0)
        elif key == "logit_scale":
            out["logit_scale"] = tensor.reshape(1)
        elif (m := _HF_LAYER.match(key)) and (q := _HF_QKV.match(m.group(3))):
            qkv.setdefault((m.group(1), m.group(2), q.group(2)), {})[q.group(1)] = tensor
        elif m:
            out[_hf_layer_key(*m.groups())] = tensor
        else:
            out[key] = tensor
    for (tower, index, kind), parts in qkv.items():
        block = (
            f"{_IMAGE}encoder.layers.encoder_layer_{index}.self_attention."
            if tower == "vision"
            else f"{_TEXT}resblocks.{index}.attn."
        )
        out[f"{block}in_proj_{kind}"] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return out


def from_huggingface(directory: str | Path) -> DualEncoder:
    """A CLIP from a directory transformers' ``CLIPModel.save_pretrained`` writes (``config.json``
    with ``model_type: clip``, and ``model.safetensors`` or a weights-only ``pytorch_model.bin``),
    its architecture and activation read from the config."""
    directory = Path(directory)
    config_file = directory / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"{directory} has no config.json; expected a transformers CLIP checkpoint directory")
    hf = read_json(config_file)
    with config_fields(config_file):
        if hf.get("model_type") != "clip":
            raise ValueError(f"{config_file}: model_type {hf.get('model_type')!r} is not 'clip'")
        vision, text = hf["vision_config"], hf["text_config"]
        acts = {vision.get("hidden_act", "quick_gelu"), text.get("hidden_act", "quick_gelu")}
        if len(acts) != 1 or not acts <= {"quick_gelu", "gelu"}:
            raise ValueError(
                f"{config_file}: expected one activation, quick_gelu or gelu, for both towers; found {sorted(acts)}"
            )
        for name, sub in (("vision_config", vision), ("text_config", text)):
            if sub["hidden_size"] % sub["num_attention_heads"]:
                raise ValueError(f"{config_file}: {name} hidden_size is not divisible by num_attention_heads")
        cfg = CLIPConfig(
            embed_dim=hf.get("projection_dim", 512),
            image_size=vision["image_size"],
            patch_size=vision["patch_size"],
            vision_width=vision["hidden_size"],
            vision_layers=vision["num_hidden_layers"],
            vision_heads=vision["num_attention_heads"],
            vision_mlp_ratio=vision["intermediate_size"] / vision["hidden_size"],
            context_length=text.get("max_position_embeddings", 77),
            vocab_size=text["vocab_size"],
            text_width=text["hidden_size"],
            text_heads=text["num_attention_heads"],
            text_layers=text["num_hidden_layers"],
            text_mlp_ratio=text["intermediate_size"] / text["hidden_size"],
            quick_gelu=acts == {"quick_gelu"},
        )
    weights = next(
        (directory / n for n in ("model.safetensors", "pytorch_model.bin") if (directory / n).is_file()), None
    )
    if weights is None:
        raise FileNotFoundError(f"{directory} has neither model.safetensors nor pytorch_model.bin")
    converted = huggingface_to_torchgraft(read_checkpoint(weights))
    check_config(build_clip, cfg, converted, what=str(config_file))  # before anything is built at its size
    with init_empty():
        model = build_clip(cfg)
    model.load_report = load_weights(model, converted)
    return model


# --------------------------------------------------------------------------- architectures
VARIANTS: dict[str, CLIPConfig] = {
    "clip_vit_b32": CLIPConfig(),
    "clip_vit_b16": CLIPConfig(patch_size=16),
    "clip_vit_l14": CLIPConfig(
        embed_dim=768,
        patch_size=14,
        vision_width=1024,
        vision_layers=24,
        vision_heads=16,
        text_width=768,
        text_heads=12,
    ),
}
#: The name of ``VARIANTS`` before 0.1, kept as an alias.
ARCHITECTURES = VARIANTS
#: The family: a CLIP `DualEncoder` over one ``CLIPConfig`` per variant; your own checkpoints in
#: open_clip's layout.
FAMILY = Family(build_clip, CLIPConfig, VARIANTS, adapter=open_clip_to_torchgraft)


def _with_preprocessing(model: DualEncoder, weights: Weights | WeightsEnum | None) -> DualEncoder:
    if weights is not None and weights.transforms is not None:
        model.preprocessing = weights  # one entry for both towers: its transforms give both
    return model


# --------------------------------------------------------------------------- weights
#: CLIP's byte-level BPE (49,408 tokens, lower-cased), the same for every checkpoint here.
TOKENIZER = hub_asset("openai/clip-vit-base-patch32", "tokenizer.json")
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
INCEPTION_MEAN = INCEPTION_STD = (0.5, 0.5, 0.5)
#: The short prompt ensemble OpenAI published with CLIP's ImageNet evaluation (``{}``: the class name).
PROMPT_TEMPLATES = (
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
)
_OPENAI_PAPER = "https://arxiv.org/abs/2103.00020"
_LAION_PAPER = "https://arxiv.org/abs/2212.07143"


class CLIPTransforms:
    """A CLIP entry's preprocessing for both towers: ``{"image": resize (bicubic) and center-crop
    to ``size`` (224), normalise; "text": CLIP's tokenizer, ``max_length`` (77) tokens}`` (the
    tokenizer fetched and verified through the store on first use; ``None`` for a model whose
    tokenizer is not CLIP's: ``"text"`` is then ``None``)."""

    def __init__(
        self,
        mean: tuple[float, float, float],
        std: tuple[float, float, float],
        tokenizer: Asset | None = TOKENIZER,
        *,
        size: int = 224,
        max_length: int = 77,
        interpolation: str = "bicubic",
    ) -> None:
        self.mean, self.std, self.tokenizer = mean, std, tokenizer
        self.size, self.max_length, self.interpolation = size, max_length, interpolation

    def transforms(self) -> dict[str, Any]:
        """Both towers' preprocessing (what a `DualEncoder`'s ``transforms()`` reads)."""
        return self()

    @classmethod
    def factory(cls, mean: tuple[float, float, float], std: tuple[float, float, float]) -> Any:
        """A `HubFamily`'s ``transforms``: this preprocessing over the entry's tokenizer asset."""
        return lambda assets: cls(mean, std, assets["tokenizer.json"])

    def image(self) -> Any:
        """The image tower's preprocessing alone: it needs no download, so inputs can be decoded
        and checked before anything is fetched."""
        from torchgraft.vision.transforms import ImageClassification

        return ImageClassification(
            crop_size=self.size,
            resize_size=self.size,
            mean=self.mean,
            std=self.std,
            interpolation=self.interpolation,
        )

    def __call__(self) -> dict[str, Any]:
        from torchgraft.text.transforms import TokenizerFromAsset

        image = self.image()
        if self.tokenizer is None:
            return {"image": image, "text": None}
        # CLIP's tokenizer file names no pad token; it pads with its end-of-text token, as transformers'
        # CLIP tokenizer does (the attention mask keeps the padding out of the pooling).
        text = TokenizerFromAsset(
            self.tokenizer, max_length=self.max_length, with_token_types=False, pad_token="<|endoftext|>"
        )
        return {"image": image, "text": text()}


def _preprocessing(mean: tuple[float, float, float], std: tuple[float, float, float]) -> dict[str, Any]:
    return {"resize": 224, "crop": 224, "interpolation": "bicubic", "mean": mean, "std": std}


#: An open_clip checkpoint on the Hub (``open_clip_model.safetensors``, open_clip's layout) trained
#: by OpenAI on WIT, with QuickGELU.
OPENAI_HUB = HubFamily(
    adapter=open_clip_to_torchgraft,
    filename="open_clip_model.safetensors",
    assets={"tokenizer.json": TOKENIZER},
    transforms=CLIPTransforms.factory(CLIP_MEAN, CLIP_STD),
    meta={
        "license": "MIT",
        "recipe": _OPENAI_PAPER,
        "training_data": "WIT: 400 M image-text pairs collected by OpenAI",
        "config": {"quick_gelu": True},
        "preprocessing": _preprocessing(CLIP_MEAN, CLIP_STD),
        "prompt_templates": PROMPT_TEMPLATES,
        "max_length": 77,
    },
)
#: LAION's reproductions on LAION-2B, with GELU.
LAION_HUB = replace(OPENAI_HUB, meta={**OPENAI_HUB.meta, "recipe": _LAION_PAPER, "config": {"quick_gelu": False}})
#: LAION's, normalised with Inception's mean and std.
LAION_INCEPTION_HUB = replace(
    LAION_HUB,
    transforms=CLIPTransforms.factory(INCEPTION_MEAN, INCEPTION_STD),
    meta={**LAION_HUB.meta, "preprocessing": _preprocessing(INCEPTION_MEAN, INCEPTION_STD)},
)


def _zero_shot(top1: float) -> dict[str, Any]:
    return {"ImageNet-1K zero-shot (open_clip's benchmark)": {"acc@1": top1}}


class CLIP_ViT_B_32_Weights(WeightsEnum):
    OPENAI = hub_weights(
        "timm/vit_base_patch32_clip_224.openai",
        OPENAI_HUB,
        num_params=151277313,
        metrics=_zero_shot(63.32),
    )
    LAION2B_S34B_B79K = hub_weights(
        "laion/CLIP-ViT-B-32-laion2B-s34B-b79K",
        LAION_HUB,
        num_params=151277313,
        metrics=_zero_shot(66.56),
        training_data="LAION-2B (English), 34 B samples seen, batch 79 K",
    )
    DEFAULT = LAION2B_S34B_B79K


class CLIP_ViT_B_16_Weights(WeightsEnum):
    OPENAI = hub_weights(
        "timm/vit_base_patch16_clip_224.openai",
        OPENAI_HUB,
        num_params=149620737,
        metrics=_zero_shot(68.34),
    )
    LAION2B_S34B_B88K = hub_weights(
        "laion/CLIP-ViT-B-16-laion2B-s34B-b88K",
        LAION_HUB,
        num_params=149620737,
        metrics=_zero_shot(70.23),
        training_data="LAION-2B (English), 34 B samples seen, batch 88 K",
    )
    DEFAULT = LAION2B_S34B_B88K


class CLIP_ViT_L_14_Weights(WeightsEnum):
    OPENAI = hub_weights(
        "timm/vit_large_patch14_clip_224.openai",
        OPENAI_HUB,
        num_params=427616513,
        metrics=_zero_shot(75.54),
    )
    LAION2B_S32B_B82K = hub_weights(
        "laion/CLIP-ViT-L-14-laion2B-s32B-b82K",
        LAION_INCEPTION_HUB,
        num_params=427616513,
        metrics=_zero_shot(75.25),
        training_data="LAION-2B (English), 32 B samples seen, batch 82 K",
    )
    DEFAULT = OPENAI


# --------------------------------------------------------------------------- builders
@register_model()
def clip_vit_b32(
    *, weights: CLIP_ViT_B_32_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> DualEncoder:
    """CLIP ViT-B/32 from [Learning Transferable Visual Models From Natural Language Supervision](https://arxiv.org/abs/2103.00020):
    a ViT-B/32 image tower (224 px) and a 12-layer, 512-wide text tower, embedding into 512
    dimensions; 151.3 M parameters.

    Args:
        weights: `CLIP_ViT_B_32_Weights` (``LAION2B_S34B_B79K`` = ``DEFAULT``, ``OPENAI``): open_clip's
            checkpoints with their preprocessing for both towers (``model.transforms()``) and
            prompt templates; its name, your own ``Weights`` in open_clip's layout, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `CLIPConfig` fields (``quick_gelu=True`` for OpenAI's weights, ...).

    Example::

        model = clip_vit_b32(weights="DEFAULT").eval()
        prepare = model.transforms()
        out = model({"image": prepare["image"](photos), "text": prepare["text"](["a cat", "a dog"])})
        probs = out["logits"].softmax(-1)  # [B_image, 2]
    """
    weights = CLIP_ViT_B_32_Weights.verify(weights)
    return _with_preprocessing(FAMILY.build("clip_vit_b32", weights, progress, kwargs), weights)


@register_model()
def clip_vit_b16(
    *, weights: CLIP_ViT_B_16_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> DualEncoder:
    """CLIP ViT-B/16 from [Learning Transferable Visual Models From Natural Language Supervision](https://arxiv.org/abs/2103.00020):
    a ViT-B/16 image tower (224 px) and a 12-layer, 512-wide text tower, embedding into 512
    dimensions; 149.6 M parameters.

    Args:
        weights: `CLIP_ViT_B_16_Weights` (``LAION2B_S34B_B88K`` = ``DEFAULT``, ``OPENAI``), its name, your own ``Weights`` in
            open_clip's layout, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `CLIPConfig` fields (``quick_gelu=True`` for OpenAI's weights, ...).

    Example::

        model = clip_vit_b16(weights="DEFAULT").eval()
        out = model({"image": images, "text": tokens})
    """
    weights = CLIP_ViT_B_16_Weights.verify(weights)
    return _with_preprocessing(FAMILY.build("clip_vit_b16", weights, progress, kwargs), weights)


@register_model()
def clip_vit_l14(
    *, weights: CLIP_ViT_L_14_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> DualEncoder:
    """CLIP ViT-L/14 from [Learning Transferable Visual Models From Natural Language Supervision](https://arxiv.org/abs/2103.00020):
    a ViT-L/14 image tower (224 px) and a 12-layer, 768-wide text tower, embedding into 768
    dimensions; 427.6 M parameters.

    Args:
        weights: `CLIP_ViT_L_14_Weights` (``OPENAI`` = ``DEFAULT``, ``LAION2B_S32B_B82K``), its name, your own ``Weights`` in
            open_clip's layout, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `CLIPConfig` fields (``quick_gelu=True`` for OpenAI's weights, ...).

    Example::

        model = clip_vit_l14(weights="DEFAULT").eval()
        out = model({"image": images, "text": tokens})
    """
    weights = CLIP_ViT_L_14_Weights.verify(weights)
    return _with_preprocessing(FAMILY.build("clip_vit_l14", weights, progress, kwargs), weights)
