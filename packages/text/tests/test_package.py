"""torchgraft-text is a complete distribution on its own (its models conform in test_conformance)."""

from __future__ import annotations

from torchgraft.core.testing import check_domain_package


def test_package_is_wired_up_and_lazy():
    check_domain_package("text", lazy_modules=("tokenizers",))
