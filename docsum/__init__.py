"""docsum: batch document summarization with BERTSUM.

import docsum
print(docsum.summarize("Some long text ...", k=3))      # one text, here and now: no queue, no database
with docsum.Client() as client:                           # batches of files through the workers
    batch = client.submit(["reports/"])
    print(batch.wait())
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from docsum.client import BatchHandle, Client
    from docsum.errors import (
        BatchCancelled,
        BatchNotFound,
        BrokerUnavailable,
        DatabaseNotSetUp,
        DocsumError,
        InvalidSetting,
        ModelNotFound,
        NoText,
        WaitTimeout,
        WorkerStopped,
    )
    from docsum.services.batches import BatchReport, ResultRecord
    from docsum.services.text import TextSummary, summarize, summarize_file

__all__ = [
    "BatchCancelled",
    "BatchHandle",
    "BatchNotFound",
    "BatchReport",
    "BrokerUnavailable",
    "Client",
    "DatabaseNotSetUp",
    "DocsumError",
    "InvalidSetting",
    "ModelNotFound",
    "NoText",
    "ResultRecord",
    "TextSummary",
    "WaitTimeout",
    "WorkerStopped",
    "summarize",
    "summarize_file",
]

# Public name -> the module defining it. Lazy: `import docsum` stays cheap (no Celery, no torch), and importing a
# lower layer such as docsum.bertsum or docsum.config does not drag in the layers above it.
_WHERE = {
    "Client": "docsum.client",
    "BatchHandle": "docsum.client",
    "BatchReport": "docsum.services.batches",
    "ResultRecord": "docsum.services.batches",
    "summarize": "docsum.services.text",
    "summarize_file": "docsum.services.text",
    "TextSummary": "docsum.services.text",
    "DocsumError": "docsum.errors",
    "BatchNotFound": "docsum.errors",
    "BatchCancelled": "docsum.errors",
    "BrokerUnavailable": "docsum.errors",
    "DatabaseNotSetUp": "docsum.errors",
    "InvalidSetting": "docsum.errors",
    "ModelNotFound": "docsum.errors",
    "NoText": "docsum.errors",
    "WaitTimeout": "docsum.errors",
    "WorkerStopped": "docsum.errors",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'docsum' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
