"""The text models: every builder, weights enum, model class and task head, importable from here
(``from torchgraft.text.models import bert_base, BertBase_Weights``).

This module is the ``text`` entry of the ``torchgraft.models`` entry-point group; importing it
registers the builders with torchgraft.core. It imports nothing heavier than torch at module level
(``tokenizers`` is imported when a transform runs), so that ``torchgraft.core.list_models()`` stays
cheap.
"""

from .bert import *  # noqa: F403
from .bert import __all__ as _bert
from .heads import *  # noqa: F403
from .heads import __all__ as _heads
from .tasks import *  # noqa: F403
from .tasks import __all__ as _tasks

__all__ = sorted({*_bert, *_heads, *_tasks})
