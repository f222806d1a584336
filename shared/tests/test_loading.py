from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import pytest
import torch
from torch import nn

from torchgraft.core import (
    CorruptCheckpointError,
    FormatMismatchError,
    StateDictMismatchError,
    UnsafeCheckpointError,
    Weights,
    WeightsMismatchError,
    init_empty,
    load_weights,
    read_checkpoint,
)


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", ["model.safetensors", "model.pth"])
def test_meta_build_then_load_equals_original(conv_net, save_checkpoint, image, name):
    torch.manual_seed(0)
    original = conv_net().eval()
    path, _ = save_checkpoint(original, name)
    with init_empty():
        model = conv_net()
    assert all(p.device.type == "meta" for p in model.parameters())
    report = load_weights(model, path)
    assert report.complete and not report.fresh
    assert sorted(report.loaded) == sorted(original.state_dict())
    model.eval()
    torch.testing.assert_close(model(image), original(image), rtol=0, atol=0)


def test_init_empty_skips_initialisation_but_keeps_buffers(encoder, monkeypatch):
    calls = []
    recorder = lambda t, *a, **k: calls.append(t.device.type) or t  # noqa: E731
    monkeypatch.setattr(nn.init, "normal_", recorder)
    with init_empty():
        model = encoder()
        model.reset_parameters()
        torch.empty(2).normal_()  # real tensors are still initialised inside the context
    assert calls == [], "initialisers must not run on meta tensors"
    assert nn.init.normal_ is recorder, "the initialisers are restored afterwards"
    assert {p.device.type for p in model.parameters()} == {"meta"}
    # Non-persistent buffers keep the values the constructor computed.
    assert torch.equal(model.position_ids, torch.arange(32))
    # register_parameter is restored afterwards.
    assert nn.Linear(2, 2).weight.device.type == "cpu"
    with init_empty():
        real = torch.zeros(1000)
        nn.init.normal_(real)
    assert calls == ["cpu"]


def _mapped_ranges(path: Path) -> list[tuple[int, int]]:
    ranges = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5] == str(path.resolve()):
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            ranges.append((lo, hi))
    return ranges


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("name", ["model.safetensors", "model.pth"])
def test_checkpoint_tensors_live_in_a_file_mapping_not_a_copy(conv_net, save_checkpoint, name):
    path, _ = save_checkpoint(conv_net(width=64), name)
    with init_empty():
        model = conv_net(width=64)
    load_weights(model, path)
    ranges = _mapped_ranges(path)
    assert ranges, f"{path} is not memory-mapped"
    weight = model.layer1[0].weight
    assert any(lo <= weight.data_ptr() < hi for lo, hi in ranges), "the weight was copied out of the mapping"


def test_tied_parameters_stay_tied_when_the_checkpoint_holds_one_copy(encoder, save_checkpoint, tokens):
    torch.manual_seed(0)
    original = encoder().eval()
    path, _ = save_checkpoint(original)  # save_model drops the duplicate tied tensor
    with init_empty():
        model = encoder()
    report = load_weights(model, path)
    assert model.decoder.weight is model.embed.weight
    assert not report.fresh and not report.unexpected
    model.eval()
    torch.testing.assert_close(model(*tokens), original(*tokens), rtol=0, atol=0)


def test_fresh_parameters_are_initialised_not_left_on_meta(conv_net, save_checkpoint):
    backbone_only = {k: v for k, v in conv_net().state_dict().items() if not k.startswith("fc.")}
    path, _ = save_checkpoint(backbone_only)
    with init_empty():
        model = conv_net()
    report = load_weights(model, path, fresh_ok=("fc.",))
    assert report.fresh == ["fc.bias", "fc.weight"]
    assert model.fc.weight.device.type == "cpu" and torch.isfinite(model.fc.weight).all()
    assert model.fc.weight.abs().sum() > 0


