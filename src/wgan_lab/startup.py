"""Importing TensorFlow without GPU alarms on machines that cannot have a GPU.

The ``tensorflow`` wheel is built with CUDA. On a machine without an NVIDIA
driver it says so on stderr at import ("Could not find cuda drivers") and
again, as an ERROR, when it first looks for devices ("failed call to cuInit").
Neither is a fault there, but a user reads them as one. ``tensorflow-cpu``
would not print them, but it cannot sit beside ``tensorflow[and-cuda]`` (both
own the ``tensorflow`` package), so ``pip install -e ".[gpu]"`` could not add
GPU support to a CPU install. And ``TF_CPP_MIN_LOG_LEVEL=3`` would hide every
other C++ error too. So: when no NVIDIA driver is present, TensorFlow's
start-up output is captured and passed on without those lines only; with a
driver, nothing is touched, so a GPU problem is always shown. TensorFlow's
C++ INFO lines are off unless TF_CPP_MIN_LOG_LEVEL says otherwise (oneDNN's
notice comes before that setting is read); warnings and errors stay on.
"""
from __future__ import annotations

import ctypes.util
import os
import re
import sys
import tempfile
from pathlib import Path

# What TensorFlow prints on a machine without an NVIDIA driver, and nothing else.
NO_DRIVER_NOISE = re.compile(
    r"Could not find cuda drivers on your machine"
    r"|failed call to cuInit"
    r"|All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    # An INFO line on every CPU, printed before TF_CPP_MIN_LOG_LEVEL is read.
    r"|I0000 .*oneDNN custom operations are on")
# Set to 1 to see TensorFlow's start-up output unfiltered.
SHOW_ALL_ENV = "WGAN_LAB_TF_STARTUP_LOGS"


def nvidia_driver_present() -> bool:
    return Path("/proc/driver/nvidia/version").exists() or ctypes.util.find_library("cuda") is not None


def filter_startup_output(text: str) -> str:
    """``text`` without the lines TensorFlow prints because no NVIDIA driver exists."""
    return "".join(line for line in text.splitlines(keepends=True)
                   if not NO_DRIVER_NOISE.search(line))


def import_tensorflow():
    """Import TensorFlow and list its devices, quietly when there can be no GPU."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    if "tensorflow" in sys.modules or os.environ.get(SHOW_ALL_ENV) or nvidia_driver_present():
        import tensorflow as tf

        return tf
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            # Device discovery is where cuInit is called.
            tf.config.list_physical_devices()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            sys.stderr.write(filter_startup_output(captured.read().decode(errors="replace")))
            sys.stderr.flush()
    return tf
