"""Class conditioning against hand-computed values: the projection critic, AC-GAN's
loss, the per-example penalty at each example's own label, and a generator that
makes the class it is asked for."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.configs import tiny
from wgan_lab.core import ConfigError
from wgan_lab.evaluation.evaluate import generate
from wgan_lab.gan.conditioning import LABEL_ONE_HOT, class_cross_entropy, generator_classes
from wgan_lab.gan.networks import build_critic, build_generator
from wgan_lab.gan.step import TrainingStep
from wgan_lab.pipelines.reporting.nodes import generate_images

SHAPE, CLASSES = (4, 4, 1), 3


def config(conditioning, base="gan", **objective):
    return tiny(base, model={"conditioning": conditioning, "hidden_units": [5]},
                objective=objective)


def last_features(critic: keras.Model, images, labels) -> np.ndarray:
    """The critic's features before its score: the output of its last LeakyReLU."""
    relu = [layer for layer in critic.layers if isinstance(layer, keras.layers.LeakyReLU)][-1]
    return np.asarray(keras.Model(critic.inputs, relu.output)([images, labels]))


def test_projection_critic_adds_the_label_embedding_dotted_with_the_features():
    critic = build_critic(SHAPE, config("projection").model, n_classes=CLASSES)
    images = np.random.default_rng(0).uniform(-1, 1, (6, *SHAPE)).astype(np.float32)
    labels = np.array([0, 1, 2, 2, 1, 0], np.int32)
    phi = last_features(critic, images, labels)
    w, b = _score_weights(critic)
    embedding = critic.get_layer("label_embedding").get_weights()[0]
    expected = phi @ w[:, 0] + b[0] + (embedding[labels] * phi).sum(axis=1)
    np.testing.assert_allclose(np.asarray(critic([images, labels]))[:, 0], expected, rtol=1e-5,
                               atol=1e-6)


def _score_weights(critic):
    dense = [layer for layer in critic.layers
             if isinstance(layer, keras.layers.Dense) and layer.units == 1]
    assert len(dense) == 1
    return dense[0].get_weights()


def test_class_cross_entropy_is_minus_log_softmax_at_the_label():
    logits = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]], np.float32)
    labels = np.array([0, 2])
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(class_cross_entropy(logits, labels).numpy(),
                               -np.log(softmax[[0, 1], labels]), rtol=1e-6)


def test_auxiliary_classifier_losses_add_the_weighted_cross_entropy():
    """AC-GAN: the critic's loss adds w (CE(real) + CE(fake)), the generator's w CE(fake),
    each on the batch's labels, beside the unchanged adversarial loss."""
    weight = 0.7
    step = TrainingStep(config("auxiliary", class_weight=weight), SHAPE,
                        tf.distribute.get_strategy(), n_classes=CLASSES)
    rng = np.random.default_rng(1)
    real = rng.uniform(-1, 1, (8, *SHAPE)).astype(np.float32)
    fake = rng.uniform(-1, 1, (8, *SHAPE)).astype(np.float32)
    labels = rng.integers(0, CLASSES, 8).astype(np.int32)

    def outputs(images):
        score, logits = step.critic([images, labels])
        return np.asarray(score)[:, 0].astype(np.float64), np.asarray(logits, np.float64)

    def ce(logits):
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return -log_softmax[np.arange(len(labels)), labels]

    def softplus(x):
        return np.log1p(np.exp(x))

    (real_score, real_logits), (fake_score, fake_logits) = outputs(real), outputs(fake)
    expected = np.mean(softplus(-real_score) + softplus(fake_score)
                       + weight * (ce(real_logits) + ce(fake_logits)))
    _, metrics = step._critic_grads_fn(tf.constant(real), tf.constant(fake),
                                       {"epsilon": tf.zeros(8)}, tf.constant(labels))
    assert float(metrics["critic_loss"]) == pytest.approx(expected, rel=1e-5)

    z = tf.constant(rng.standard_normal((8, step.config.model.latent_dim)), tf.float32)
    fake_score, fake_logits = outputs(np.asarray(step.generator([z, tf.constant(labels)], training=True)))
    _, metrics = step._generator_grads_fn(z, tf.constant(labels))
    expected = np.mean(softplus(-fake_score) + weight * ce(fake_logits))
    assert float(metrics["generator_loss"]) == pytest.approx(expected, rel=1e-5)


def test_the_penalty_is_per_example_at_the_examples_own_label():
    """WGAN-GP with a projection critic: each example's (||grad_x D(x_hat, y)|| - 1)^2
    at its own label, computed one example at a time, averaged; the label moves it."""
    step = TrainingStep(config("projection", "wgan_gp"), SHAPE, tf.distribute.get_strategy(),
                        n_classes=CLASSES)
    rng = np.random.default_rng(2)
    n = step.config.optimizer.batch_size   # losses are averaged over the global batch
    real = rng.uniform(-1, 1, (n, *SHAPE)).astype(np.float32)
    fake = rng.uniform(-1, 1, (n, *SHAPE)).astype(np.float32)
    labels = (np.arange(n) % CLASSES).astype(np.int32)
    epsilon = rng.uniform(0, 1, n).astype(np.float32)

    def penalty_alone(i, label):
        x_hat = tf.constant(epsilon[i] * real[i:i + 1] + (1 - epsilon[i]) * fake[i:i + 1])
        with tf.GradientTape() as tape:
            tape.watch(x_hat)
            score = step.critic([x_hat, tf.constant([label], tf.int32)])
        norm = np.sqrt(np.sum(np.square(tape.gradient(score, x_hat).numpy())))
        return (norm - 1.0) ** 2

    _, metrics = step._critic_grads_fn(tf.constant(real), tf.constant(fake),
                                       {"epsilon": tf.constant(epsilon)}, tf.constant(labels))
    own = np.mean([penalty_alone(i, labels[i]) for i in range(n)])
    other = np.mean([penalty_alone(i, (labels[i] + 1) % CLASSES) for i in range(n)])
    assert float(metrics["gradient_penalty"]) == pytest.approx(own, rel=1e-4)
    assert abs(own - other) > 1e-3 * own   # the check can tell the labels apart


