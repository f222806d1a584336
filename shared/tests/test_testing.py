"""The conformance kit must pass good models and catch bad ones."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import torchgraft.core as tg
from torchgraft.core import Weights, WeightsEnum
from torchgraft.core.testing import (
    check_builder_signature,
    check_composition,
    check_model,
    check_num_params,
    check_weights_enum,
)


def _weights(num_params: int, **meta: Any) -> Weights:
    return Weights(
        url="https://example.org/kit.safetensors",
        sha256="ef" * 32,
        meta={"num_params": num_params, "license": "MIT", **meta},
    )


def test_conformance_kit_passes_a_well_formed_model(conv_net):
    n = sum(p.numel() for p in conv_net().parameters())

    class KitNet_Weights(WeightsEnum):
        V1 = _weights(n, categories=[f"c{i}" for i in range(10)])
        DEFAULT = V1

    @tg.register_model("kit_net")
    def kit_net(*, weights: KitNet_Weights | None = None, progress: bool = True, **config: Any) -> nn.Module:
        return conv_net(**config)

    check_model("kit_net", config={"width": 4}, inputs=(torch.randn(2, 3, 16, 16),))


def test_wrong_num_params_is_caught(conv_net):
    class Bad_Weights(WeightsEnum):
        V1 = _weights(123)
        DEFAULT = V1

    def bad(*, weights=None, progress=True, **config):
        return conv_net(**config)

    with pytest.raises(AssertionError, match=r"meta num_params=123, but the built architecture has \d+"):
        check_num_params(bad, Bad_Weights)


def test_missing_meta_and_default_are_caught():
    class NoDefault_Weights(WeightsEnum):
        V1 = Weights(url="https://example.org/x.pth", sha256="ef" * 32, meta={"num_params": 1})

    with pytest.raises(AssertionError, match="no DEFAULT"):
        check_weights_enum(NoDefault_Weights)

    class NoLicense_Weights(WeightsEnum):
        V1 = Weights(url="https://example.org/x.pth", sha256="ef" * 32, meta={"num_params": 1})
        DEFAULT = V1

    with pytest.raises(AssertionError, match=r"meta lacks \['license'\]"):
        check_weights_enum(NoLicense_Weights)


def test_positional_builders_are_caught():
    def positional(weights=None, progress=True):
        return nn.Identity()

    with pytest.raises(AssertionError, match="keyword-only"):
        check_builder_signature(positional)


def test_a_feature_spec_that_lies_is_caught(conv_net, image):
    model = conv_net()
    model.feature_spec = tg.FeatureSpec(
        kind="spatial", width=16, stages=(tg.StageSpec("stem", 9, 2), tg.StageSpec("layer1", 16, 4))
    )
    with pytest.raises(AssertionError, match="stage stem: spec says 9 channels, got 8"):
        check_composition(model, (image,))


RANK_SCRIPT = """
import os, sys, time
rank = os.environ["RANK"]
print(f"stdout of rank {rank}", flush=True)
print(f"stderr of rank {rank}", file=sys.stderr, flush=True)
if sys.argv[1] == "fail" and rank == "1":
    sys.exit(3)
if sys.argv[1] == "hang":
    time.sleep(600)
"""


@pytest.mark.multiprocess
def test_torchrun_returns_each_ranks_output_and_shows_it_when_a_rank_fails(tmp_path):
    from torchgraft.core.testing import RankFailure, torchrun

    script = tmp_path / "ranks.py"
    script.write_text(RANK_SCRIPT)
    ok = torchrun(str(script), "pass", nproc=2)
    assert [o.strip() for o in ok.stdout] == ["stdout of rank 0", "stdout of rank 1"]
    assert [e.strip() for e in ok.stderr] == ["stderr of rank 0", "stderr of rank 1"]
    with pytest.raises(RankFailure) as failed:
        torchrun(str(script), "fail", nproc=2)
    message = str(failed.value)
    assert "exited with status" in message and "exitcode: 3" in message
    for rank in (0, 1):  # each rank's own output, under its own heading
        assert f"----- rank {rank} stderr -----\nstderr of rank {rank}" in message
    with pytest.raises(RankFailure, match="did not finish in 20 s and was killed"):
        torchrun(str(script), "hang", nproc=2, timeout=20)
    assert not _processes_running(str(script)), "a rank outlived its killed job"


def _processes_running(needle: str) -> list[str]:
    import os

    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                command = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in command:
            found.append(command)
    return found
