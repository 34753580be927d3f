"""Wiring of `theory`: five experiments on toy data, then the report.

The nodes read the ``theory`` block, and the whole parameters for the variant
family (the variants trained on the toy distributions).
"""
from kedro.pipeline import Node, Pipeline

from wgan_lab.reporting.theory import FIGURES

from .nodes import (measure_divergences, measure_gaussians, measure_lipschitz,
                    measure_vanishing_gradients, report_theory, train_mixtures)

THEORY = ["params:theory", "parameters"]
TABLES = ["theory.divergences", "theory.gaussian_curves", "theory.gaussian_summary",
          "theory.vanishing_gradients", "theory.mixture_curves", "theory.mixture_finals",
          "theory.mixture_samples", "theory.lipschitz", "theory.lipschitz_layers",
          "theory.weight_histograms", "theory.value_surfaces"]
TIMINGS = ["theory.seconds_divergences", "theory.seconds_gaussians", "theory.seconds_vanishing",
           "theory.seconds_mixtures", "theory.seconds_lipschitz"]


def create_pipeline() -> Pipeline:
    return Pipeline([
        Node(measure_divergences, inputs=THEORY,
             outputs=["theory.divergences", "theory.seconds_divergences"],
             name="measure_divergences"),
        Node(measure_gaussians, inputs=THEORY,
             outputs=["theory.gaussian_curves", "theory.gaussian_summary",
                      "theory.seconds_gaussians"], name="measure_gaussians"),
        Node(measure_vanishing_gradients, inputs=THEORY,
             outputs=["theory.vanishing_gradients", "theory.seconds_vanishing"],
             name="measure_vanishing_gradients"),
        Node(train_mixtures, inputs=THEORY,
             outputs=["theory.mixture_curves", "theory.mixture_finals", "theory.mixture_samples",
                      "theory.seconds_mixtures"], name="train_mixtures"),
        Node(measure_lipschitz, inputs=THEORY,
             outputs=["theory.lipschitz", "theory.lipschitz_layers", "theory.weight_histograms",
                      "theory.value_surfaces", "theory.seconds_lipschitz"],
             name="measure_lipschitz"),
        Node(report_theory, inputs=[*TABLES, *TIMINGS, *THEORY],
             outputs=["theory_reports", *(f"theory.{name}_figure" for name in FIGURES)],
             name="report_theory"),
    ])
