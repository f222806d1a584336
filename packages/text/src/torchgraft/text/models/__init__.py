"""The text model builders; importing this module registers them with torchgraft.core.

This module is the ``text`` entry of the ``torchgraft.models`` entry-point group. It must
import nothing heavier than torch at module level, so that ``torchgraft.core.list_models()``
stays cheap.
"""
