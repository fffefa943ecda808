"""A delivery cap for ingest tasks: a file that reliably kills its worker process (OOM killer, a crash in C code)
must not make its task come back forever.

Deliveries are counted where a killed worker cannot lose the count: in the broker's Redis, under the task's id and
retry number (a retry after a database outage is a new message and starts a new count). The first delivery runs the
task as usual. A redelivery means a worker died on it, so the files are then ingested one at a time, each counted
and each committed, and a file started in more than `max_deliveries` deliveries fails with "gave up after N
deliveries" while the task's other files are ingested. Files a redelivery completed are remembered, so a further
redelivery neither ingests nor counts them twice.

With the embedded in-memory transport a worker cannot die without its process, so the counts live in memory.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from docsum.config import Settings
from docsum.errors import FailureClass
from docsum.services.failures import gave_up
from docsum.services.ingest import IngestOutcome, fail_file, ingest_files

if TYPE_CHECKING:
    from docsum.worker.app import DocsumCelery

log = logging.getLogger(__name__)

_KEY_PREFIX = "docsum:deliveries:"
_MIN_TTL_S = 24 * 3600


class _Store(Protocol):
    def incr(self, key: str, name: str) -> int: ...
    def get(self, key: str, name: str) -> int: ...
    def delete(self, key: str) -> None: ...


class _RedisStore:
    def __init__(self, url: str, ttl_s: int) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.ttl_s = ttl_s

    def incr(self, key: str, name: str) -> int:
        pipe = self.client.pipeline()
        pipe.hincrby(key, name, 1)
        pipe.expire(key, self.ttl_s)  # a task that is never seen again leaves nothing behind for long
        return int(pipe.execute()[0])

    def get(self, key: str, name: str) -> int:
        return int(self.client.hget(key, name) or 0)

    def delete(self, key: str) -> None:
        self.client.delete(key)


class _MemoryStore:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, Counter[str]] = {}

    def incr(self, key: str, name: str) -> int:
        with self.lock:
            counter = self.counts.setdefault(key, Counter())
            counter[name] += 1
            return counter[name]

    def get(self, key: str, name: str) -> int:
        with self.lock:
            return self.counts.get(key, Counter())[name]

    def delete(self, key: str) -> None:
        with self.lock:
            self.counts.pop(key, None)


_memory = _MemoryStore()
_redis: dict[str, _RedisStore] = {}


def _store(settings: Settings) -> _Store:
    if settings.broker_url is None:
        return _memory
    if settings.broker_url not in _redis:
        ttl = max(_MIN_TTL_S, settings.visibility_timeout * (settings.max_deliveries + 2))
        _redis[settings.broker_url] = _RedisStore(settings.broker_url, ttl)
    return _redis[settings.broker_url]


class TaskDeliveries:
    """The delivery counts of one task message (its id and retry number)."""

    def __init__(self, settings: Settings, task_id: str, retries: int = 0) -> None:
        self.store = _store(settings)
        self.key = f"{_KEY_PREFIX}{task_id}:{retries}"
        self.max_deliveries = settings.max_deliveries

    def count_task(self) -> int:
        """This delivery's number (1 for the first)."""
        return self.store.incr(self.key, "task")

    def count_file(self, index: int) -> int:
        """How many deliveries have started file `index`, this one included; the first delivery, which ran the
        whole task in one go and died somewhere in it, counts for every file."""
        return 1 + self.store.incr(self.key, f"file:{index}")

    def file_done(self, index: int) -> bool:
        return self.store.get(self.key, f"done:{index}") > 0

    def mark_file_done(self, index: int) -> None:
        self.store.incr(self.key, f"done:{index}")

    def forget(self) -> None:
        self.store.delete(self.key)


def ingest_redelivered(
    app: DocsumCelery, deliveries: TaskDeliveries, batch_id: int, paths: Sequence[str]
) -> IngestOutcome:
    """A redelivered ingest task: one file at a time, each committed and its summarize jobs enqueued at once; a file
    past the delivery cap fails with its reason instead of being read again."""
    from docsum.worker.tasks import CelerySender

    total = IngestOutcome(batch_id=batch_id)
    for index, path in enumerate(paths):
        if deliveries.file_done(index):
            continue
        started = deliveries.count_file(index)
        if started > deliveries.max_deliveries:
            reason = gave_up(started - 1)
            log.error("batch %s: %s: %s", batch_id, path, reason)
            outcome = fail_file(app.session_factory, app.docsum_settings, batch_id, path, reason, FailureClass.poison)
        else:
            outcome = ingest_files(app.session_factory, app.docsum_settings, batch_id, [path])
        CelerySender(app).summarize(outcome.to_summarize, batch_id)
        deliveries.mark_file_done(index)
        total.to_summarize += outcome.to_summarize
        total.report.items += outcome.report.items
    return total
