"""Experiments over many training runs on a shared Optuna storage (no Kedro, no MLflow).

``store``: what both kinds share: the storage, the worker loop, trial attributes,
what counts as finished, the run callbacks and the guard around each run.
``search``: an equal-budget hyperparameter search of one variant (tuning);
``space``: its search space, checked against the variant's parameters.
``seeds``: the study: every variant with every seed at an equal budget, one job each.
``analysis``: the study's per-run measures, intervals, pairwise tests and verdicts.
"""
