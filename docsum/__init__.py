"""docsum: batch document summarization with BERTSUM."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from docsum.client import Client

__all__ = ["Client"]


def __getattr__(name: str) -> Any:
    # Lazy: `import docsum` stays cheap (no Celery, no torch) for the CLI's --help and for settings.
    if name == "Client":
        from docsum.client import Client

        return Client
    raise AttributeError(name)
