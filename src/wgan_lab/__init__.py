"""wgan-lab
"""

__version__ = "0.1"
