"""Extraction in a child process that can be killed: a hard wall-clock limit and a memory ceiling per document.

A signal cannot stop C code (lxml's XPath in trafilatura, zlib inflating a PDF stream) and reaches only the main
thread, while documents are extracted in Celery pool threads and in the CLI's embedded worker thread. So every
document is extracted in a separate interpreter that the calling thread waits on with a wall-clock timeout and
kills when it runs over:

- the child is a fresh `python -m docsum.ingest.sandbox` (fork+exec, never a bare fork of a process that may hold
  CUDA or threads, and none of the parent's modules: no torch), reused for the next document and restarted after
  a kill or a crash, so the per-document cost is one pipe round trip;
- its address space is capped with RLIMIT_AS before it imports anything, so an allocation past the ceiling fails
  in the child (MemoryError, or the child dies) and the worker never swaps or gets OOM-killed;
- it arms a SIGALRM with the default action (terminate, no Python handler needed, so it fires inside C code too)
  shortly after the parent's deadline: an orphaned child (its worker SIGKILLed) ends on its own.

Requests and replies are length-prefixed pickles on the child's stdin/stdout (our own process on both ends);
the child's fd 1 is pointed at stderr so that a library's print() cannot corrupt the stream.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from typing import IO, Any

from docsum.config import Settings
from docsum.errors import FailureClass
from docsum.ingest.document import Extracted
from docsum.ingest.errors import ExtractionError
from docsum.ingest.timelimit import time_limit_reason

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 120.0  # importing pdfminer and trafilatura on a loaded machine; not part of a document's limit
SELF_KILL_GRACE_S = 5  # the child's own alarm, after the parent's deadline: only matters when the parent is gone
_HEADER = struct.Struct("!Q")


def memory_limit_reason(mib: int) -> str:
    return f"extraction exceeded memory limit of {mib} MiB"


# --- the child ---------------------------------------------------------------------------------------------------


def _send(stream: IO[bytes], message: object) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def _read_exactly(stream: IO[bytes], n: int) -> bytes | None:
    parts: list[bytes] = []
    while n:
        part = stream.read(n)
        if not part:
            return None
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def _receive(stream: IO[bytes]) -> Any:
    header = _read_exactly(stream, _HEADER.size)
    if header is None:
        return None
    payload = _read_exactly(stream, _HEADER.unpack(header)[0])
    return None if payload is None else pickle.loads(payload)


_WARM_UP_PAGE = (
    b"<html><head><title>Warm-up</title></head><body><article><p>The extractors load their models and tables on "
    b"first use. This page makes them do it before the first document's clock starts.</p></article></body></html>"
)


def _warm_up(extract_document: Any) -> None:
    try:
        extract_document(_WARM_UP_PAGE, "warm-up.html", Settings(database_url="sqlite://"))
    except Exception:  # noqa: BLE001 - a warm-up is an optimization; the first document reports any real error
        pass


def _child_main(memory_mib: int) -> None:
    import resource

    if memory_mib > 0:
        ceiling = memory_mib * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints go to stderr, not into the reply stream
    requests = sys.stdin.buffer
    signal.signal(signal.SIGALRM, signal.SIG_DFL)

    from docsum.ingest.extract import extract_document
    from docsum.ingest.pdf import extract_pdf  # noqa: F401 - imported now, not inside the first document's limit

    _warm_up(extract_document)
    _send(replies, ("ready", os.getpid()))
    while (request := _receive(requests)) is not None:
        data, name, settings = request
        signal.setitimer(signal.ITIMER_REAL, settings.max_extract_seconds + SELF_KILL_GRACE_S)
        try:
            reply: tuple[str, object] = ("ok", extract_document(data, name, settings))
        except ExtractionError as err:
            reply = ("failed", (err.reason, err.failure.value))
        except MemoryError:
            reply = ("memory", None)
        except Exception as err:  # noqa: BLE001 - a library bug on one document must not stop the run
            reply = ("failed", (f"extraction error: {type(err).__name__}: {err}"[:1000], FailureClass.internal.value))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        del data, request
        _send(replies, reply)
        if reply[0] == "memory":
            return  # a heap that hit the ceiling is best thrown away; the parent starts a fresh child


# --- the parent --------------------------------------------------------------------------------------------------


class _Died(Exception):
    pass


class _Child:
    """One extraction process and its pipes; used by one thread at a time."""

    def __init__(self, memory_mib: int) -> None:
        self.memory_mib = memory_mib
        self.process = subprocess.Popen(
            [sys.executable, "-m", "docsum.ingest.sandbox", str(memory_mib)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
            # Its own process group, so that a kill also ends what it started (Tesseract), which would otherwise
            # run on, orphaned, for up to its own page limit.
            process_group=0,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin = self.process.stdin
        self.stdout_fd = self.process.stdout.fileno()
        try:
            kind, _pid = self._reply(time.monotonic() + STARTUP_TIMEOUT_S)
        except (_Died, TimeoutError) as err:
            self.kill()
            raise RuntimeError(f"the extraction process did not start ({err or 'timed out'})") from err
        assert kind == "ready"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def _read(self, n: int, deadline: float) -> bytes:
        parts: list[bytes] = []
        while n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self.stdout_fd], [], [], remaining)
            if not ready:
                raise TimeoutError
            part = os.read(self.stdout_fd, min(n, 1 << 20))
            if not part:
                raise _Died
            parts.append(part)
            n -= len(part)
        return b"".join(parts)

    def _reply(self, deadline: float) -> tuple[str, Any]:
        (size,) = _HEADER.unpack(self._read(_HEADER.size, deadline))
        # The reply has started: the rest follows at once, whatever the deadline.
        return pickle.loads(self._read(size, time.monotonic() + STARTUP_TIMEOUT_S))

    def extract(self, data: bytes, name: str, settings: Settings) -> tuple[str, Any]:
        try:
            _send(self.stdin, (data, name, settings))
        except (BrokenPipeError, OSError) as err:
            raise _Died from err
        return self._reply(time.monotonic() + settings.max_extract_seconds)

    def kill(self) -> None:
        # The group outlives the child while one of its processes runs; the unreaped child keeps its id from reuse.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass

    def close(self) -> None:
        """Ask an idle child to exit (end of input), then make sure it did."""
        try:
            self.stdin.close()
            self.process.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()


class _Pool:
    """Idle children of this process, shared by its threads (a forked process starts with none of its own)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: list[_Child] = []
        self.pid = os.getpid()

    def checkout(self, memory_mib: int) -> _Child:
        with self.lock:
            if self.pid != os.getpid():  # inherited through fork: those pipes belong to the parent process
                self.idle, self.pid = [], os.getpid()
            while self.idle:
                child = self.idle.pop()
                if child.alive and child.memory_mib == memory_mib:
                    return child
                child.kill()
        return _Child(memory_mib)

    def checkin(self, child: _Child) -> None:
        with self.lock:
            if child.alive and self.pid == os.getpid():
                self.idle.append(child)
                return
        child.kill()

    def close_all(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        if self.pid == os.getpid():
            for child in idle:
                child.close()


_pool = _Pool()
atexit.register(_pool.close_all)


def _death(child: _Child, settings: Settings) -> ExtractionError:
    code = child.process.wait()
    if code == -signal.SIGALRM:
        return ExtractionError(time_limit_reason(settings.max_extract_seconds), FailureClass.timeout)
    what = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
    if child.memory_mib > 0:  # the usual death under a ceiling: the kernel's OOM killer or an allocator abort
        return ExtractionError(
            f"extraction process died ({what}; memory limit {child.memory_mib} MiB)", FailureClass.too_large
        )
    return ExtractionError(f"extraction process died ({what})", FailureClass.unreadable)


def extract_isolated(data: bytes, name: str, settings: Settings) -> Extracted:
    """Extract one document in a killable child process under settings.max_extract_seconds (wall clock) and
    settings.max_extract_memory_mib; raises ExtractionError with the reason to store, as extract_document does."""
    child = _pool.checkout(settings.max_extract_memory_mib)
    try:
        kind, value = child.extract(data, name, settings)
    except TimeoutError:
        child.kill()
        log.warning("extraction of %s exceeded %g s; its process was killed", name, settings.max_extract_seconds)
        raise ExtractionError(time_limit_reason(settings.max_extract_seconds), FailureClass.timeout) from None
    except _Died:
        death = _death(child, settings)
        child.kill()
        log.warning("extraction of %s: %s", name, death.reason)
        raise death from None
    except BaseException:
        child.kill()  # interrupted mid-request (KeyboardInterrupt, a task revoked): the stream is out of step
        raise
    if kind == "memory":
        child.kill()  # it exits by itself after a MemoryError; never hand it the next document
        raise ExtractionError(memory_limit_reason(settings.max_extract_memory_mib), FailureClass.too_large)
    _pool.checkin(child)
    if kind == "ok":
        return value
    reason, failure = value
    raise ExtractionError(reason, FailureClass(failure))


if __name__ == "__main__":
    _child_main(int(sys.argv[1]))