def class_templates(n_classes: int, shape=SHAPE) -> np.ndarray:
    """One distinct image per class, in (-1, 1)."""
    pixels = int(np.prod(shape))
    return np.stack([np.linspace(-0.9, 0.9, pixels) * (1 if c % 2 else -1) * (c + 1) / n_classes
                     for c in range(n_classes)]).reshape(n_classes, *shape)


def template_generator(templates: np.ndarray) -> keras.Model:
    """A conditional MLP generator whose weights ignore z and draw the asked class's
    template: the hidden layer copies the one-hot label, the output layer's row k is
    atanh(template k)."""
    n_classes = len(templates)
    model = config("concat").model
    generator = build_generator(templates.shape[1:], tiny("gan", model={
        "conditioning": "concat", "hidden_units": [n_classes],
        "latent_dim": model.latent_dim}).model, n_classes=n_classes)
    first, last = [layer for layer in generator.layers if isinstance(layer, keras.layers.Dense)]
    kernel = np.zeros(first.kernel.shape, np.float32)
    kernel[model.latent_dim:] = np.eye(n_classes)
    first.set_weights([kernel, np.zeros(n_classes, np.float32)])
    last.set_weights([np.arctanh(templates.reshape(n_classes, -1)).astype(np.float32),
                      np.zeros(templates[0].size, np.float32)])
    return generator


def test_a_generator_makes_the_class_it_is_asked_for():
    templates = class_templates(4)
    generator = template_generator(templates)
    assert generator_classes(generator) == 4
    assert generator.get_layer(LABEL_ONE_HOT) is not None
    # Asked through the generate pipeline's node: 5 images of class 2, labelled.
    pngs, arrays, grid = generate_images(generator, {"n": 5, "seed": 0, "classes": 2})
    assert len(pngs) == 5 and list(arrays["labels"]) == [2] * 5
    np.testing.assert_allclose(arrays["images_unit_range"], np.repeat(templates[2:3], 5, 0),
                               atol=1e-5)
    # Without a class: every class in turn, one row of the grid per class.
    images = generate(generator, 8, seed=3)
    np.testing.assert_allclose(images, templates[np.arange(8) % 4], atol=1e-5)
    _, arrays, grid = generate_images(generator, {"n": 8, "seed": 0})
    assert list(arrays["labels"]) == [0, 1, 2, 3, 0, 1, 2, 3]
    assert grid.size[1] > grid.size[0]   # 4 rows of 2
    # Several classes in turn, as Kedro's command line passes them (class=1;3).
    _, arrays, _ = generate_images(generator, {"n": 4, "seed": 0, "classes": "1;3"})
    assert list(arrays["labels"]) == [1, 3, 1, 3]


@pytest.mark.parametrize("settings, generator_kind, message", [
    ({"classes": 4}, "conditional", "classes must lie in 0-3"),
    ({"classes": [1, -1]}, "conditional", "classes must lie in 0-3"),
    ({"classes": 1}, "unconditional", "unconditional and cannot be asked for a class"),
])
def test_a_class_it_cannot_make_fails_in_one_line(settings, generator_kind, message):
    generator = (template_generator(class_templates(4)) if generator_kind == "conditional"
                 else build_generator(SHAPE, tiny("gan", model={"hidden_units": [4]}).model))
    with pytest.raises(ConfigError, match=message):
        generate_images(generator, {"n": 3, "seed": 0, **settings})


def test_conditioning_needs_labelled_data_and_an_image_network():
    from wgan_lab.gan.trainer import GANTrainer

    with pytest.raises(ConfigError, match="labelled data of at least 2 classes"):
        GANTrainer(config("projection"), SHAPE, n_classes=0)
    trainer = GANTrainer(config("concat"), SHAPE, n_classes=CLASSES)
    images = np.zeros((32, *SHAPE), np.float32)
    with pytest.raises(ConfigError, match="labels must lie in 0-2"):
        trainer.fit(images, labels=np.full(32, 3))
    with pytest.raises(ConfigError, match="one label per image"):
        trainer.fit(images)
    with pytest.raises(ConfigError, match="points network takes no label"):
        tiny("gan", model={"architecture": "points", "conditioning": "concat"})


def test_a_resumed_conditional_run_equals_an_uninterrupted_one(tmp_path):
    """Labels come through the checkpointed input pipeline: stopping at step 3 and
    resuming to 6 trains exactly what 6 steps in one go do."""
    from wgan_lab.gan.trainer import GANTrainer

    rng = np.random.default_rng(4)
    images = rng.uniform(-1, 1, (48, *SHAPE)).astype(np.float32)
    labels = rng.integers(0, CLASSES, 48)

    def run(folder, *lengths):
        for steps in lengths:
            # cgan: the labels' path without a penalty's double backward to trace.
            trainer = GANTrainer(tiny("cgan", model={"hidden_units": [5]},
                                      schedule={"steps": steps}), SHAPE, n_classes=CLASSES)
            trainer.fit(images, folder, labels=labels)
        return trainer.generator.get_weights()

    for resumed, whole in zip(run(tmp_path / "a", 3, 6), run(tmp_path / "b", 6)):
        np.testing.assert_array_equal(resumed, whole)
