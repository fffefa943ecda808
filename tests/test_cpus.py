"""On a CPU, torch's threads stay within the CPUs the process may use: in a container with a CPU limit, torch would
start one thread per core of the host, and those threads spend most of each scheduling period throttled."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from docsum.cpus import THREAD_OVERRIDES

IN_CI = os.environ.get("CI", "").lower() == "true"
REPO_ROOT = Path(__file__).resolve().parent.parent
# What a process sees of its thread budget: torch's pool before and after docsum loads the model on the CPU.
LOAD_ON_CPU = """
import json, torch
from docsum.config import Settings
from docsum.services.models import get_summarizer
before = torch.get_num_threads()
get_summarizer(Settings(device="cpu"), None)
print(json.dumps({"before": before, "after": torch.get_num_threads()}))
"""


def threads_around_model_load(env: dict[str, str], prefix: list[str] | None = None) -> dict[str, int]:
    clean = {k: v for k, v in os.environ.items() if k not in THREAD_OVERRIDES}
    out = subprocess.run(
        [*(prefix or []), sys.executable, "-c", LOAD_ON_CPU],
        env={**clean, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_loading_the_model_on_the_cpu_lowers_torchs_threads_to_the_usable_cpus() -> None:
    # LOKY_MAX_CPU_COUNT caps what joblib.cpu_count() reports, like a container's quota does (below, for real).
    seen = threads_around_model_load({"LOKY_MAX_CPU_COUNT": "1"})
    assert seen["after"] == 1


def test_a_thread_count_the_user_chose_is_kept() -> None:
    seen = threads_around_model_load({"LOKY_MAX_CPU_COUNT": "1", "OMP_NUM_THREADS": "2"})
    assert seen == {"before": 2, "after": 2}


def unavailable(reason: str) -> None:
    """A skip with the reason on a user's machine; under CI, where the check must run, a failure."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


@contextmanager
def one_cpu_cgroup() -> Iterator[list[str]]:
    """A cgroup of our own with a quota of one CPU, and the command prefix that runs a process inside it as a container
    sees it (its own cgroup namespace, with the hierarchy mounted afresh so that the quota is at the root). It takes
    root, unshare(1) and a cgroup CPU controller (v1 or v2): `unavailable` where one is missing."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        unavailable("a CPU-limited cgroup needs root and unshare(1)")
    probe = subprocess.run(["unshare", "--cgroup", "--mount", "true"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:  # root without CAP_SYS_ADMIN, as in an unprivileged container
        unavailable(f"unshare cannot make cgroup and mount namespaces here: {probe.stderr.strip()[:200]}")
    name = f"docsum-test-{uuid.uuid4().hex[:12]}"
    v1, v2 = Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup")
    v2_control = v2 / "cgroup.subtree_control"
    if (v1 / "cpu.cfs_quota_us").is_file():
        group, mount = v1 / name, "umount /sys/fs/cgroup/cpu && mount -t cgroup -o cpu cgroup /sys/fs/cgroup/cpu"
        limit = {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "100000"}
    elif v2_control.is_file() and "cpu" in v2_control.read_text().split():
        group, mount = v2 / name, "umount -l /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup"
        limit = {"cpu.max": "100000 100000"}
    else:
        unavailable("no cgroup CPU controller to set a quota with (neither v1's cpu nor v2's cpu.max)")
    try:
        group.mkdir()
        for file, value in limit.items():
            (group / file).write_text(value)
    except OSError as exc:
        if group.is_dir():
            group.rmdir()
        unavailable(f"cannot set a CPU quota here: {exc}")
    # The process joins the group, then unshare gives it the group as its cgroup root; "$0" "$@" is the command.
    enter = (
        f'echo $$ > {group}/cgroup.procs && exec unshare --cgroup --mount sh -c \'{mount} && exec "$0" "$@"\' "$0" "$@"'
    )
    try:
        yield ["sh", "-c", enter]
    finally:
        group.rmdir()


def test_in_a_container_limited_to_one_cpu_the_model_runs_one_thread() -> None:
    if (os.cpu_count() or 1) < 2:
        unavailable("one CPU: torch starts one thread anyway, so a quota changes nothing to check")
    with one_cpu_cgroup() as inside:
        seen = threads_around_model_load({}, prefix=inside)
    # torch sized its pool by the host's cores; docsum lowered it to the quota.
    assert seen["before"] >= 2 and seen["after"] == 1