def test_missing_extra_and_misshaped_keys_raise_and_leave_the_model_untouched(conv_net, save_checkpoint):
    model = conv_net()
    before = snapshot(model)
    state = conv_net().state_dict()
    state.pop("fc.bias")
    state["extra.weight"] = torch.zeros(1)
    state["fc.weight"] = torch.zeros(3, 16)
    path, _ = save_checkpoint(state)
    with pytest.raises(StateDictMismatchError) as info:
        load_weights(model, path)
    err = info.value
    assert err.missing == ["fc.bias"] and err.unexpected == ["extra.weight"]
    assert err.mismatched == [("fc.weight", (3, 16), (10, 16))]
    message = str(err)
    assert "missing from the checkpoint: fc.bias" in message
    assert "the model does not have: extra.weight" in message
    assert "fc.weight: checkpoint shape [3, 16], model expects [10, 16]" in message
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), f"{key} changed although loading failed"


def test_non_strict_reports_instead_of_raising(conv_net, save_checkpoint):
    state = conv_net().state_dict()
    state.pop("fc.bias")
    state["extra.weight"] = torch.zeros(1)
    path, _ = save_checkpoint(state)
    with init_empty():
        model = conv_net()
    report = load_weights(model, path, strict=False)
    assert report.unexpected == ["extra.weight"] and report.fresh == ["fc.bias"]
    assert not report.complete and "1 unexpected" in str(report)


def test_loading_into_a_real_model_copies_in_place_and_keeps_dtype(conv_net, save_checkpoint):
    source = conv_net()
    path, _ = save_checkpoint(
        {k: v.half() for k, v in source.state_dict().items() if v.is_floating_point()}
        | {k: v for k, v in source.state_dict().items() if not v.is_floating_point()}
    )
    model = conv_net()
    weight = model.fc.weight
    load_weights(model, path)
    assert model.fc.weight is weight and weight.dtype == torch.float32
    torch.testing.assert_close(weight, source.fc.weight.half().float())


def test_meta_targets_are_cast_to_the_model_dtype(conv_net, save_checkpoint):
    path, _ = save_checkpoint({k: v.half() if v.is_floating_point() else v for k, v in conv_net().state_dict().items()})
    with init_empty():
        model = conv_net()
    load_weights(model, path)
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_adapter_converts_another_layout_and_reports_renames(conv_net, save_checkpoint):
    source = conv_net()
    foreign = {"net." + k: v for k, v in source.state_dict().items()}
    path, digest = save_checkpoint(foreign)

    def adapter(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k.removeprefix("net."): v for k, v in state.items()}

    weights = Weights(url=path.as_uri(), sha256=digest, meta={}, adapter=adapter)
    with init_empty():
        model = conv_net()
    report = load_weights(model, weights)
    assert report.converted["fc.weight"] == "net.fc.weight"
    assert len(report.converted) == len(foreign)
    torch.testing.assert_close(model.fc.weight, source.fc.weight)


def test_own_weights_declaring_another_parameter_count_are_refused_before_loading(conv_net, save_checkpoint):
    source = conv_net()
    path, digest = save_checkpoint(source.state_dict())
    count = sum(p.numel() for p in source.parameters())
    model = conv_net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    wrong = Weights(url=path.as_uri(), sha256=digest, meta={"num_params": count + 1})
    with pytest.raises(WeightsMismatchError, match=rf"declares num_params={count + 1}, but .* has {count} parameters"):
        load_weights(model, wrong)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # nothing changed
    assert load_weights(model, Weights(url=path.as_uri(), sha256=digest, meta={"num_params": count})).complete
    assert load_weights(model, Weights(url=path.as_uri(), sha256=digest)).complete  # not declared: not checked


def test_wrapped_state_dict_is_unwrapped(conv_net, save_checkpoint):
    source = conv_net()
    path, _ = save_checkpoint({"state_dict": source.state_dict()}, "wrapped.pth")
    model = conv_net()
    assert load_weights(model, path).complete


def test_legacy_non_zip_pth_still_loads_safely(conv_net, tmp_path):
    source = conv_net()
    path = tmp_path / "legacy.pth"
    torch.save(source.state_dict(), path, _use_new_zipfile_serialization=False)
    model = conv_net()
    assert load_weights(model, path).complete


class _Exploit:
    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


