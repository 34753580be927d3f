"""Project settings (see Kedro's configuration docs for the defaults left out here)."""
from omegaconf.resolvers import oc

from wgan_lab.hooks import ClusterHooks, RunSetupHooks, TrackingHooks

HOOKS = (TrackingHooks(), ClusterHooks(), RunSetupHooks())

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # `oc.env` lets mlflow.yml follow MLFLOW_TRACKING_URI when it is set.
    "custom_resolvers": {"oc.env": oc.env},
    # Environments such as conf/quick override single parameters, not whole blocks.
    "merge_strategy": {"parameters": "soft", "globals": "soft"},
}
