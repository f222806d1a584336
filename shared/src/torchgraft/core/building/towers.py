"""Cross-domain composition: one embedding per input from any backbone, and models of several.

* `Embedder`: any backbone pooled to ``[B, D]`` through its ``feature_spec`` (the pooling
  ``classifier()`` uses), optionally projected and L2-normalised. It is a backbone itself
  (``pooled`` features), so any head composes onto it.
* `dual_encoder`: two towers from any two domains embedded into one space, CLIP-style, with a
  learned temperature (and SigLIP's bias); `contrastive_loss` trains it, across ranks too.
* `zero_shot_classifier`: a head of averaged prompt embeddings, so ``compose(image_tower, head)``
  classifies by text.
* `fuse`: late fusion of several encoders under one head, with a policy for missing inputs.

State dicts are namespaced ``towers.<name>.backbone.*``, so each tower's published weights load by
prefix (``load_weights(model, weights, prefix="towers.image.backbone.")``), and one
`LoadReport` names the checkpoint of every tensor. No parameter is 0-D (``logit_scale`` is
``[1]``), so FSDP2 can shard every one. This module imports no domain.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..contracts.errors import IncompatibleHeadError, TorchgraftError, warn_deprecated
from ..contracts.features import Features, FeatureSpec, check_backbone, checked_features, shard_units
from ..contracts.heads import Pool, poolings_for
from .builders import build_model
from .export import export
from .parts import Part
from .registry import LEGACY_REMOVED_IN

__all__ = [
    "export_towers",
    "DualEncoder",
    "Embedder",
    "Fusion",
    "MissingInputError",
    "ZeroShotHead",
    "contrastive_loss",
    "dual_encoder",
    "fuse",
    "zero_shot_classifier",
]

PROJECTIONS = ("linear", "mlp", None)
FUSIONS = ("concat", "sum", "attention")
MISSING = ("error", "zeros", "learned")


class MissingInputError(TorchgraftError, KeyError):
    """A fused model was called without one of its inputs under ``missing="error"``."""


def _call(module: Callable[..., Any], inputs: Any) -> Any:
    """A tower's inputs: keyword arguments (a tokenizer's dict), a tuple of positional ones, or one tensor."""
    if isinstance(inputs, Mapping):
        return module(**inputs)
    if isinstance(inputs, tuple):
        return module(*inputs)
    return module(inputs)


class Embedder(nn.Module):
    """Any backbone as ``[B, D]`` embeddings: pooled through its ``feature_spec`` (``pooling=None``:
    the kind's default, as ``classifier()``), projected to ``embed_dim`` (``proj="linear"``, no
    bias, as CLIP; ``"mlp"``; ``None``) and L2-normalised (``normalize``). The backbone's own
    classifier is removed. A `Composite` with a parameter-free head (a sentence model) gives its
    backbone."""

    def __init__(
        self,
        backbone: nn.Module,
        *,
        pooling: str | None = None,
        embed_dim: int | None = None,
        proj: str | None = "linear",
        normalize: bool = True,
    ) -> None:
        super().__init__()
        backbone = Part(backbone).build().module  # a sentence model gives its backbone
        spec = check_backbone(backbone)
        mode = pooling or poolings_for(spec)[0]
        if mode not in poolings_for(spec):
            raise IncompatibleHeadError(
                f"Embedder(pooling={mode!r}) cannot read {type(backbone).__name__}, whose features are "
                f"{'causal ' if spec.causal else ''}{spec.kind}: expected pooling in {poolings_for(spec)}"
            )
        if proj not in PROJECTIONS:
            raise ValueError(f"proj must be one of {PROJECTIONS}; found {proj!r}")
        if callable(getattr(backbone, "reset_classifier", None)) and getattr(backbone, "num_classes", 0):
            backbone.reset_classifier(0)
        width = spec.pooled_width if mode == "pooled" else spec.width
        self.backbone = backbone
        self.pool = Pool(mode)
        self.normalize = normalize
        if embed_dim is None or proj is None:
            if embed_dim not in (None, width):
                raise ValueError(f"proj=None keeps the backbone's width {width}; found embed_dim={embed_dim}")
            self.proj: nn.Module = nn.Identity()
            embed_dim = width
        elif proj == "linear":
            self.proj = nn.Linear(width, embed_dim, bias=False)
        else:
            self.proj = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, embed_dim))
        self.feature_spec = FeatureSpec(kind="pooled", width=embed_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The projection only (the backbone keeps its weights): normal with std ``width ** -0.5``."""
        for m in self.proj.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=m.in_features**-0.5)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def shard_units(self) -> list[nn.Module]:
        return shard_units(self, self.backbone)

    def forward_features(self, *args: Any, **kwargs: Any) -> Features:
        return Features(last=self(*args, **kwargs))

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        """``[B, embed_dim]``."""
        return self.embed(*args, normalize=self.normalize, **kwargs)

    def embed(self, *args: Any, normalize: bool, **kwargs: Any) -> Tensor:
        """``[B, embed_dim]``, L2-normalised or not as asked (the backbone's inputs as ``forward``'s)."""
        features = checked_features(self.backbone, self.backbone.forward_features(*args, **kwargs))
        x = self.proj(self.pool(features))
        return F.normalize(x, dim=-1) if normalize else x


