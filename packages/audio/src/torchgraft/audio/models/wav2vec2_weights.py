"""Weights of torchaudio's published wav2vec 2.0 and HuBERT bundles.

Pre-trained bundles are encoders (``role="backbone"``: attach your own head, or pass
``aux_num_out=`` for a fresh CTC head); ASR bundles are whole models (``role="full"``) whose
``categories`` are the CTC labels, blank first. The files are torchaudio's ``.pth`` state dicts,
read with ``weights_only=True`` and adapted on load (:class:`TorchaudioBundleFile`). torchaudio
publishes no digests, so the entries carry ``sha256=None``: the store pins each file on its first
download (see docs/store.md). ``meta["defaults"]`` holds each bundle's dropout rates, used unless
the caller passes others; ``meta["torchaudio_bundle"]`` names the torchaudio pipeline it equals.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from torchgraft.core import Weights, WeightsEnum

from ..transforms import Wav2Vec2Transform
from .convert import TorchaudioBundleFile

__all__ = [
    "EN_LABELS",
    "Hubert_Base_Weights",
    "Hubert_Large_Weights",
    "Hubert_XLarge_Weights",
    "Wav2Vec2_Base_Weights",
    "Wav2Vec2_Large_LV60K_Weights",
    "Wav2Vec2_Large_Weights",
]

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


BUNDLES: dict[str, type[WeightsEnum]] = {
    "wav2vec2_base": Wav2Vec2_Base_Weights,
    "wav2vec2_large": Wav2Vec2_Large_Weights,
    "wav2vec2_large_lv60k": Wav2Vec2_Large_LV60K_Weights,
    "hubert_base": Hubert_Base_Weights,
    "hubert_large": Hubert_Large_Weights,
    "hubert_xlarge": Hubert_XLarge_Weights,
}
