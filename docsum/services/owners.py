"""Which process runs an embedded batch, and whether that process is gone.

A batch run by the embedded worker lives and dies with the process that submitted it: nothing else will ever
summarize its queued jobs. Its params keep the owner (`{"host", "pid", "started"}`); a batch still `running` whose
owner on this host no longer exists (the pid is gone, or now belongs to a process started at another time: a reused
pid) was interrupted, by a kill, a crash or a power cut. A batch owned on another host is never judged from here.
"""

from __future__ import annotations

import os
import socket
from typing import Any


def _started(pid: int) -> str | None:
    """The start time of process `pid` in clock ticks since boot (Linux /proc), or None where that cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22, counted after the command name, which may hold spaces


def this_process() -> dict[str, Any]:
    """The owner record of the calling process."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "started": _started(pid)}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def owner_gone(owner: Any) -> bool:
    """Whether the owner record names a process of this host that no longer runs."""
    if (
        not isinstance(owner, dict)
        or owner.get("host") != socket.gethostname()
        or not isinstance(owner.get("pid"), int)
    ):
        return False
    pid = owner["pid"]
    if not _alive(pid):
        return True
    started = owner.get("started")
    return started is not None and _started(pid) not in (None, started)