class DualEncoder(nn.Module):
    """Two towers (`Embedder`) in one space. ``encode(name, inputs)`` embeds one tower's inputs;
    ``forward({name: inputs, ...})`` returns each given tower's embeddings, and with both
    ``"logits"`` ``[B_a, B_b]`` (``logit_scale.exp() * a @ b.T`` plus ``logit_bias``) and the
    ``"logit_scale"`` / ``"logit_bias"`` that `contrastive_loss` takes."""

    def __init__(
        self,
        towers: Mapping[str, Embedder],
        *,
        init_logit_scale: float = math.log(1 / 0.07),
        logit_bias: float | None = None,
    ) -> None:
        super().__init__()
        if len(towers) != 2:
            raise ValueError(f"a dual encoder has two towers; found {len(towers)}: {list(towers)}")
        widths = {name: t.feature_spec.width for name, t in towers.items()}
        if len(set(widths.values())) != 1:
            raise IncompatibleHeadError(f"the towers embed to different widths {widths}: give embed_dim=")
        self.names: tuple[str, str] = tuple(towers)  # type: ignore[assignment]
        self.towers = nn.ModuleDict(towers)
        self.init_logit_scale, self.init_logit_bias = init_logit_scale, logit_bias
        self.logit_scale = nn.Parameter(torch.full((1,), float(init_logit_scale)))
        self.logit_bias = nn.Parameter(torch.full((1,), float(logit_bias))) if logit_bias is not None else None
        #: Each tower's weights entry, where it was built from one: its transforms are the tower's
        #: (or one entry whose transforms give every tower's).
        self.preprocessing: Any = {}
        self.frozen: tuple[str, ...] = ()

    def freeze(self, *names: str) -> DualEncoder:
        """Stops the named towers' backbones from training: no gradients, and held in eval mode
        (normalisation statistics stay as loaded) whatever ``train()`` says. Their projections train."""
        unknown = [n for n in names if n not in self.towers]
        if unknown:
            raise ValueError(f"freeze names towers {unknown}, but the towers are {list(self.names)}")
        for name in names:
            for p in self.towers[name].backbone.parameters():
                p.requires_grad_(False)
        self.frozen = tuple(dict.fromkeys((*self.frozen, *names)))
        return self.train(self.training)

    def train(self, mode: bool = True) -> DualEncoder:
        super().train(mode)
        for name in self.frozen:
            self.towers[name].backbone.eval()
        return self

    def reset_parameters(self) -> None:
        nn.init.constant_(self.logit_scale, self.init_logit_scale)
        if self.logit_bias is not None:
            nn.init.constant_(self.logit_bias, self.init_logit_bias)

    def transforms(self) -> dict[str, Any]:
        """Each tower's preprocessing (from its weights entry; ``None`` for a tower given as a module),
        or, for a model built from one entry for both towers (CLIP), that entry's."""
        if not isinstance(self.preprocessing, Mapping):
            return dict(self.preprocessing.transforms())
        return {
            name: (entry.transforms() if getattr(entry, "transforms", None) is not None else None)
            for name, entry in self.preprocessing.items()
        }

    def encode(self, name: str, inputs: Any) -> Tensor:
        if name not in self.towers:
            raise KeyError(f"this dual encoder's towers are {list(self.names)}; found {name!r}")
        return _call(self.towers[name], inputs)

    def encode_image(self, inputs: Any, normalize: bool = False) -> Tensor:
        """open_clip's ``encode_image``: the ``image`` tower's embeddings, L2-normalised only with
        ``normalize=True`` (open_clip's default is ``False``; ``encode("image", x)`` is always normalised
        when the tower normalises)."""
        return self._encode_named("image", inputs, normalize)

    def encode_text(self, inputs: Any, normalize: bool = False) -> Tensor:
        """open_clip's ``encode_text``: the ``text`` tower's embeddings (normalised only with
        ``normalize=True``, as open_clip); ``inputs`` is token ids ``[B, T]`` or the tokenizer's dict."""
        return self._encode_named("text", inputs, normalize)

    def _encode_named(self, name: str, inputs: Any, normalize: bool) -> Tensor:
        if name not in self.towers:
            raise KeyError(f"encode_{name} needs a tower named {name!r}; this dual encoder's are {list(self.names)}")
        tower = self.towers[name]
        if normalize or not isinstance(tower, Embedder):
            return self.encode(name, inputs)
        return _call(partial(tower.embed, normalize=False), inputs)

    def shard_units(self) -> list[nn.Module]:
        return shard_units(self, *self.towers.values())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """``forward({name: inputs, ...})``: each given tower's embeddings, and with both the
        ``logits`` and ``logit_scale`` (and ``logit_bias``). ``forward(a_inputs, b_inputs)``, as
        open_clip's ``model(image, text)``: the tuple ``(a_embeddings, b_embeddings, logit_scale)``
        with the scale already exponentiated, as open_clip returns it."""
        if len(args) == 2 and not kwargs:
            out = self._forward(dict(zip(self.names, args, strict=True)))
            return out[self.names[0]], out[self.names[1]], out["logit_scale"]
        if len(args) == 1 and not kwargs and isinstance(args[0], Mapping):
            return self._forward(args[0])
        if not args and kwargs:
            return self._forward(kwargs)
        raise TypeError(
            f"call a dual encoder with {{name: inputs}} for the towers {list(self.names)}, or with both towers' "
            f"inputs in order (model(image, text), as open_clip); found {len(args)} positional and {sorted(kwargs)}"
        )

    def _forward(self, inputs: Mapping[str, Any]) -> dict[str, Tensor]:
        unknown = [k for k in inputs if k not in self.towers]
        if unknown or not inputs:
            raise KeyError(f"expected inputs for the towers {list(self.names)}; found {list(inputs)}")
        out = {name: self.encode(name, x) for name, x in inputs.items()}
        if len(out) == 2:
            a, b = (out[n] for n in self.names)
            scale = self.logit_scale.exp()
            logits = scale * a @ b.T
            if self.logit_bias is not None:
                logits = logits + self.logit_bias
                out["logit_bias"] = self.logit_bias
            out.update(logits=logits, logit_scale=scale)
        return out


