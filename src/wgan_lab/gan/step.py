"""The compiled part of training: networks, optimizers and the fused generator step.

One ``TrainingStep.run`` call is a ``tf.function`` that runs up to
``steps_per_call`` generator steps, each with its ``n_critic`` critic updates,
in a graph loop. What the objective is comes from the registries: the loss
pair from ``LOSSES``, the penalty, constraint or spectral normalisation from
``REGULARIZERS``, the networks from ``NETWORKS``. Losses are per example and
averaged over the GLOBAL batch, so R replicas compute what one would.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from .conditioning import CONDITIONINGS, class_cross_entropy
from .config import TrainingConfig
from .inputs import step_noise
from .losses import LOSSES
from .networks import CRITIC_NORMS, build_critic, build_generator
from .optimizers import make_optimizers
from .precision import resolve_precision
from .regularizers import REGULARIZERS

# Columns of the training history, in order.
METRICS = (
    "critic_loss", "generator_loss", "wasserstein_estimate", "gradient_penalty",
    "critic_grad_norm", "generator_grad_norm", "d_real", "d_fake",
)


class TrainingStep:
    """Builds the networks and optimizers in ``strategy``'s scope; ``run`` trains them."""

    def __init__(self, config: TrainingConfig, image_shape: tuple[int, int, int],
                 strategy: tf.distribute.Strategy, n_classes: int = 0) -> None:
        self.config = config
        self.image_shape = tuple(int(d) for d in image_shape)
        self.strategy = strategy
        self.replicas = strategy.num_replicas_in_sync
        self.loss = LOSSES[config.objective.loss]
        self.regularizer = REGULARIZERS[config.objective.regularizer]
        self.conditioning = CONDITIONINGS[config.model.conditioning]
        # The classes a conditional model is asked for (0: it takes no label).
        self.n_classes = n_classes if self.conditioning.takes_labels else 0
        self._scores_together = CRITIC_NORMS[config.model.critic_norm].mixes_examples
        self.precision = resolve_precision(config.runtime.precision, config.model.architecture)

        keras.utils.set_random_seed(config.seed)
        with strategy.scope():
            self.generator = build_generator(self.image_shape, config.model, self.precision,
                                             self.n_classes)
            self.critic = build_critic(self.image_shape, config.model, self.precision,
                                       spectral_norm=self.regularizer.spectral_norm,
                                       n_classes=self.n_classes)
            self.ema_generator = None
            if config.optimizer.ema_decay > 0:
                self.ema_generator = keras.models.clone_model(self.generator)
                self.ema_generator.set_weights(self.generator.get_weights())
            self.generator_optimizer, self.critic_optimizer = make_optimizers(config.optimizer)
            # Keras 3 optimizers must be built eagerly in the scope, or a
            # multi-replica tf.function fails at trace time.
            self.generator_optimizer.build(self.generator.trainable_variables)
            self.critic_optimizer.build(self.critic.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.elapsed = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="elapsed")
            # The training images' pixel std, for penalties that perturb real data;
            # set from the images by ``use_images``, never checkpointed.
            self.data_std = tf.Variable(1.0, dtype=tf.float32, trainable=False, name="data_std")

        grads = tf.function(jit_compile=True) if config.runtime.jit_compile else (lambda f: f)
        self._critic_grads = grads(self._critic_grads_fn)
        self._generator_grads = grads(self._generator_grads_fn)
        self.run = tf.function(self._run)
        self.train_critic = tf.function(self._train_critic)

    def use_images(self, images) -> None:
        """Take what the step needs to know of the training set (its pixel std)."""
        # Only a penalty that perturbs real data reads it; on MNIST the float64
        # pass costs ~0.4 GB of temporaries, which no other objective should pay.
        if self.regularizer.needs_perturbation:
            self.data_std.assign(float(images.std(dtype="float64")))

    def trackables(self) -> dict:
        """What a checkpoint holds."""
        tracked = dict(generator=self.generator, critic=self.critic,
                       generator_optimizer=self.generator_optimizer,
                       critic_optimizer=self.critic_optimizer, step=self.step, elapsed=self.elapsed)
        if self.ema_generator is not None:
            tracked["ema_generator"] = self.ema_generator
        return tracked

    def state_variables(self) -> list:
        """Every variable a checkpoint holds, in the order of ``trackables``."""
        return [variable for item in self.trackables().values()
                for variable in ([item] if isinstance(item, tf.Variable) else item.variables)]

    def adopt_chief_state(self) -> None:
        """Give every worker the chief's state (restored or fresh).

        Only the chief keeps checkpoints, so on separate machines the other
        workers restore nothing; all must go on from the chief's step and weights.
        """
        variables = self.state_variables()

        @tf.function
        def broadcast():
            for variable in variables:
                def chief_value(variable=variable):
                    value = tf.convert_to_tensor(variable)
                    first = tf.distribute.get_replica_context().replica_id_in_sync_group == 0
                    return tf.where(first, value, tf.zeros_like(value))
                variable.assign(self.strategy.reduce(
                    tf.distribute.ReduceOp.SUM, self.strategy.run(chief_value), axis=None))

        broadcast()

    @property
    def sampling_generator(self) -> keras.Model:
        """The generator to sample and export: the EMA copy when there is one."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    # ----- per-replica pieces -------------------------------------------------
    def _average(self, per_example: tf.Tensor) -> tf.Tensor:
        return tf.nn.compute_average_loss(per_example,
                                          global_batch_size=self.config.optimizer.batch_size)

    def _critic(self, images: tf.Tensor, labels: tf.Tensor | None = None):
        """The critic's scores [batch], and its class logits when it classifies (else None)."""
        out = self.critic(images if labels is None else [images, labels], training=True)
        scores, logits = out if self.conditioning.classifies else (out, None)
        return tf.squeeze(scores, axis=-1), logits

    def _scores(self, images: tf.Tensor, labels: tf.Tensor | None = None) -> tf.Tensor:
        return self._critic(images, labels)[0]

    def _fake(self, z: tf.Tensor, labels: tf.Tensor | None) -> tf.Tensor:
        return self.generator(z if labels is None else [z, labels], training=True)

    def _real_and_fake_scores(self, real, fake, labels=None):
        """Scores and class logits of the real and the fake batch (both of ``labels``)."""
        if self._scores_together:
            # One call on both halves, so that they share the batch statistics:
            # with separate calls each half is centred on its own and the two
            # become hard to tell apart.
            both = None if labels is None else tf.concat([labels, labels], axis=0)
            scores, logits = self._critic(tf.concat([real, fake], axis=0), both)
            n = tf.shape(real)[0]
            halves = (None, None) if logits is None else (logits[:n], logits[n:])
            return scores[:n], scores[n:], *halves
        # Examples are scored independently: two calls skip the concatenation
        # (~10% of an MLP critic step).
        real_scores, real_logits = self._critic(real, labels)
        fake_scores, fake_logits = self._critic(fake, labels)
        return real_scores, fake_scores, real_logits, fake_logits

    def _critic_grads_fn(self, real, fake, draws, labels=None, with_metrics: bool = True):
        with tf.GradientTape() as tape:
            real_scores, fake_scores, real_logits, fake_logits = self._real_and_fake_scores(
                real, fake, labels)
            per_example = self.loss.critic(real_scores, fake_scores)
            if self.regularizer.penalty is not None:
                # The penalty's critic scores every point with its own example's label.
                penalty = self.regularizer.penalty(
                    lambda points: self._scores(points, labels), real, fake, draws)
                per_example = per_example + self.config.objective.penalty_weight * penalty
            else:
                penalty = tf.zeros_like(per_example)
            if real_logits is not None:
                per_example = per_example + self.config.objective.class_weight * (
                    class_cross_entropy(real_logits, labels)
                    + class_cross_entropy(fake_logits, labels))
            loss = self._average(per_example)
        grads = tape.gradient(loss, self.critic.trainable_variables)
        if not with_metrics:
            return grads, {}
        metrics = {
            "critic_loss": loss,
            "wasserstein_estimate": self._average(real_scores - fake_scores),
            "gradient_penalty": self._average(penalty),
            "d_real": self._average(tf.sigmoid(real_scores)),
            "d_fake": self._average(tf.sigmoid(fake_scores)),
            # Each replica holds its share of the global gradient; scaled by the
            # replica count it estimates the global norm (exact on one replica).
            "critic_grad_norm": tf.linalg.global_norm(grads) * self.replicas,
        }
        return grads, metrics

    def _generator_grads_fn(self, z, labels=None, with_metrics: bool = True):
        with tf.GradientTape() as tape:
            fake_scores, fake_logits = self._critic(self._fake(z, labels), labels)
            per_example = self.loss.generator(fake_scores)
            if fake_logits is not None:
                per_example = per_example + self.config.objective.class_weight * \
                    class_cross_entropy(fake_logits, labels)
            loss = self._average(per_example)
        grads = tape.gradient(loss, self.generator.trainable_variables)
        if not with_metrics:
            return grads, {}
        return grads, {"generator_loss": loss,
                       "generator_grad_norm": tf.linalg.global_norm(grads) * self.replicas}

    def _noise(self) -> dict[str, tf.Tensor]:
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        shape = self.image_shape if self.regularizer.needs_perturbation else None
        return step_noise(self.config, self.step.read_value(), replica, self.replicas, shape,
                          self.n_classes)

    def _critic_update(self, batch, noise, i: int, with_metrics: bool):
        # A conditional run's batch is (images, labels): the fakes of a critic update
        # are asked for the labels of its real batch, so a penalty between the two
        # has one label per example.
        real, labels = batch if self.n_classes else (batch, None)
        labels = None if labels is None else labels[i]
        # Outside the critic's tape: the critic update never differentiates
        # through the generator.
        fake = self._fake(noise["z"][i], labels)
        draws = {key: value[i] for key, value in noise.items() if key not in ("z", "labels")}
        if self.regularizer.needs_perturbation:
            draws["data_std"] = self.data_std.read_value()
        grads, metrics = self._critic_grads(real[i], fake, draws, labels,
                                            with_metrics=with_metrics)
        self.critic_optimizer.apply_gradients(zip(grads, self.critic.trainable_variables))
        return metrics

    def _generator_update(self, noise, with_metrics: bool):
        grads, metrics = self._generator_grads(noise["z"][-1], noise.get("labels"),
                                               with_metrics=with_metrics)
        self.generator_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
        return metrics

    # ----- one fused generator step (cross-replica) ---------------------------
    def _reduce(self, per_replica: dict) -> dict:
        out = {}
        for key, value in per_replica.items():
            # Losses are already divided by the global batch: sum over replicas.
            # Norm estimates are per replica: average them.
            op = tf.distribute.ReduceOp.MEAN if key.endswith("grad_norm") else tf.distribute.ReduceOp.SUM
            out[key] = self.strategy.reduce(op, value, axis=None)
        return out

    def _one_step(self, batch, with_metrics: bool = True) -> dict:
        """One generator step with its ``n_critic`` critic steps, on ``batch`` (the real
        images of every critic update, with their labels in a conditional run).

        ``with_metrics=False`` skips the monitoring values (means, gradient
        norms, their cross-replica reductions): steps between two log lines
        never report them, and on small networks they cost a visible share.
        """
        n_critic = self.config.objective.n_critic
        noise = self.strategy.run(self._noise)
        critic_metrics: dict = {}
        for i in range(n_critic):
            per_replica = self.strategy.run(self._critic_update,
                                            args=(batch, noise, i, with_metrics))
            for key, value in self._reduce(per_replica).items():
                critic_metrics[key] = critic_metrics.get(key, 0.0) + value / n_critic
            # Outside strategy.run: mirrored variables are assigned in cross-replica context.
            self._constrain_critic()
        metrics = {**critic_metrics, **self._reduce(
            self.strategy.run(self._generator_update, args=(noise, with_metrics)))}
        if self.ema_generator is not None:
            decay = self.config.optimizer.ema_decay
            for ema, live in zip(self.ema_generator.weights, self.generator.weights):
                ema.assign(decay * ema + (1.0 - decay) * live)
        self.step.assign_add(1)
        return metrics

    def _run(self, iterator, count: tf.Tensor) -> dict:
        """``count`` generator steps in one call (graph loop): no Python between
        steps, and metrics computed for the last step only."""
        for _ in tf.range(count - 1):
            self._one_step(next(iterator), with_metrics=False)
        return self._one_step(next(iterator))

    # ----- the critic alone, the generator frozen (the theory runs, #22) -------
    def _critic_update_from(self, real, fake, seed, i, with_metrics: bool) -> dict:
        batch = self.config.optimizer.batch_size
        draw = tf.stack([seed, tf.cast(i, tf.int64)])
        real_batch = tf.gather(real, tf.random.stateless_uniform(
            [batch], draw, 0, tf.shape(real, tf.int64)[0], tf.int64))
        if fake is None:
            z = tf.random.stateless_normal([batch, self.config.model.latent_dim], draw + 1)
            fake_batch = self.generator(z, training=False)
        else:
            fake_batch = tf.gather(fake, tf.random.stateless_uniform(
                [batch], draw + 1, 0, tf.shape(fake, tf.int64)[0], tf.int64))
        draws = {"epsilon": tf.random.stateless_uniform([batch], draw + 2)}
        grads, metrics = self._critic_grads(real_batch, fake_batch, draws,
                                            with_metrics=with_metrics)
        self.critic_optimizer.apply_gradients(zip(grads, self.critic.trainable_variables))
        self._constrain_critic()
        return metrics

    def _constrain_critic(self) -> None:
        """The regularizer's hard constraint on the critic's weights (clipping), if any."""
        if self.regularizer.constrain is not None:
            self.regularizer.constrain(self.critic.trainable_variables,
                                       self.config.objective.clip_value)

    def _train_critic(self, real: tf.Tensor, fake: tf.Tensor | None, steps: tf.Tensor,
                      seed: tf.Tensor) -> dict:
        """``steps`` (at least 1) critic updates with the same loss, penalty, constraint
        and optimizer as training, the generator frozen: batches drawn (seeded) from
        ``real`` and from ``fake``, or from the generator when ``fake`` is None.
        Returns the metrics of the last update.

        What the theory runs need to estimate a divergence between two fixed sample
        sets, or to push a discriminator towards optimality against a frozen
        generator. One replica (the default strategy): the batches are not split,
        and penalties that perturb real data are not supported.
        """
        if self.replicas != 1 or self.regularizer.needs_perturbation or self.n_classes:
            raise ValueError("train_critic runs on one replica, unconditional, without data "
                             "perturbation")
        for i in tf.range(steps - 1):
            self._critic_update_from(real, fake, seed, i, with_metrics=False)
        return self._critic_update_from(real, fake, seed, steps - 1, with_metrics=True)
