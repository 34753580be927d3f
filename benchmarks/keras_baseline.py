"""The canonical Keras pattern, for comparison only: a ``keras.Model`` subclass
overriding ``train_step`` and trained with ``model.fit``, as the well-known
keras.io examples do, with the project's networks and optimizers:
``KerasStyleWGAN`` after the WGAN-GP example (the critic updated ``d_steps``
times on the batch, then the generator once; weight clipping instead of the
penalty when given a clip value), ``KerasStyleGAN`` after the DCGAN example
(one discriminator step on real and fake together with noisy labels, then one
generator step on "misleading" labels: the non-saturating loss).
"""
from __future__ import annotations

import keras
import tensorflow as tf


class KerasStyleWGAN(keras.Model):
    def __init__(self, critic, generator, latent_dim, d_steps, gp_weight=10.0, clip_value=None):
        super().__init__()
        self.critic, self.generator = critic, generator
        self.latent_dim, self.d_steps = latent_dim, d_steps
        self.gp_weight, self.clip_value = gp_weight, clip_value

    def compile(self, d_optimizer, g_optimizer):
        super().compile()
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

    def gradient_penalty(self, batch_size, real_images, fake_images):
        alpha = tf.random.uniform([batch_size, 1, 1, 1], 0.0, 1.0)
        interpolated = real_images + alpha * (fake_images - real_images)
        with tf.GradientTape() as gp_tape:
            gp_tape.watch(interpolated)
            pred = self.critic(interpolated, training=True)
        grads = gp_tape.gradient(pred, [interpolated])[0]
        norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]))
        return tf.reduce_mean((norm - 1.0) ** 2)

    def train_step(self, real_images):
        batch_size = tf.shape(real_images)[0]
        for _ in range(self.d_steps):
            z = tf.random.normal(shape=(batch_size, self.latent_dim))
            with tf.GradientTape() as tape:
                fake_images = self.generator(z, training=True)
                fake_logits = self.critic(fake_images, training=True)
                real_logits = self.critic(real_images, training=True)
                d_loss = tf.reduce_mean(fake_logits) - tf.reduce_mean(real_logits)
                if self.clip_value is None:
                    d_loss += self.gp_weight * self.gradient_penalty(batch_size, real_images,
                                                                     fake_images)
            grads = tape.gradient(d_loss, self.critic.trainable_variables)
            self.d_optimizer.apply_gradients(zip(grads, self.critic.trainable_variables))
            if self.clip_value is not None:
                for v in self.critic.trainable_variables:
                    v.assign(tf.clip_by_value(v, -self.clip_value, self.clip_value))
        z = tf.random.normal(shape=(batch_size, self.latent_dim))
        with tf.GradientTape() as tape:
            g_loss = -tf.reduce_mean(self.critic(self.generator(z, training=True), training=True))
        grads = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
        return {"d_loss": d_loss, "g_loss": g_loss}


class KerasStyleGAN(keras.Model):
    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator, self.generator, self.latent_dim = discriminator, generator, latent_dim
        # The project's critics end in a linear unit: logits.
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

    def compile(self, d_optimizer, g_optimizer):
        super().compile()
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

    def train_step(self, real_images):
        batch_size = tf.shape(real_images)[0]
        z = tf.random.normal(shape=(batch_size, self.latent_dim))
        generated = self.generator(z, training=True)
        combined = tf.concat([generated, real_images], axis=0)
        # The example's labels: 1 for fake, 0 for real, plus its "important trick" of label noise.
        labels = tf.concat([tf.ones((batch_size, 1)), tf.zeros((batch_size, 1))], axis=0)
        labels += 0.05 * tf.random.uniform(tf.shape(labels))
        with tf.GradientTape() as tape:
            d_loss = self.loss_fn(labels, self.discriminator(combined, training=True))
        grads = tape.gradient(d_loss, self.discriminator.trainable_variables)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables))
        z = tf.random.normal(shape=(batch_size, self.latent_dim))
        misleading_labels = tf.zeros((batch_size, 1))
        with tf.GradientTape() as tape:
            predictions = self.discriminator(self.generator(z, training=True), training=True)
            g_loss = self.loss_fn(misleading_labels, predictions)
        grads = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
        return {"d_loss": d_loss, "g_loss": g_loss}


def keras_pattern(critic, generator, latent_dim, objective, clips: bool):
    """The keras.io example that matches ``objective``'s loss, around the given networks."""
    if objective.loss == "wasserstein":
        return KerasStyleWGAN(critic, generator, latent_dim, objective.n_critic,
                              gp_weight=objective.penalty_weight,
                              clip_value=objective.clip_value if clips else None)
    if objective.loss == "non_saturating" and objective.regularizer == "none":
        return KerasStyleGAN(critic, generator, latent_dim)
    raise ValueError(f"no keras.io example for loss {objective.loss!r} with regularizer "
                     f"{objective.regularizer!r}")
