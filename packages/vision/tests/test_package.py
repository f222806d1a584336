"""torchgraft-vision is a complete distribution on its own, and every registered model conforms."""

from __future__ import annotations

import pytest

import torchgraft.core as tg
from torchgraft.core.testing import check_domain_package, check_registered_weights


def test_package_is_wired_up_and_lazy():
    check_domain_package("vision", lazy_modules=("torchvision",))


@pytest.mark.parametrize("name", tg.list_models(domain="vision"))
def test_every_weights_enum_conforms(name):
    check_registered_weights(name)