def dual_encoder(
    a: nn.Module | str,
    b: nn.Module | str,
    *,
    embed_dim: int,
    names: tuple[str, str] = ("image", "text"),
    a_weights: Any = None,
    b_weights: Any = None,
    a_config: Mapping[str, Any] | None = None,
    b_config: Mapping[str, Any] | None = None,
    pooling: Mapping[str, str] | None = None,
    proj: str | None = "linear",
    freeze: Sequence[str] = (),
    init_logit_scale: float = math.log(1 / 0.07),
    logit_bias: float | None = None,
) -> DualEncoder:
    """A CLIP-style dual encoder over any two backbones, of any two domains: each is a registered
    name (built with ``a_weights`` / ``a_config``) or a module, pooled, projected to ``embed_dim``
    and normalised. ``freeze`` names the towers whose backbones do not train (held in eval mode,
    no gradients; their projections train). ``logit_bias`` (SigLIP: ``-10.0``) adds a learned bias to the logits. The model's
    ``load_report`` says which checkpoint every tensor came from and which are fresh."""
    if len(names) != 2 or names[0] == names[1]:
        raise ValueError(f"names must be two different tower names; found {names!r}")
    parts = {"a": Part.of("a", a, a_weights, a_config), "b": Part.of("b", b, b_weights, b_config)}

    def factory(a: nn.Module, b: nn.Module) -> DualEncoder:
        towers = {
            name: Embedder(model, pooling=(pooling or {}).get(name), embed_dim=embed_dim, proj=proj)
            for name, model in zip(names, (a, b), strict=True)
        }
        return DualEncoder(towers, init_logit_scale=init_logit_scale, logit_bias=logit_bias)

    model = build_model(factory, weights=None, parts=parts)
    model.preprocessing = {name: part.entry() for name, part in zip(names, parts.values(), strict=True)}
    model.freeze(*freeze)
    return model


