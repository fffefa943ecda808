"""Which floating-point type the model computes in: bf16 where the processor multiplies it natively, fp32 elsewhere.

CPUs with AMX or AVX512-BF16 run bf16 matrix products several times faster than fp32 (oneDNN uses the tile or
dot-product instructions); CPUs without them emulate bf16, which is slower than fp32. CUDA GPUs since Ampere run bf16
natively; earlier ones emulate it. The same rule serves inference and training.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path
from typing import Literal

import torch

Precision = Literal["auto", "fp32", "bf16"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
# CPU feature flags (Linux /proc/cpuinfo) that mean native bf16 matrix arithmetic.
_X86_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
_ARM_BF16_FEATURES = frozenset({"bf16"})


def cpu_flags(cpuinfo: str) -> set[str]:
    """The feature words of /proc/cpuinfo's `flags` (x86) or `Features` (Arm) lines."""
    found: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            found.update(value.split())
    return found


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when this CPU has bf16 matrix instructions (AMX-BF16 or AVX512-BF16 on x86, BF16 on Arm)."""
    try:
        flags = cpu_flags(Path("/proc/cpuinfo").read_text())
    except OSError:  # not Linux: no cheap, reliable probe, so stay with fp32 (never slower than emulated bf16)
        return False
    machine = platform.machine().lower()
    wanted = _ARM_BF16_FEATURES if machine in ("aarch64", "arm64") else _X86_BF16_FLAGS
    return bool(flags & wanted)


def cuda_has_native_bf16(capability: tuple[int, int], rocm: bool = False) -> bool:
    """True for GPUs whose matrix units take bf16: NVIDIA from Ampere (compute capability 8.0) on, and AMD's (ROCm).
    Earlier NVIDIA GPUs (T4, V100) accept bf16 tensors but emulate the arithmetic, which is slower than fp32;
    `torch.cuda.is_bf16_supported()` counts that emulation as support, so it cannot decide this."""
    return rocm or capability >= (8, 0)


def parse_precision(value: str | None) -> Precision:
    """A setting's value ('auto', 'fp32', 'bf16'; also 'float32', 'bfloat16'), or a ValueError naming the choices."""
    text = (value or "auto").strip().lower()
    text = {"float32": "fp32", "bfloat16": "bf16", "": "auto"}.get(text, text)
    if text not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {value!r}")
    return text  # type: ignore[return-value]


def compute_dtype(device: torch.device | str, precision: str | None = "auto") -> torch.dtype | None:
    """The autocast dtype for `device`: bf16 or None (fp32). 'auto' picks bf16 where the hardware runs it natively;
    'bf16' forces it (slow where emulated); 'fp32' never uses it."""
    device = torch.device(device)
    choice = parse_precision(precision)
    if choice == "fp32":
        return None
    if choice == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        native = cuda_has_native_bf16(torch.cuda.get_device_capability(device), rocm=torch.version.hip is not None)
        return torch.bfloat16 if native else None
    if device.type == "cpu":
        return torch.bfloat16 if cpu_has_native_bf16() else None
    return None


def dtype_name(dtype: torch.dtype | None) -> str:
    """'bf16' or 'fp32', as settings, stats and run records spell it."""
    return "bf16" if dtype == torch.bfloat16 else "fp16" if dtype == torch.float16 else "fp32"


def first_flip_gap(reference: list[float], other: list[float]) -> float | None:
    """Where two scorings of one document rank its sentences differently: the reference scores' gap between the first
    two sentences the rankings put in opposite order (a near tie when small); None when the rankings agree. Selection
    reads only the ranking, so equal rankings mean equal picks."""
    ranked = sorted(range(len(reference)), key=lambda j: -reference[j])
    ranked_other = sorted(range(len(other)), key=lambda j: -other[j])
    for a, b in zip(ranked, ranked_other):
        if a != b:
            return abs(reference[a] - reference[b])
    return None
