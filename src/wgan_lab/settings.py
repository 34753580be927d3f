"""Project settings (see Kedro's configuration docs for the defaults left out here)."""
from wgan_lab.hooks import ClusterHooks, ParameterCheckHooks, RunSetupHooks, TrackingHooks
from wgan_lab.wiring import CONFIG_LOADER_ARGS

# Among hooks of one priority the last registered runs first: the checks lead.
HOOKS = (TrackingHooks(), ClusterHooks(), RunSetupHooks(), ParameterCheckHooks())

__all__ = ["CONFIG_LOADER_ARGS", "HOOKS"]
