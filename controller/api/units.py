"""CPU and memory as ECS spells them, turned into CPU units and MiB.

ECS accepts "512", 512, ".25 vCPU", "1 vcpu" for CPU and "1024", "1 GB", "1GB" for
memory, and reports the numeric string back. One parser serves validation (Fargate
sizes), the diff's normalization and the cost estimate.
"""

from __future__ import annotations

import math
import re

_CPU = re.compile(r"^\s*(\d*\.?\d+)\s*(vcpu)?\s*$", re.IGNORECASE)
_MEM = re.compile(r"^\s*(\d*\.?\d+)\s*(gb|gib|mb|mib)?\s*$", re.IGNORECASE)


def cpu_units(value: str | int) -> int:
    """CPU units (1024 per vCPU); ValueError when the text is not a CPU size."""
    if isinstance(value, int):
        return value
    match = _CPU.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a CPU size (use units like 512 or '0.5 vCPU')")
    number = float(match.group(1))
    units = number * 1024 if match.group(2) else number
    if not math.isfinite(units):  # hundreds of digits: float() gives inf, int() would raise
        raise ValueError(f"a {len(value)}-character value is not a CPU size (too large)")
    if units != int(units):
        raise ValueError(f"{value!r} is not a whole number of CPU units")
    return int(units)


def memory_mib(value: str | int) -> int:
    """Memory in MiB; ValueError when the text is not a memory size."""
    if isinstance(value, int):
        return value
    match = _MEM.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a memory size (use MiB like 1024 or '1 GB')")
    number = float(match.group(1))
    unit = (match.group(2) or "mb").lower()
    mib = number * 1024 if unit in ("gb", "gib") else number
    if not math.isfinite(mib):
        raise ValueError(f"a {len(value)}-character value is not a memory size (too large)")
    if mib != int(mib):
        raise ValueError(f"{value!r} is not a whole number of MiB")
    return int(mib)
