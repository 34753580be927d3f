"""What connects configuration, registries and the compiled step, pinned.

The losses and penalties are tested on their own elsewhere; these tests check
that a variant's configuration reaches them: which loss and regularizer each
variant gets, that every strength parameter enters the step's result exactly
as its formula says, how the critic is built, and how the per-example draws
are shaped. Expected values are computed here, from the critic's own outputs
and input gradients, never with the code under test.
"""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tests.configs import tiny, variants
from wgan_lab.gan.inputs import step_noise
from wgan_lab.gan.step import TrainingStep

# Each configured variant and the paper pair it stands for.
PAPER_OBJECTIVES = {
    "gan": ("non_saturating", "none"),          # Goodfellow et al. 2014
    "wgan": ("wasserstein", "clip"),            # Arjovsky et al. 2017
    "wgan_gp": ("wasserstein", "gradient_penalty"),  # Gulrajani et al. 2017
    "lsgan": ("least_squares", "none"),         # Mao et al. 2017
    "hinge_sn": ("hinge", "spectral_norm"),     # Miyato et al. 2018
    "dragan": ("non_saturating", "dragan"),     # Kodali et al. 2017
    "ns_r1": ("non_saturating", "r1"),          # Mescheder et al. 2018
    "gan_120s": ("non_saturating", "none"),
    "wgan_120s": ("wasserstein", "clip"),
    "wgan_gp_120s": ("wasserstein", "gradient_penalty"),
    "gan_no_ema": ("non_saturating", "none"),
    "gan_paper": ("non_saturating", "none"),
    "wgan_paper": ("wasserstein", "clip"),
    "wgan_gp_paper": ("wasserstein", "gradient_penalty"),
    "gan_mlp_tuned": ("non_saturating", "none"),
    "wgan_mlp_tuned": ("wasserstein", "clip"),
    "wgan_gp_mlp_tuned": ("wasserstein", "gradient_penalty"),
    "gan_dcgan_tuned": ("non_saturating", "none"),
    "wgan_dcgan_tuned": ("wasserstein", "clip"),
    "wgan_gp_dcgan_tuned": ("wasserstein", "gradient_penalty"),
    "gan_mlp256_tuned": ("non_saturating", "none"),
    "wgan_mlp256_tuned": ("wasserstein", "clip"),
    "wgan_gp_mlp256_tuned": ("wasserstein", "gradient_penalty"),
}


def softplus(x):
    return np.logaddexp(0.0, x)


# Per-example (critic loss, generator loss) of each loss name, written out in NumPy.
LOSS_FORMULAS = {
    "minimax": (lambda r, f: softplus(-r) + softplus(f), lambda f: -softplus(f)),
    "non_saturating": (lambda r, f: softplus(-r) + softplus(f), lambda f: softplus(-f)),
    "wasserstein": (lambda r, f: f - r, lambda f: -f),
    "least_squares": (lambda r, f: 0.5 * (r - 1) ** 2 + 0.5 * f ** 2,
                      lambda f: 0.5 * (f - 1) ** 2),
    "hinge": (lambda r, f: np.maximum(0, 1 - r) + np.maximum(0, 1 + f), lambda f: -f),
}

SHAPE = (28, 28, 1)
BATCH = 8


def make_step(variant: str, **sections) -> TrainingStep:
    return TrainingStep(tiny(variant, **sections), SHAPE, tf.distribute.get_strategy())


def scores(critic, x) -> np.ndarray:
    return np.asarray(critic(x, training=True))[:, 0].astype(np.float64)


def gradient_norms(critic, x) -> np.ndarray:
    """||d critic / d x|| per example, over every pixel, with a tape of its own."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = tf.reduce_sum(critic(x, training=True))
    grads = tape.gradient(out, x).numpy().astype(np.float64)
    return np.sqrt((grads ** 2).reshape(len(grads), -1).sum(axis=1))


def inputs(seed: int = 0):
    rng = np.random.default_rng(seed)
    real = rng.uniform(-1, 1, (BATCH, *SHAPE)).astype(np.float32)
    fake = rng.uniform(-1, 1, (BATCH, *SHAPE)).astype(np.float32)
    draws = {"epsilon": rng.uniform(0, 1, BATCH).astype(np.float32),
             "perturbation": rng.uniform(0, 1, (BATCH, *SHAPE)).astype(np.float32),
             "data_std": np.float32(0.4)}
    return real, fake, draws


def expected_penalty(regularizer: str, critic, real, fake, draws) -> np.ndarray:
    """The per-example penalty term of each paper, from the critic's own gradients."""
    eps = draws["epsilon"].reshape(-1, 1, 1, 1)
    if regularizer == "gradient_penalty":
        return (gradient_norms(critic, eps * real + (1 - eps) * fake) - 1) ** 2
    if regularizer == "dragan":
        perturbed = real + 0.5 * draws["data_std"] * draws["perturbation"]
        return (gradient_norms(critic, real + eps * (perturbed - real)) - 1) ** 2
    if regularizer == "r1":
        return 0.5 * gradient_norms(critic, real) ** 2
    return np.zeros(len(real))


