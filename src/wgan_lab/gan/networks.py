"""Generator and critic networks: the classic MLP and DCGAN-style convolutional nets."""
from __future__ import annotations

import keras
from keras import layers

ARCHITECTURES = ("mlp", "dcgan")
CRITIC_NORMS = ("none", "layer", "batch")


def dcgan_upsamplings(size: int) -> int | None:
    """How many stride-2 upsamplings make ``size`` from a 4x4 or 7x7 start (None: impossible)."""
    for doublings in range(2, 8):
        base, rest = divmod(size, 2**doublings)
        if rest == 0 and base in (4, 7):
            return doublings
    return None


def build_generator(architecture: str, latent_dim: int, image_shape: tuple[int, int, int],
                    hidden_units: tuple[int, ...] = (128, 128), filters: int = 64,
                    precision: str = "float32") -> keras.Model:
    """z -> image in [-1, 1] (tanh output, float32 whatever the ``precision``).

    ``precision="mixed_bfloat16"`` computes the hidden layers in bfloat16 with
    float32 weights; the output layer stays in float32.
    """
    height, width, channels = image_shape
    hidden = {"dtype": precision}
    z = keras.Input((latent_dim,), name="z")
    if architecture == "mlp":
        x = z
        for units in hidden_units:
            x = layers.LeakyReLU(0.2, **hidden)(layers.Dense(units, **hidden)(x))
        x = layers.Dense(height * width * channels, activation="tanh", dtype="float32")(x)
        out = layers.Reshape(image_shape)(x)
    elif architecture == "dcgan":
        doublings = dcgan_upsamplings(height)
        if doublings is None or height != width:
            raise ValueError(f"dcgan cannot make {height}x{width} images")
        base = height // 2**doublings
        width_mult = 2 ** (doublings - 1)
        x = layers.Dense(base * base * filters * width_mult, use_bias=False, **hidden)(z)
        # Synchronized batch norm keeps multi-replica training equal to one replica.
        x = layers.ReLU(**hidden)(layers.BatchNormalization(synchronized=True, **hidden)(x))
        x = layers.Reshape((base, base, filters * width_mult), **hidden)(x)
        for i in range(doublings - 1):
            x = layers.Conv2DTranspose(filters * width_mult // 2 ** (i + 1), 4, strides=2,
                                       padding="same", use_bias=False, **hidden)(x)
            x = layers.ReLU(**hidden)(layers.BatchNormalization(synchronized=True, **hidden)(x))
        out = layers.Conv2DTranspose(channels, 4, strides=2, padding="same",
                                     activation="tanh", dtype="float32")(x)
    else:
        raise ValueError(f"unknown architecture {architecture!r}")
    return keras.Model(z, out, name="generator")


def build_critic(architecture: str, image_shape: tuple[int, int, int],
                 hidden_units: tuple[int, ...] = (128, 128), filters: int = 64,
                 norm: str = "none", precision: str = "float32") -> keras.Model:
    """image -> [batch, 1] unbounded scores (logits for the GAN, critic values for WGANs).

    With ``precision="mixed_bfloat16"`` the hidden layers compute in bfloat16;
    the score layer stays in float32.
    """
    hidden = {"dtype": precision}
    image = keras.Input(image_shape, name="image")
    if architecture == "mlp":
        x = layers.Flatten(**hidden)(image)
        for units in hidden_units:
            x = _normalize(layers.Dense(units, **hidden)(x), norm, hidden)
            x = layers.LeakyReLU(0.2, **hidden)(x)
    elif architecture == "dcgan":
        doublings = dcgan_upsamplings(image_shape[0])
        if doublings is None:
            raise ValueError(f"dcgan cannot take {image_shape[0]}x{image_shape[1]} images")
        x = image
        for i in range(doublings):
            x = layers.Conv2D(filters * 2**i, 4, strides=2, padding="same", **hidden)(x)
            # The first layer is never normalised (as in DCGAN).
            x = layers.LeakyReLU(0.2, **hidden)(_normalize(x, norm, hidden) if i else x)
        x = layers.Flatten(**hidden)(x)
    else:
        raise ValueError(f"unknown architecture {architecture!r}")
    return keras.Model(image, layers.Dense(1, dtype="float32")(x), name="critic")


def _normalize(x, norm: str, hidden: dict):
    if norm == "batch":
        return layers.BatchNormalization(synchronized=True, **hidden)(x)
    if norm == "layer":
        return layers.LayerNormalization(**hidden)(x)
    return x
