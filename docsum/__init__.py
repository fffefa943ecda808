"""docsum: batch document summarization with BERTSUM."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from docsum.client import Client
    from docsum.services.batches import BatchNotFound

__all__ = ["BatchNotFound", "Client"]


def __getattr__(name: str) -> Any:
    # Lazy: `import docsum` stays cheap (no Celery, no torch), and importing a lower layer such as docsum.bertsum or
    # docsum.config does not drag in the layers above it.
    if name == "Client":
        from docsum.client import Client

        return Client
    if name == "BatchNotFound":
        from docsum.services.batches import BatchNotFound

        return BatchNotFound
    raise AttributeError(name)
