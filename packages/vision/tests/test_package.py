"""torchgraft-vision is a complete distribution on its own, and every registered model conforms."""

from __future__ import annotations

import pytest

import torchgraft.core as tg
from torchgraft.core.testing import check_domain_package


def test_package_is_wired_up_and_lazy():
    check_domain_package("vision", lazy_modules=("torchvision",))


@pytest.mark.parametrize("name", tg.list_models(domain="vision"))
def test_every_weights_enum_conforms(name):
    from torchgraft.core.registry import get_model_builder
    from torchgraft.core.testing import check_num_params, check_weights_enum

    try:
        enum = tg.get_model_weights(name)
    except tg.UnknownWeightsError:
        pytest.skip(f"{name} publishes no weights")
    check_weights_enum(enum)
    check_num_params(get_model_builder(name), enum)
