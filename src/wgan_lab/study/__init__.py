"""Seeds and statistics: every variant of a list trained with every seed of a list at
an equal budget, evaluated, and compared with confidence intervals (no Kedro).

``jobs``: the (variant, seed) job list in a shared Optuna storage, and the worker loop.
``runner``: one job: train with checkpoints for the budget, evaluate.
``analysis``: per-run measures, per-variant intervals, pairwise tests, verdicts.
``report``: HTML, Markdown, CSV, JSON and figures from the stored runs alone.
"""
