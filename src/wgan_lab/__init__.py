"""wgan-lab: from GAN to WGAN, with evidence."""

__version__ = "0.1"

# Before any module imports TensorFlow, so that a CPU-only machine starts quietly.
from wgan_lab.startup import import_tensorflow as _import_tensorflow  # noqa: E402

_import_tensorflow()