def contrastive_loss(
    a: Tensor,
    b: Tensor,
    logit_scale: Tensor,
    logit_bias: Tensor | None = None,
    *,
    gather: bool = False,
    group: Any = None,
) -> Tensor:
    """CLIP's symmetric InfoNCE loss on normalised embeddings ``a``, ``b`` ``[B, D]`` (row ``i`` of
    each is a pair); with ``logit_bias``, SigLIP's pairwise sigmoid loss. ``logit_scale`` is the
    multiplier (``exp`` of the learned log-scale, as `DualEncoder` returns it). ``gather=True``
    all-gathers both sides across the ranks of ``torch.distributed`` with gradients, so every rank
    scores its rows against the whole global batch. ``group`` is the process group to gather over
    (default: every rank), as in `torchgraft.core.distributed`."""
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(f"expected paired embeddings of one shape [B, D]; found {list(a.shape)} and {list(b.shape)}")
    rank, others_a, others_b = 0, a, b
    if gather:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size(group) > 1:
            rank = dist.get_rank(group)
            others_a, others_b = _gathered(a, group), _gathered(b, group)  # [B * world, D]
    rows = torch.arange(a.shape[0], device=a.device) + rank * a.shape[0]  # each row's partner among all
    logits_ab = logit_scale * a @ others_b.T  # [B, B_global]
    if logit_bias is not None:
        logits_ab = logits_ab + logit_bias
        labels = -torch.ones_like(logits_ab)
        labels[torch.arange(a.shape[0]), rows] = 1.0
        return -F.logsigmoid(labels * logits_ab).sum() / a.shape[0]
    logits_ba = logit_scale * b @ others_a.T
    return (F.cross_entropy(logits_ab, rows) + F.cross_entropy(logits_ba, rows)) / 2


def _gathered(x: Tensor, group: Any = None) -> Tensor:
    """Every rank's ``x`` stacked in rank order, differentiable (the backward sums each rank's
    gradient for this rank's rows into them)."""
    from torch.distributed import _functional_collectives as collectives
    from torch.distributed import group as groups

    gather = getattr(collectives, "all_gather_single_autograd", None) or collectives.all_gather_tensor_autograd
    return gather(x.contiguous(), gather_dim=0, group=group if group is not None else groups.WORLD)


class ZeroShotHead(nn.Module):
    """Classifies embeddings by class vectors ``weight`` ``[C, D]`` (prompt embeddings averaged
    and renormalised): ``logit_scale * normalize(x) @ weight.T``. A fixed buffer, no parameters."""

    def __init__(self, weight: Tensor, logit_scale: float = 100.0) -> None:
        super().__init__()
        self.register_buffer("weight", weight.detach().clone())
        self.logit_scale = logit_scale

    def check(self, spec: FeatureSpec, backbone_name: str = "backbone") -> None:
        if spec.kind != "pooled" or spec.width != self.weight.shape[1]:
            raise IncompatibleHeadError(
                f"ZeroShotHead reads [B, {self.weight.shape[1]}] embeddings; {backbone_name} gives {spec.kind} of width {spec.width}"
            )

    def forward(self, features: Features) -> Tensor:
        return self.logit_scale * F.normalize(features.last, dim=-1) @ self.weight.T


def zero_shot_classifier(
    model: DualEncoder,
    classnames: Sequence[str],
    templates: Sequence[str | Callable[[str], str]],
    *,
    tokenize: Callable[[list[str]], Any] | None = None,
    text: str = "text",
    logit_scale: float | None = None,
    progress: bool = False,
) -> ZeroShotHead:
    """The zero-shot head of ``classnames``: each class's prompts (``templates``, format strings
    with ``{}`` or callables) embedded by the ``text`` tower, averaged and renormalised, as
    open_clip's ``build_zero_shot_classifier``. ``compose(model.towers["image"], head)`` is then a
    classifier. ``logit_scale`` defaults to the model's learned one. ``progress`` shows a bar over
    the classes (tqdm, on stderr): a thousand classes of 80 prompts take minutes on a CPU."""
    if not classnames or not templates:
        raise ValueError("a zero-shot classifier needs at least one class name and one template")
    tokenize = tokenize or model.transforms().get(text)
    if tokenize is None:
        raise ValueError(f"the {text!r} tower has no preprocessing of its own: pass tokenize=")
    rows = []
    with torch.no_grad():
        names: Any = classnames
        if progress:
            from tqdm.auto import tqdm

            names = tqdm(classnames, desc="class prompts", unit="class", leave=False)
        for name in names:
            prompts = [t(name) if callable(t) else t.format(name) for t in templates]
            embedded = F.normalize(model.encode(text, tokenize(prompts)), dim=-1).mean(0)
            rows.append(F.normalize(embedded, dim=-1))
    scale = float(model.logit_scale.detach().exp()) if logit_scale is None else logit_scale
    return ZeroShotHead(torch.stack(rows), scale)


