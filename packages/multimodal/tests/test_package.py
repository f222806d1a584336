"""torchgraft-multimodal is a complete distribution: in its isolated session it brings exactly the
two domains it joins (vision and text, not audio), and its models conform (test_conformance)."""

from __future__ import annotations

from torchgraft.core.testing import check_domain_package


def test_package_is_wired_up_lazy_and_joins_exactly_vision_and_text():
    check_domain_package("multimodal", lazy_modules=("torchvision", "tokenizers"), joins=("vision", "text"))