def critic_loss(step: TrainingStep, real, fake, draws) -> float:
    """The step's critic loss; the critic's state is put back after it (a spectrally
    normalised critic renormalises its kernels at every training call)."""
    state = [v.numpy() for v in step.critic.variables]
    step_draws = {k: tf.constant(v) for k, v in draws.items()}
    _, metrics = step._critic_grads_fn(tf.constant(real), tf.constant(fake), step_draws)
    for variable, value in zip(step.critic.variables, state):
        variable.assign(value)
    return float(metrics["critic_loss"])


# The conditional variants: the conditioning each adds to its unconditional default,
# whose loss, penalty and optimizer it keeps (their step: tests/gan/test_conditioning.py).
CONDITIONAL = {"cgan": ("gan", "concat"), "acgan": ("gan", "auxiliary"),
               "cwgan_gp": ("wgan_gp", "projection")}


def test_every_configured_variant_is_in_the_table():
    assert sorted(variants()) == sorted([*PAPER_OBJECTIVES, *CONDITIONAL])


@pytest.mark.parametrize("variant", sorted(CONDITIONAL))
def test_a_conditional_variant_is_its_default_plus_the_conditioning(variant):
    base, conditioning = CONDITIONAL[variant]
    config, default = tiny(variant).as_dict(), tiny(base).as_dict()
    assert config["model"].pop("conditioning") == conditioning
    assert default["model"].pop("conditioning") == "none"
    for values in (config, default):
        values.pop("variant")
    assert config == default


@pytest.mark.parametrize("variant", sorted(PAPER_OBJECTIVES))
def test_variant_gets_its_papers_loss_and_regularizer(variant):
    """The configured loss and penalty are the ones the step computes, value for value."""
    loss, regularizer = PAPER_OBJECTIVES[variant]
    step = make_step(variant)
    assert (step.config.objective.loss, step.config.objective.regularizer) == (loss, regularizer)
    real, fake, draws = inputs()
    critic_formula, generator_formula = LOSS_FORMULAS[loss]
    weight = step.config.objective.penalty_weight
    actual = critic_loss(step, real, fake, draws)
    # Real first, then fake: the order of the step's calls.
    expected = np.mean(critic_formula(scores(step.critic, real), scores(step.critic, fake))
                       + weight * expected_penalty(regularizer, step.critic, real, fake, draws))
    np.testing.assert_allclose(actual, expected, rtol=2e-4, atol=1e-6)

    z = tf.constant(np.random.default_rng(1).standard_normal(
        (BATCH, step.config.model.latent_dim)).astype(np.float32))
    state = [v.numpy() for v in step.critic.variables]
    _, metrics = step._generator_grads_fn(z)
    for variable, value in zip(step.critic.variables, state):
        variable.assign(value)
    fake_scores = scores(step.critic, step.generator(z, training=True))
    np.testing.assert_allclose(float(metrics["generator_loss"]),
                               np.mean(generator_formula(fake_scores)), rtol=2e-4, atol=1e-6)


@pytest.mark.parametrize("variant", ["wgan_gp", "dragan", "ns_r1"])
def test_penalty_weight_scales_the_penalty_term_exactly(variant):
    """loss(lambda) - loss(0) = lambda * mean penalty, for two lambdas (gamma for R1)."""
    real, fake, draws = inputs(2)
    losses = {}
    for weight in (0.5, 7.0):
        step = make_step(variant, objective={"penalty_weight": weight})
        losses[weight] = critic_loss(step, real, fake, draws)
    _, regularizer = PAPER_OBJECTIVES[variant]
    penalty = np.mean(expected_penalty(regularizer, step.critic, real, fake, draws))
    assert penalty > 1e-3
    np.testing.assert_allclose(losses[7.0] - losses[0.5], 6.5 * penalty, rtol=1e-3)