class Fusion(nn.Module):
    """Several encoders (`Embedder`, unnormalised) under one head: their embeddings are fused
    (``"concat"``, ``"sum"``, ``"attention"``: a learned query attends over them, or a module taking
    ``{name: [B, D]}``) and the head reads ``Features(last=[B, D_fused])``. ``missing`` decides when
    an input is absent: ``"error"`` (`MissingInputError` naming it), ``"zeros"``, or ``"learned"``
    (a trained stand-in embedding per encoder)."""

    def __init__(
        self,
        towers: Mapping[str, Embedder],
        head: nn.Module,
        *,
        fusion: str | nn.Module = "concat",
        missing: str = "error",
    ) -> None:
        super().__init__()
        if not towers:
            raise ValueError("fuse needs at least one encoder")
        if missing not in MISSING:
            raise ValueError(f"missing must be one of {MISSING}; found {missing!r}")
        if isinstance(fusion, str) and fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS} or a module; found {fusion!r}")
        widths = {name: t.feature_spec.width for name, t in towers.items()}
        if fusion in ("sum", "attention") and len(set(widths.values())) != 1:
            raise IncompatibleHeadError(
                f"fusion={fusion!r} needs one width for every encoder; found {widths}: give embed_dim="
            )
        self.towers = nn.ModuleDict(towers)
        self.fusion_mode = fusion if isinstance(fusion, str) else "module"
        self.missing = missing
        width = next(iter(widths.values()))
        if self.fusion_mode == "attention":
            self.query = nn.Parameter(torch.zeros(1, width))
            self.attention = nn.MultiheadAttention(width, num_heads=1, batch_first=True)
        if isinstance(fusion, nn.Module):
            self.fusion = fusion
        if missing == "learned":
            self.stand_ins = nn.ParameterDict({name: nn.Parameter(torch.zeros(1, w)) for name, w in widths.items()})
        fused = sum(widths.values()) if self.fusion_mode == "concat" else getattr(fusion, "out_features", width)
        self.feature_spec = FeatureSpec(kind="pooled", width=fused)
        check = getattr(head, "check", None)
        if not callable(check):
            raise TypeError(
                f"a head must be an nn.Module with check(spec) and forward(features); found {type(head).__name__}"
            )
        check(self.feature_spec, "the fused encoders")
        self.head = head
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.fusion_mode == "attention":
            nn.init.normal_(self.query, std=0.02)
            self.attention._reset_parameters()
        if self.missing == "learned":
            for p in self.stand_ins.values():
                nn.init.zeros_(p)

    def embed(self, inputs: Mapping[str, Any]) -> dict[str, Tensor]:
        unknown = [k for k in inputs if k not in self.towers]
        if unknown:
            raise KeyError(f"expected inputs among {list(self.towers)}; found {unknown}")
        given = {name: _call(self.towers[name], x) for name, x in inputs.items()}
        if not given:
            raise MissingInputError(f"no inputs: expected some of {list(self.towers)}")
        batch, ref = next(iter(given.values())).shape[0], next(iter(given.values()))
        out = {}
        for name, tower in self.towers.items():
            if name in given:
                out[name] = given[name]
            elif self.missing == "error":
                raise MissingInputError(f"input {name!r} is missing (missing='error'); given {list(given)}")
            elif self.missing == "zeros":
                out[name] = ref.new_zeros(batch, tower.feature_spec.width)
            else:
                out[name] = self.stand_ins[name].expand(batch, -1)
        return out

    def shard_units(self) -> list[nn.Module]:
        return shard_units(self, *self.towers.values())

    def forward(self, inputs: Mapping[str, Any]) -> Tensor:
        embedded = self.embed(inputs)
        if self.fusion_mode == "concat":
            fused = torch.cat([embedded[n] for n in self.towers], dim=-1)
        elif self.fusion_mode == "sum":
            fused = torch.stack([embedded[n] for n in self.towers]).sum(0)
        elif self.fusion_mode == "attention":
            keys = torch.stack([embedded[n] for n in self.towers], dim=1)  # [B, M, D]
            query = self.query.expand(keys.shape[0], 1, -1)
            fused = self.attention(query, keys, keys, need_weights=False)[0].squeeze(1)
        else:
            fused = self.fusion(embedded)
        return self.head(Features(last=fused))


