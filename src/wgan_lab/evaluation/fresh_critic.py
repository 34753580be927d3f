"""A Wasserstein-1 estimate that does not come from a run's own critic.

A run's critic is trained alongside its generator with the run's recipe: a
critic far from optimal (a slow learning rate, few updates, a tight clip)
reports a gap that says more about the recipe than about the distance. Here a
new critic, the same for every run (the architecture, gradient penalty and
optimizer of one configured variant), is trained from fresh weights against a
frozen snapshot of the generator for a fixed number of updates. Its
real-minus-fake score gap on held-out images, real test images against new
samples, is the estimate: under the penalty's 1-Lipschitz constraint the gap
is a lower bound of W1, tight as the critic nears optimality (the theory
pipeline checks it against exact W1 on toy data, claim T5).

One traced critic serves every snapshot of a run: ``GANTrainer.restart_critic``
draws fresh weights between estimates.
"""
from __future__ import annotations

import numpy as np

from wgan_lab.gan.config import TrainingConfig
from wgan_lab.gan.trainer import GANTrainer

from .evaluate import generate, subsample


class FreshCriticW1:
    """``estimate(generator)``: a fresh critic's W1 estimate for a frozen generator."""

    def __init__(self, config: TrainingConfig, train_images: np.ndarray,
                 test_images: np.ndarray, steps: int, samples: int, seed: int) -> None:
        self.trainer = GANTrainer(config, train_images.shape[1:])
        self.steps, self.samples, self.seed = int(steps), int(samples), int(seed)
        # The critic trains on training images and is scored on test images, so a
        # critic that memorised its sample does not inflate the estimate.
        self.real_train = subsample(train_images, self.samples, self.seed)
        self.real_held_out = subsample(test_images, self.samples, self.seed + 1)

    def __call__(self, generator) -> float:
        fake_train = generate(generator, self.samples, self.seed + 2)
        fake_held_out = generate(generator, self.samples, self.seed + 3)
        self.trainer.restart_critic(self.seed)
        self.trainer.train_critic(self.real_train, fake_train, self.steps, seed=self.seed)
        return gap(self.trainer.critic, self.real_held_out, fake_held_out)


def gap(critic, real: np.ndarray, fake: np.ndarray, batch_size: int = 1000) -> float:
    """Mean critic score on ``real`` minus that on ``fake``."""
    def mean_score(images):
        scores = [np.asarray(critic(np.asarray(images[i:i + batch_size], np.float32),
                                    training=False), np.float64)
                  for i in range(0, len(images), batch_size)]
        return float(np.concatenate(scores).mean())
    return mean_score(real) - mean_score(fake)
