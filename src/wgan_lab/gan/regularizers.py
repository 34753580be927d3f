"""What keeps the critic in check: Lipschitz constraints and gradient penalties.

Each entry of ``REGULARIZERS`` says how it acts, and the trainer only asks:
a ``penalty`` adds ``penalty_weight`` times a per-example term to the critic
loss; ``constrain`` runs after every critic update; ``spectral_norm`` builds
the critic with spectrally normalised layers. Adding a regularizer is one
entry here and one test on a critic whose gradient is known in closed form.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import tensorflow as tf

from wgan_lab.core import Registry

Scores = Callable[[tf.Tensor], tf.Tensor]


def _per_example(values: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """Reshape one value per example so that it broadcasts over ``like``'s images."""
    return tf.reshape(tf.cast(values, like.dtype), [-1] + [1] * (len(like.shape) - 1))


def input_gradient_norms(critic: Scores, points: tf.Tensor) -> tf.Tensor:
    """||grad_x f(x)||_2 per example, the norm over all non-batch axes."""
    with tf.GradientTape() as tape:
        tape.watch(points)
        scores = critic(points)
    grads = tape.gradient(scores, points)
    axes = list(range(1, len(grads.shape)))
    # The small constant inside the sqrt keeps the norm's gradient finite at 0.
    return tf.sqrt(tf.reduce_sum(tf.square(grads), axis=axes) + 1e-12)


def gradient_penalty(critic: Scores, real: tf.Tensor, fake: tf.Tensor,
                     draws: dict[str, tf.Tensor]) -> tf.Tensor:
    """(||grad f(x_hat)|| - 1)^2 per example on x_hat = eps x + (1 - eps) G(z) (Gulrajani et al. 2017).

    ``draws["epsilon"]`` holds one U[0, 1] draw per example.
    """
    eps = _per_example(draws["epsilon"], real)
    return tf.square(input_gradient_norms(critic, eps * real + (1.0 - eps) * fake) - 1.0)


def dragan_penalty(critic: Scores, real: tf.Tensor, fake: tf.Tensor,
                   draws: dict[str, tf.Tensor]) -> tf.Tensor:
    """(||grad f(x_hat)|| - 1)^2 around the real data (Kodali et al. 2017).

    As in the authors' code: x_p = x + 0.5 std u with u ~ U[0, 1] per pixel,
    then x_hat = x + eps (x_p - x) with one eps ~ U[0, 1] per example. ``std``
    (``draws["data_std"]``) is the training set's pixel std, where the authors
    took each batch's: with 64 images the two differ little, and a constant
    keeps R replicas exactly equal to one without a collective in the step.
    """
    scale = 0.5 * tf.cast(draws["data_std"], real.dtype)
    perturbed = real + scale * tf.cast(draws["perturbation"], real.dtype)
    eps = _per_example(draws["epsilon"], real)
    return tf.square(input_gradient_norms(critic, real + eps * (perturbed - real)) - 1.0)


def r1_penalty(critic: Scores, real: tf.Tensor, fake: tf.Tensor,
               draws: dict[str, tf.Tensor]) -> tf.Tensor:
    """1/2 ||grad f(x)||^2 on real data (Mescheder et al. 2018); ``penalty_weight`` is gamma."""
    return 0.5 * tf.square(input_gradient_norms(critic, real))


def clip_weights(variables, clip_value: float) -> None:
    """WGAN's Lipschitz constraint: every critic weight into [-c, c]."""
    for variable in variables:
        variable.assign(tf.clip_by_value(variable, -clip_value, clip_value))


@dataclass(frozen=True)
class Regularizer:
    summary: str
    paper: str = ""
    penalty: Callable[[Scores, tf.Tensor, tf.Tensor, dict], tf.Tensor] | None = None
    # Called after every critic update with (critic variables, clip_value).
    constrain: Callable[[list, float], None] | None = None
    spectral_norm: bool = False
    # The objective parameter that sets its strength (must be positive), if any.
    strength: str | None = None
    # Draws image-sized U[0, 1] noise per critic update for the penalty, and
    # reads the training set's pixel std.
    needs_perturbation: bool = False

    @property
    def per_example_gradients(self) -> bool:
        """Penalties on per-example input gradients; batch norm would mix the examples."""
        return self.penalty is not None


REGULARIZERS: Registry[Regularizer] = Registry("regularizer", {
    "none": Regularizer("none"),
    "clip": Regularizer("weights clipped to [-c, c]", "Arjovsky et al. 2017",
                        constrain=clip_weights, strength="clip_value"),
    "gradient_penalty": Regularizer("λ (‖∇f(x̂)‖ - 1)², x̂ between real and fake",
                                    "Gulrajani et al. 2017", penalty=gradient_penalty,
                                    strength="penalty_weight"),
    "dragan": Regularizer("λ (‖∇f(x̂)‖ - 1)², x̂ a perturbed real sample",
                          "Kodali et al. 2017", penalty=dragan_penalty,
                          strength="penalty_weight", needs_perturbation=True),
    "r1": Regularizer("γ/2 ‖∇f(x)‖² on real samples", "Mescheder et al. 2018",
                      penalty=r1_penalty, strength="penalty_weight"),
    "spectral_norm": Regularizer("every critic layer divided by its largest singular value",
                                 "Miyato et al. 2018", spectral_norm=True),
})
