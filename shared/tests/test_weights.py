from __future__ import annotations

import warnings

import pytest

from torchgraft.core import (
    TorchgraftDeprecationWarning,
    UnknownWeightsError,
    Weights,
    WeightsEnum,
    WeightsMismatchError,
)

SHA = "ab" * 32


def w(url: str = "https://example.org/a.safetensors", **meta) -> Weights:
    return Weights(url=url, sha256=SHA, meta={"num_params": 10, **meta})


class Net_Weights(WeightsEnum):
    V1 = w("https://example.org/net-v1.pth", deprecated=True, superseded_by="V2")
    V2 = w("https://example.org/net-v2.safetensors", categories=["cat", "dog"])
    DEFAULT = V2


class Other_Weights(WeightsEnum):
    V1 = w("https://example.org/other.safetensors")
    DEFAULT = V1


def test_minimal_weights_infers_format_and_freezes_meta():
    weights = Weights(url="https://x/y.pth", sha256=SHA.upper(), meta={"num_params": 5})
    assert weights.format == "pth" and weights.role == "full" and weights.full_hash
    assert weights.sha256 == SHA
    with pytest.raises(TypeError):
        weights.meta["num_params"] = 6  # type: ignore[index]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url": "ftp://x/y.pth"}, "must start with one of"),
        ({"sha256": "xyz"}, "64 hex digits"),
        ({"sha256": "abc"}, "at least 8"),
        ({"meta": {"num_params": 0}}, "num_params"),
        ({"meta": {"num_params": "10"}}, "num_params"),
        ({"role": "head"}, "role must be one of"),
        ({"url": "https://x/y.onnx"}, "cannot infer the checkpoint format"),
        ({"size": -1}, "size must be a positive int"),
        ({"mirrors": ("gopher://m/y.pth",)}, "must start with one of"),
    ],
)
def test_bad_weights_fields_say_what_was_expected(kwargs, message):
    args = {"url": "https://x/y.pth", "sha256": SHA, "meta": {"num_params": 5}} | kwargs
    with pytest.raises((ValueError, TypeError), match=message):
        Weights(**args)


def test_hash_prefix_is_accepted_and_marked_weaker():
    weights = Weights(url="https://x/resnet50-0676ba61.pth", sha256="0676ba61", meta={"num_params": 1})
    assert not weights.full_hash


def test_verify_accepts_every_spelling():
    assert Net_Weights.verify(None) is None
    assert Net_Weights.verify(Net_Weights.V2) is Net_Weights.V2
    assert Net_Weights.verify("V2") is Net_Weights.V2
    assert Net_Weights.verify("Net_Weights.V2") is Net_Weights.V2
    assert Net_Weights.verify("DEFAULT") is Net_Weights.V2
    assert Net_Weights.DEFAULT is Net_Weights.V2
    assert list(Net_Weights) == [Net_Weights.V1, Net_Weights.V2]


def test_member_attributes_fall_through_to_weights():
    assert list(Net_Weights.V2.meta["categories"]) == ["cat", "dog"]
    assert Net_Weights.V2.url.endswith("net-v2.safetensors")
    assert Net_Weights.V2.categories == ["cat", "dog"]
    assert str(Net_Weights.V2) == "Net_Weights.V2"
    with pytest.raises(AttributeError):
        _ = Net_Weights.V2.no_such_field


def test_misspelt_name_lists_choices_and_suggests_closest():
    with pytest.raises(UnknownWeightsError) as info:
        Net_Weights.verify("V3")
    message = str(info.value)
    assert "V1, V2, DEFAULT" in message and "did you mean Net_Weights.V" in message
    with pytest.raises(UnknownWeightsError, match="did you mean Net_Weights.DEFAULT"):
        Net_Weights.verify("DEFAUTL")


def test_member_of_another_enum_is_refused():
    with pytest.raises(WeightsMismatchError, match="Other_Weights.V1 belongs to Other_Weights.*Net_Weights"):
        Net_Weights.verify(Other_Weights.V1)
    with pytest.raises(WeightsMismatchError, match="names Other_Weights"):
        Net_Weights.verify("Other_Weights.V1")


def test_deprecated_weights_warn_and_name_their_successor():
    with pytest.warns(TorchgraftDeprecationWarning, match=r"Net_Weights.V1 is deprecated; use Net_Weights.V2"):
        assert Net_Weights.verify("V1") is Net_Weights.V1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Net_Weights.verify("V2")


def test_users_own_weights_pass_through_and_known_ones_map_to_members():
    mine = w("file:///tmp/finetuned.safetensors")
    assert Net_Weights.verify(mine) is mine
    same_file = w("https://example.org/net-v2.safetensors")
    assert Net_Weights.verify(same_file) is Net_Weights.V2


def test_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="found int"):
        Net_Weights.verify(3)


def test_assets_are_verified_files_that_go_with_the_weights(tmp_path):
    import hashlib

    from torchgraft.core import Asset

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\nhello\n")
    asset = Asset(url=vocab.as_uri(), sha256=hashlib.sha256(vocab.read_bytes()).hexdigest())
    weights = Weights(url="https://x/y.safetensors", sha256=SHA, meta={"num_params": 1}, assets={"vocab.txt": asset})
    assert weights.fetch_asset("vocab.txt") == vocab
    with pytest.raises(KeyError, match=r"no asset 'tokenizer.json'; they have \['vocab.txt'\]"):
        weights.fetch_asset("tokenizer.json")
    with pytest.raises(ValueError, match="sha256 must be"):
        Asset(url=vocab.as_uri(), sha256="zz")
    with pytest.raises(TypeError, match="Asset instances"):
        Weights(url="https://x/y.pth", sha256=SHA, meta={"num_params": 1}, assets={"v": "file:///x"})


def test_a_bare_path_with_a_tilde_is_your_own_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "clf.safetensors").write_bytes(b"x")
    assert Weights(url="~/clf.safetensors").url == (tmp_path / "clf.safetensors").as_uri()
    with pytest.raises(ValueError, match="or be the path of an existing file; found '~/missing.safetensors'"):
        Weights(url="~/missing.safetensors")