@pytest.mark.parametrize("clip_value", [0.005, 0.02])
def test_clip_value_bounds_every_critic_weight_after_a_step(clip_value):
    config = tiny("wgan", objective={"clip_value": clip_value})
    from wgan_lab.gan.trainer import Budget, GANTrainer

    trainer = GANTrainer(config, SHAPE)
    images = np.random.default_rng(0).uniform(-1, 1, (64, *SHAPE)).astype(np.float32)
    trainer.fit(images, budget=Budget("steps", 1))
    largest = max(float(np.max(np.abs(v.numpy()))) for v in trainer.critic.trainable_variables)
    # Glorot weights of a 16-unit layer are far larger than c: some sit on the bound.
    assert largest == pytest.approx(clip_value, rel=1e-6)


@pytest.mark.parametrize("n_critic", [1, 3])
def test_n_critic_critic_updates_per_generator_update(n_critic):
    from wgan_lab.gan.trainer import Budget, GANTrainer

    trainer = GANTrainer(tiny("wgan_gp", objective={"n_critic": n_critic}), SHAPE)
    images = np.random.default_rng(0).uniform(-1, 1, (64, *SHAPE)).astype(np.float32)
    trainer.fit(images, budget=Budget("steps", 4))
    assert int(trainer.compiled.critic_optimizer.iterations) == 4 * n_critic
    assert int(trainer.compiled.generator_optimizer.iterations) == 4


def test_learning_rates_and_betas_reach_their_optimizers():
    step = make_step("gan", optimizer={"learning_rate": 3e-3, "critic_learning_rate": 7e-5,
                                       "beta_1": 0.1, "beta_2": 0.8})
    assert float(step.generator_optimizer.learning_rate) == pytest.approx(3e-3)
    assert float(step.critic_optimizer.learning_rate) == pytest.approx(7e-5)
    for optimizer in (step.generator_optimizer, step.critic_optimizer):
        assert (optimizer.beta_1, optimizer.beta_2) == pytest.approx((0.1, 0.8))


def _weighted_layers(model):
    import keras

    return [layer for layer in model.layers
            if isinstance(layer, keras.layers.SpectralNormalization)
            or any("kernel" in w.path for w in layer.weights)]


@pytest.mark.parametrize("architecture", ["mlp", "dcgan"])
def test_spectral_norm_variant_normalises_every_critic_layer(architecture):
    import keras

    model = {"architecture": architecture, "filters": 8} if architecture == "dcgan" else {}
    step = make_step("hinge_sn", model=model)
    layers = _weighted_layers(step.critic)
    assert len(layers) >= 3
    assert all(isinstance(layer, keras.layers.SpectralNormalization) for layer in layers), \
        [type(layer).__name__ for layer in layers]
    # ... and only its critic: the generator and other variants' critics are plain.
    assert not any(isinstance(layer, keras.layers.SpectralNormalization)
                   for layer in step.generator.layers)
    plain = make_step("gan", model=model)
    assert not any(isinstance(layer, keras.layers.SpectralNormalization)
                   for layer in _weighted_layers(plain.critic))


@pytest.mark.parametrize("variant", ["wgan_gp", "dragan"])
def test_penalty_draws_are_per_example_and_fresh_per_critic_update(variant):
    config = tiny(variant, objective={"n_critic": 3})
    batch, latent = config.optimizer.batch_size, config.model.latent_dim
    noise = {k: v.numpy() for k, v in step_noise(config, tf.constant(5, tf.int64), 0, 1,
                                                 SHAPE).items()}
    assert noise["epsilon"].shape == (3, batch)              # one epsilon per example
    assert noise["z"].shape == (4, batch, latent)            # n_critic + 1 noise batches
    assert noise["perturbation"].shape == (3, batch, *SHAPE)  # one draw per pixel
    for key in ("epsilon", "z", "perturbation"):
        values = noise[key]
        # No two examples, and no two critic updates, share a draw.
        assert len(np.unique(values[0].reshape(batch, -1), axis=0)) == batch, key
        assert not np.allclose(values[0], values[1]), key
    assert ((noise["epsilon"] >= 0) & (noise["epsilon"] <= 1)).all()
    # Two replicas see the same global draws, split by example.
    halves = [step_noise(config, tf.constant(5, tf.int64), r, 2, SHAPE) for r in (0, 1)]
    for key in noise:
        joined = np.concatenate([h[key].numpy() for h in halves], axis=1)
        np.testing.assert_array_equal(joined, noise[key])