def fuse(
    encoders: Mapping[str, nn.Module | str | Part],
    head: nn.Module,
    *,
    fusion: str | nn.Module = "concat",
    missing: str = "error",
    embed_dim: int | None = None,
    encoders_weights: Mapping[str, Any] | None = None,
    encoders_config: Mapping[str, Mapping[str, Any]] | None = None,
    pooling: Mapping[str, str] | None = None,
    weights: Mapping[str, Any] | None = None,
    configs: Mapping[str, Mapping[str, Any]] | None = None,
) -> Fusion:
    """Late fusion of several encoders of any domains under one ``head`` (a `Head` reading
    ``pooled`` features of the fused width, e.g. ``ClassifierHead(width, n, pooling="none")``).
    ``encoders`` maps each input's name to a registered model name (built with
    ``encoders_weights[name]`` and ``encoders_config[name]``), a module or a `Part`; ``embed_dim``
    projects every encoder to one width (needed by ``"sum"`` and ``"attention"`` when widths
    differ). (``weights=`` and ``configs=`` are the deprecated spellings of ``encoders_weights=``
    and ``encoders_config=``.)"""
    for old, new, value in (("weights", "encoders_weights", weights), ("configs", "encoders_config", configs)):
        if value is None:
            continue
        if (encoders_weights if new == "encoders_weights" else encoders_config) is not None:
            raise TypeError(f"fuse() got both {old}= and {new}=; pass only {new}=")
        warn_deprecated(
            f"fuse({old}=...) is deprecated: write fuse({new}=...) instead; {old}= will be removed in {LEGACY_REMOVED_IN}"
        )
    encoders_weights = dict(encoders_weights if encoders_weights is not None else weights or {})
    encoders_config = dict(encoders_config if encoders_config is not None else configs or {})
    extra = [k for k in (*encoders_weights, *encoders_config) if k not in encoders]
    if extra:
        named = "weights/configs" if weights is not None or configs is not None else "encoders_weights/encoders_config"
        raise KeyError(f"{named} name encoders {sorted(set(extra))}, but the encoders are {list(encoders)}")
    parts = {
        name: Part.of(
            name,
            model,
            encoders_weights.get(name),
            encoders_config.get(name),
            keywords=(f"encoders[{name!r}]", f"encoders_weights[{name!r}]", f"encoders_config[{name!r}]"),
        )
        for name, model in encoders.items()
    }

    def factory(**built: nn.Module) -> Fusion:
        towers = {
            name: Embedder(built[name], pooling=(pooling or {}).get(name), embed_dim=embed_dim, normalize=False)
            for name in encoders
        }
        return Fusion(towers, head, fusion=fusion, missing=missing)

    return build_model(factory, weights=None, parts=parts)


def export_towers(model: nn.Module, inputs: Mapping[str, Any]) -> dict[str, torch.export.ExportedProgram]:
    """One program per tower of a dual encoder (or fusion), each exported on its own (`export`)
    from its example in ``inputs`` (``{"image": images, "text": token_ids}``), given as the tower
    is called: each program computes what ``model.encode(name, x)`` computes (normalised
    embeddings for CLIP's towers). Index images offline with one, embed queries online with the other."""
    towers = getattr(model, "towers", None)
    if not isinstance(towers, nn.ModuleDict):
        raise TypeError(
            f"export_towers takes a model with towers (a DualEncoder or Fusion); found {type(model).__name__}"
        )
    unknown = [name for name in inputs if name not in towers]
    if unknown or not inputs:
        raise KeyError(f"expected examples for the towers {list(towers)}; found {list(inputs)}")
    return {name: _call(partial(export, towers[name]), example) for name, example in inputs.items()}
