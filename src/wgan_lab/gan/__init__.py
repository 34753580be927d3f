"""GAN, WGAN and WGAN-GP: networks, losses, input pipeline, trainer (no Kedro)."""
