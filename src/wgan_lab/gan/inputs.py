"""The training inputs: shuffled real batches per replica, and the noise of every update.

One element of the input pipeline feeds one generator step: the ``n_critic``
real batches of its critic updates; their order is a function of (seed, step),
so a resumed run trains on exactly the batches an uninterrupted one would.
The noise (latent vectors, the penalties' draws) is drawn inside the step from
a stateless RNG keyed by (seed, step, update): a resumed run draws exactly what
an uninterrupted one would have, every replica layout sees the same global
batch, and the input pipeline, which shares the CPU with training, stays a
single gather.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .config import TrainingConfig


def make_distributed_dataset(images: np.ndarray, config: TrainingConfig, start_step: int,
                             strategy: tf.distribute.Strategy, labels: np.ndarray | None = None):
    """Real batches ``[n_critic, batch / replicas, *image]``, split across ``strategy``'s
    replicas with the global batch preserved; with ``labels``, pairs (images, their
    labels ``[n_critic, batch / replicas]``), gathered by the same indices."""
    replicas = strategy.num_replicas_in_sync
    batch, k = config.optimizer.batch_size, config.objective.n_critic
    per_replica = batch // replicas
    pool = tf.constant(images, dtype=tf.float32)
    label_pool = None if labels is None else tf.constant(labels, dtype=tf.int32)

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        # Every input pipeline shuffles the same global batches and gathers
        # the slices of its own replicas, in replica order.
        local = replicas // context.num_input_pipelines
        first = context.input_pipeline_id * local

        # [k, local, per_replica] -> [local, k, per_replica] as one fixed gather of
        # the flat indices: oneDNN's transpose takes no integer tensors and says
        # so in an error line on every CPU.
        order = np.arange(k * local * per_replica).reshape(k, local, per_replica)
        order = tf.constant(order.transpose(1, 0, 2).ravel(), tf.int64)

        def gather(index):
            # Rearranging the indices (not the images) costs nothing: one
            # gather then writes the images in their final layout.
            index = tf.reshape(index, [k, replicas, per_replica])[:, first:first + local]
            index = tf.reshape(tf.gather(tf.reshape(index, [-1]), order), [local, k, per_replica])
            if label_pool is None:
                return tf.gather(pool, index)
            return tf.gather(pool, index), tf.gather(label_pool, index)

        dataset = (
            tf.data.Dataset.range(len(images))
            .shuffle(len(images), seed=config.seed, reshuffle_each_iteration=True)
            .repeat()
            .batch(batch * k, drop_remainder=True)
            # A resumed run replays the index order from the start and skips the
            # steps already done, so it sees exactly the batches an uninterrupted
            # run would (indices only: ~0.3 ms a step, no images gathered).
            .skip(start_step)
            .map(gather, num_parallel_calls=tf.data.AUTOTUNE)
        )
        if local == 1:
            dataset = dataset.map(lambda *real: tf.nest.map_structure(
                lambda part: tf.reshape(part, part.shape[1:]), real if len(real) > 1 else real[0]))
        else:
            dataset = dataset.unbatch()
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return dataset.prefetch(tf.data.AUTOTUNE).with_options(options)

    return strategy.distribute_datasets_from_function(dataset_fn)


def step_noise(config: TrainingConfig, step: tf.Tensor, replica: tf.Tensor, replicas: int,
               perturbation_shape: tuple[int, ...] | None = None,
               n_classes: int = 0) -> dict[str, tf.Tensor]:
    """This replica's share of the noise of one generator step.

    ``z[i]`` feeds critic update ``i`` (``i < n_critic``) and ``z[n_critic]`` the
    generator update; ``epsilon[i]`` holds the penalties' per-example draws of
    critic update ``i``; with ``perturbation_shape`` (an image shape),
    ``perturbation[i]`` holds U[0, 1] noise per pixel for it. The global batch
    is drawn and sliced, so any replica count sees the same numbers. With ``n_classes``,
    ``labels`` holds the classes the generator update asks for, uniform (the critic
    updates ask for the labels of their real batch).
    """
    batch, k = config.optimizer.batch_size, config.objective.n_critic
    per_replica = batch // replicas
    key = tf.random.experimental.stateless_fold_in(tf.constant([config.seed, 0], tf.int64), step)
    z_key, epsilon_key = tf.unstack(tf.random.experimental.stateless_split(key, 2))
    z = tf.random.stateless_normal([k + 1, batch, config.model.latent_dim], seed=z_key)
    epsilon = tf.random.stateless_uniform([k, batch], seed=epsilon_key)
    begin = tf.cast(replica, tf.int32) * per_replica
    noise = {"z": z[:, begin:begin + per_replica], "epsilon": epsilon[:, begin:begin + per_replica]}
    if perturbation_shape is not None:
        # A key of its own, so that adding it leaves every other draw unchanged.
        perturbation_key = tf.random.experimental.stateless_fold_in(key, 1)
        perturbation = tf.random.stateless_uniform([k, batch, *perturbation_shape],
                                                   seed=perturbation_key)
        noise["perturbation"] = perturbation[:, begin:begin + per_replica]
    if n_classes:
        # Keys of their own too: unconditional runs draw exactly what they drew before.
        labels_key = tf.random.experimental.stateless_fold_in(key, 2)
        labels = tf.random.stateless_uniform([batch], seed=labels_key, minval=0,
                                             maxval=n_classes, dtype=tf.int32)
        noise["labels"] = labels[begin:begin + per_replica]
    return noise


def samples_per_class(config: TrainingConfig, n_classes: int) -> int:
    """Images per class in a conditional run's sample grid (one row per class)."""
    return max(1, round(config.schedule.n_sample_images / n_classes))


def sample_noise(config: TrainingConfig, n_classes: int = 0):
    """The fixed noise batch behind every sample grid of a run; for a conditional run,
    (noise, labels) with ``samples_per_class`` images of each class, class by class."""
    if not n_classes:
        return tf.random.stateless_normal(
            [config.schedule.n_sample_images, config.model.latent_dim],
            seed=[config.seed, 2**31 - 1])
    per_class = samples_per_class(config, n_classes)
    noise = tf.random.stateless_normal([n_classes * per_class, config.model.latent_dim],
                                       seed=[config.seed, 2**31 - 1])
    return noise, tf.repeat(tf.range(n_classes, dtype=tf.int32), per_class)
