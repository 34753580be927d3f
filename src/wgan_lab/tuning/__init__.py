"""Equal-budget hyperparameter search with Optuna (no Kedro, no MLflow).

``space``: the search space of a variant, checked against its parameters.
``search``: the Optuna study, its shared storage, and the trial objective
(train for a budget, report in-training FID for pruning, score a proxy FID).
``report``: the budget curve, importances and top trials.
"""
