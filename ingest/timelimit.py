"""In-process time limits for one document's extraction. The hard limit is ingest.sandbox's (a child process
killed on a wall-clock deadline); these two stop the common slow cases early and without a process restart:
- `cpu_alarm`: SIGVTALRM after N seconds of process CPU time interrupts any Python code (pdfminer's layout
  analysis of a dense page, trafilatura on a huge page). Signals reach only the main thread, so in other
  threads it does nothing. SIGVTALRM rather than SIGALRM: pytest-timeout and others own the wall-clock alarm.
- `Deadline.check()`: a wall-clock deadline that extractors check in their own loops (the PDF device's callbacks),
  which works in any thread.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_REFIRE_S = 0.05  # after expiry the alarm repeats, in case a library swallows the first exception


def time_limit_reason(seconds: float) -> str:
    """The reason stored for a document whose extraction ran out of time (in or out of process)."""
    return f"extraction exceeded {seconds:g} s"


class TimeLimitExceeded(BaseException):
    """BaseException: libraries' `except Exception` blocks must not swallow it."""


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise TimeLimitExceeded


@contextmanager
def cpu_alarm(seconds: float) -> Iterator[None]:
    """Raise TimeLimitExceeded after `seconds` of process CPU time (main thread only; restores what was there)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(_signum: int, _frame: object) -> None:
        raise TimeLimitExceeded

    previous_handler = signal.signal(signal.SIGVTALRM, expire)
    previous_timer = signal.setitimer(signal.ITIMER_VIRTUAL, max(seconds, 0.001), _REFIRE_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, *previous_timer)
        signal.signal(signal.SIGVTALRM, previous_handler)
