"""Numeric precision of training: float32, or bfloat16 compute where the hardware has it."""
from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from .networks import NETWORKS

PRECISIONS = ("auto", "float32", "mixed_bfloat16")


def cpu_has_bfloat16_matrix_units(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True on x86 CPUs with AMX-BF16 tiles (Intel Sapphire Rapids and later).

    oneDNN runs bfloat16 matmuls and convolutions on them several times faster
    than float32; without them bfloat16 is emulated and slower.
    """
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    return any(line.startswith("flags") and "amx_bf16" in line.split()
               for line in text.splitlines())


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name as the kernel reports it, or "unknown"."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def resolve_precision(precision: str, architecture: str) -> str:
    """The concrete precision for ``precision``.

    "auto" picks bfloat16 compute for networks whose registry entry says it
    pays off (the convolutional nets: 1.4x-1.6x faster training steps,
    benchmarks/training.py) on CPUs with bfloat16 matrix units. GPUs stay in
    float32: float16 needs loss scaling, which this trainer does not do, and no
    GPU was at hand to validate bfloat16 on one.
    """
    if precision != "auto":
        return precision
    if (NETWORKS[architecture].reduced_precision_pays
            and not tf.config.list_physical_devices("GPU")
            and cpu_has_bfloat16_matrix_units()):
        return "mixed_bfloat16"
    return "float32"