@pytest.mark.parametrize("force_unsafe_env", [False, True])
def test_pickle_that_runs_code_is_refused_and_never_runs(tmp_path, monkeypatch, force_unsafe_env):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(1), "payload": _Exploit(sentinel)}, path)
    if force_unsafe_env:
        # Even when the environment asks torch to load pickles unsafely.
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(UnsafeCheckpointError, match=r"weights_only=True\. Refused: the global (posix|nt)\.system"):
        read_checkpoint(path)
    assert not sentinel.exists()


@pytest.mark.parametrize("protocol", [4, 5])
def test_a_state_dict_saved_with_pickle_protocol_4_or_5_loads(protocol, conv_net, tmp_path):
    """torch's weights-only unpickler lacks protocol 4's opcodes; the pickle is rewritten into
    protocol 2's (nothing executed) and the same unpickler decides."""
    source = conv_net()
    path = tmp_path / f"p{protocol}.pth"
    torch.save(source.state_dict(), path, pickle_protocol=protocol)
    model = conv_net()
    assert load_weights(model, path).complete
    for name, tensor in source.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name


@pytest.mark.parametrize("protocol", [4, 5])
@pytest.mark.parametrize("container", ["torch zip", "plain pickle"])
def test_a_protocol_4_or_5_pickle_that_runs_code_is_refused_by_name_and_never_runs(protocol, container, tmp_path):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    payload = {"weight": torch.zeros(1), "payload": _Exploit(sentinel)}
    if container == "torch zip":
        torch.save(payload, path, pickle_protocol=protocol)
    else:
        path.write_bytes(pickle.dumps(_Exploit(sentinel), protocol=protocol))
    with pytest.raises(UnsafeCheckpointError, match=r"(posix|nt)\.system"):
        read_checkpoint(path)
    assert not sentinel.exists()


def test_plain_pickle_is_refused(tmp_path):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps(_Exploit(sentinel), protocol=2))
    with pytest.raises(UnsafeCheckpointError, match=r"the global (posix|nt)\.system"):
        read_checkpoint(path)
    assert not sentinel.exists()


def test_the_refusal_names_a_harmless_looking_class_too(tmp_path):
    import argparse

    path = tmp_path / "namespace.pth"
    torch.save({"weight": torch.zeros(1), "args": argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"Refused: the global argparse\.Namespace\. If you trust"):
        read_checkpoint(path)


def test_truncated_safetensors_is_reported_as_corrupt(conv_net, save_checkpoint):
    path, _ = save_checkpoint(conv_net())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(CorruptCheckpointError, match="not a valid safetensors file"):
        read_checkpoint(path)


def test_malformed_safetensors_header_is_reported_as_corrupt(tmp_path):
    path = tmp_path / "bad.safetensors"
    header = b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 99]}}'
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    with pytest.raises(CorruptCheckpointError):
        read_checkpoint(path)


def test_pickle_declared_as_safetensors_is_a_format_mismatch(conv_net, save_checkpoint):
    path, _ = save_checkpoint(conv_net(), "model.pth")
    with pytest.raises(FormatMismatchError, match="declared safetensors but holds pth"):
        read_checkpoint(path, format="safetensors")


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n", "git-lfs pointer"),
        (b"<!DOCTYPE html><html><body>Proxy login</body></html>", "HTML"),
        (b"", "empty file"),
    ],
)
def test_not_weights_at_all_is_named(tmp_path, content, what):
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(CorruptCheckpointError, match=what):
        read_checkpoint(path, format="safetensors")


def test_non_tensor_entries_are_refused(tmp_path):
    path = tmp_path / "odd.pth"
    torch.save({"weight": torch.zeros(1), "epoch": 3}, path)
    with pytest.raises(CorruptCheckpointError, match="non-tensor entries"):
        read_checkpoint(path)


class _Scale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(3))


def test_fresh_parameter_without_an_initialiser_is_a_typed_error():
    from torchgraft.core import InitializationError

    with init_empty():
        model = nn.Sequential(nn.Linear(3, 3), _Scale())
    state = {k: v for k, v in nn.Sequential(nn.Linear(3, 3)).state_dict().items()}
    with pytest.raises(InitializationError, match=r"\['1.gain'\]: _Scale has no reset_parameters"):
        load_weights(model, state, fresh_ok=("1.",))
    # decided before anything was loaded: the model is exactly as it was
    assert all(p.device.type == "meta" for p in model.parameters())


