"""The training input pipeline: shuffled real batches with their noise, per replica.

One element feeds one fused training call: ``n_critic`` real batches for the
critic plus the noise of every critic and generator update and the gradient
penalty's epsilon. Noise comes from a stateless RNG keyed by (seed, step), so
a resumed run draws exactly what an uninterrupted one would have, and every
replica layout sees the same global batch.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .config import TrainingConfig


def _global_batches(images: np.ndarray, config: TrainingConfig, start_step: int
                    ) -> tf.data.Dataset:
    n = len(images)
    batch, k, latent = config.batch_size, config.n_critic, config.latent_dim
    pool = tf.constant(images, dtype=tf.float32)
    indices = (
        tf.data.Dataset.range(n)
        # Reseeding on resume keeps the order reproducible without storing
        # the shuffle buffer in every checkpoint.
        .shuffle(n, seed=config.seed + start_step, reshuffle_each_iteration=True)
        .repeat()
        .batch(batch * k, drop_remainder=True)
    )

    def assemble(index, step):
        real = tf.gather(pool, index)
        real = tf.reshape(real, [k, batch, *images.shape[1:]])
        keys = tf.random.experimental.stateless_split(
            tf.stack([tf.cast(config.seed, tf.int64), step]), num=3)
        return {
            "real": tf.transpose(real, [1, 0, *range(2, real.shape.rank)]),
            "z_critic": tf.random.stateless_normal([batch, k, latent], seed=keys[0]),
            "z_generator": tf.random.stateless_normal([batch, latent], seed=keys[1]),
            "epsilon": tf.random.stateless_uniform([batch, k], seed=keys[2]),
        }

    steps = tf.data.Dataset.counter(start=start_step, dtype=tf.int64)
    return tf.data.Dataset.zip(indices, steps).map(assemble, num_parallel_calls=tf.data.AUTOTUNE)


def make_distributed_dataset(images: np.ndarray, config: TrainingConfig, start_step: int,
                             strategy: tf.distribute.Strategy):
    """The training dataset, split across ``strategy``'s replicas, global batch preserved."""
    replicas = strategy.num_replicas_in_sync
    per_replica = config.batch_size // replicas

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        # Every input pipeline builds the same global batches and keeps the
        # slices of its own replicas, in replica order.
        local = replicas // context.num_input_pipelines
        first = context.input_pipeline_id * local

        def slices(element):
            return {
                key: tf.reshape(value, [replicas, per_replica, *value.shape[1:]])[first:first + local]
                for key, value in element.items()
            }

        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return (_global_batches(images, config, start_step).map(slices).unbatch()
                .prefetch(tf.data.AUTOTUNE).with_options(options))

    return strategy.distribute_datasets_from_function(dataset_fn)


def sample_noise(config: TrainingConfig) -> tf.Tensor:
    """The fixed noise batch behind every sample grid of a run."""
    return tf.random.stateless_normal([config.n_sample_images, config.latent_dim],
                                      seed=[config.seed, 2**31 - 1])
