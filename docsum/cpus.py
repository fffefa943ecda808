"""How many CPUs this process may use, and torch's thread pool kept within them.

`os.cpu_count()` counts the host's CPUs. A process in a container with a CPU limit (`docker run --cpus`, a Kubernetes
CPU limit: a cgroup CPU quota) or pinned with taskset may use fewer. Torch sizes its intra-op thread pool by the
host's physical cores and the affinity mask, not by the quota: on a 32-core host with a 4-CPU limit it starts 32
threads, which use up the quota early in each scheduling period and then wait, throttled, for the rest of it.
joblib's `cpu_count` reads the affinity mask, the cgroup quota (v1 and v2) and `LOKY_MAX_CPU_COUNT`.

A leaf like `docsum.config`: it imports nothing of docsum.
"""

from __future__ import annotations

import os

# Set by a user who sized torch's threads on purpose: docsum leaves the pool alone.
THREAD_OVERRIDES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def usable_cpus() -> int:
    """CPUs this process may keep busy: the host's, less what affinity and a container's CPU quota take away."""
    import joblib  # imported here: it pulls in numpy and multiprocessing, which only these callers need

    return max(1, joblib.cpu_count())


def fit_torch_threads() -> int:
    """Lower torch's intra-op threads to `usable_cpus()` where it would start more; never raises them (torch counts
    physical cores, and hyperthreads do not add matmul throughput). Returns the thread count now in use.
    OMP_NUM_THREADS or MKL_NUM_THREADS in the environment mean the user chose: then nothing changes."""
    import torch

    if not any(os.environ.get(name) for name in THREAD_OVERRIDES):
        usable = usable_cpus()
        if torch.get_num_threads() > usable:
            torch.set_num_threads(usable)
    return torch.get_num_threads()