def test_a_fresh_subtree_is_initialised_like_construction_children_first():
    """MultiheadAttention's own reset skips out_proj.weight (nn.Linear initialises it when
    constructed): a fresh attention layer left on meta must not keep uninitialised memory there."""
    from torchgraft.core.loading import FreshPlan

    def fresh(seed: int) -> nn.Module:
        with init_empty():
            model = nn.Sequential(nn.MultiheadAttention(16, 2), nn.Linear(16, 4))
        torch.manual_seed(seed)
        FreshPlan.of(model, {id(t) for t in model.parameters()}).apply()
        return model

    a, b, c = fresh(0), fresh(0), fresh(1)
    weight = a[0].out_proj.weight
    assert torch.equal(weight, b[0].out_proj.weight) and not torch.equal(weight, c[0].out_proj.weight)
    assert weight.abs().max() <= 1 / 16**0.5  # nn.Linear's bound: drawn, not leftover memory
    assert torch.equal(a[0].out_proj.bias, torch.zeros(16))  # then the parent's reset: zero bias


def test_fresh_tied_parameters_stay_one_parameter(encoder):
    """TinyEncoder's decoder shares the embedding's weight: initialised fresh, they stay tied."""
    from torchgraft.core.loading import FreshPlan

    with init_empty():
        model = encoder()
    FreshPlan.of(model, {id(t) for t in model.parameters()}).apply()
    assert model.decoder.weight is model.embed.weight and model.embed.weight.device.type == "cpu"


def test_a_fresh_weight_normed_layer_gets_its_constructor_initialisation():
    """Weight norm keeps ``weight`` as originals (g, v); a reset writes into a computed temporary.
    Left fresh, the originals must come from a real initialisation (the same for the same seed,
    within nn.Conv1d's bound), not from uninitialised memory."""
    from torchgraft.core.loading import FreshPlan

    def fresh(seed: int) -> torch.Tensor:
        with init_empty():
            model = nn.Sequential(nn.utils.parametrizations.weight_norm(nn.Conv1d(4, 6, 3), name="weight", dim=2))
        torch.manual_seed(seed)
        FreshPlan.of(model, {id(t) for t in model.parameters()}).apply()
        return model[0].weight.detach()

    a, b = fresh(0), fresh(0)
    assert torch.equal(a, b) and not torch.equal(a, fresh(1))
    assert torch.isfinite(a).all() and 0 < a.abs().max() <= 1 / 12**0.5  # kaiming_uniform(a=sqrt(5)) bound


@pytest.mark.parametrize(
    ("dtype", "loads"), [(torch.float16, True), (torch.float64, True), (torch.complex64, False), (torch.int32, False)]
)
def test_a_tensor_may_change_precision_on_load_never_kind(dtype, loads, conv_net):
    """A complex tensor cast to real silently dropped its imaginary part; an integer one became a float."""
    source = conv_net()
    state = {k: v.clone() for k, v in source.state_dict().items()}
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name] = state[name].to(dtype)
    model = conv_net()
    if loads:
        assert load_weights(model, state).complete
        torch.testing.assert_close(model.state_dict()[name], source.state_dict()[name], atol=1e-2, rtol=1e-2)
    else:
        with pytest.raises(StateDictMismatchError, match=rf"{name} is {dtype} in the checkpoint.*never cast"):
            load_weights(model, state)


def test_a_load_plan_changes_nothing_until_it_is_applied(conv_net, save_checkpoint):
    from torchgraft.core.loading import plan_load

    source = conv_net()
    path, _ = save_checkpoint(source)
    with init_empty():
        model = conv_net()
    plan = plan_load(model, path)
    assert all(p.device.type == "meta" for p in model.parameters()) and plan.report.fresh == []
    report = plan.apply()
    assert report is plan.report and report.complete
    assert torch.equal(model.fc.weight, source.fc.weight) and model.fc.weight.device.type == "cpu"
