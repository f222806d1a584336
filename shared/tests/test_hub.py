"""The Hub weights factory: one schema for every entry read from a Hub repository."""

from __future__ import annotations

import pickle

import pytest

from torchgraft.core import Asset, WeightsEnum
from torchgraft.core.hub import HUB, HubFamily, hub_asset, hub_url, hub_weights

FAMILY = HubFamily(
    adapter=None,
    role="backbone",
    assets={"tokenizer.json": "tokenizer.json", "shared.txt": Asset("https://example.org/shared.txt", sha256=None)},
    transforms=lambda assets: ("tokenizer", assets["tokenizer.json"].url),
    meta={"license": "MIT", "recipe": "paper", "max_length": 128, "training_data": "shared"},
)


def test_an_entry_reads_its_files_from_its_own_repository():
    w = hub_weights("acme/tiny", FAMILY, num_params=1000, training_data="own", metrics={"x": {"y": 1.0}})
    assert w.url == f"{HUB}acme/tiny/resolve/main/model.safetensors" and w.format == "safetensors"
    assert w.sha256 is None and w.role == "backbone"
    assert w.assets["tokenizer.json"].url == f"{HUB}acme/tiny/resolve/main/tokenizer.json"
    assert w.assets["shared.txt"].url == "https://example.org/shared.txt"
    assert w.transforms == ("tokenizer", w.assets["tokenizer.json"].url)
    assert dict(w.meta) == {
        "num_params": 1000,
        "license": "MIT",
        "recipe": "paper",
        "source": f"{HUB}acme/tiny",
        "approx_size_mb": 0,
        "max_length": 128,
        "training_data": "own",  # the entry's keyword wins over the family's
        "metrics": {"x": {"y": 1.0}},
    }


def test_revision_digest_and_size_are_the_entrys():
    digest = "ab" * 32
    w = hub_weights("acme/tiny", FAMILY, num_params=2**20, revision="v1.0", sha256=digest.upper())
    assert w.url == f"{HUB}acme/tiny/resolve/v1.0/model.safetensors" and w.sha256 == digest
    assert w.assets["tokenizer.json"].url.endswith("/resolve/v1.0/tokenizer.json")
    assert w.meta["approx_size_mb"] == 4  # 2**20 float32 values
    assert hub_weights("acme/tiny", FAMILY, num_params=10, approx_size_mb=7).meta["approx_size_mb"] == 7


def test_entries_pickle_and_compare_as_other_entries_do():
    class Tiny_Weights(WeightsEnum):
        A = hub_weights("acme/a", HubFamily(adapter=None, meta={"license": "MIT", "recipe": "r"}), num_params=3)

    w = Tiny_Weights.A.value
    assert pickle.loads(pickle.dumps(w)) == w and w.assets == {} and w.transforms is None


@pytest.mark.parametrize("repo", ["tiny", "acme/", "/tiny", "acme/tiny/extra", "acme/../x", "acme/ti ny", ""])
def test_a_repository_is_owner_slash_name(repo):
    with pytest.raises(ValueError, match="owner/name"):
        hub_weights(repo, FAMILY, num_params=1)


@pytest.mark.parametrize("filename", ["", "/etc/passwd", "../model.safetensors", "a/../../b"])
def test_a_file_name_stays_inside_the_repository(filename):
    with pytest.raises(ValueError, match="inside the repository"):
        hub_url("acme/tiny", filename)
    with pytest.raises(ValueError, match="inside the repository"):
        hub_asset("acme/tiny", filename)


def test_license_and_recipe_are_required_from_the_family_or_the_entry():
    bare = HubFamily(adapter=None)
    with pytest.raises(TypeError, match=r"needs meta \['license', 'recipe'\]"):
        hub_weights("acme/tiny", bare, num_params=1)
    w = hub_weights("acme/tiny", bare, num_params=1, license="MIT", recipe="r")
    assert (w.meta["license"], w.meta["recipe"]) == ("MIT", "r")


def test_the_family_is_frozen():
    with pytest.raises(TypeError):
        FAMILY.meta["license"] = "other"  # type: ignore[index]
    with pytest.raises(AttributeError):
        FAMILY.filename = "other.bin"  # type: ignore[misc]
