"""Project settings (see Kedro's configuration docs for the defaults left out here)."""
from wgan_lab.hooks import (ClusterHooks, MaskedMlflowHook, ParameterCheckHooks,
                            RunSetupHooks, TrackingHooks)
from wgan_lab.wiring import CONFIG_LOADER_ARGS

# Among hooks of one priority the last registered runs first: the checks lead
# (tryfirst), then kedro-mlflow's hook, in the place the plugin had. The plugin's
# own instance is replaced by MaskedMlflowHook, which masks passwords.
HOOKS = (TrackingHooks(), ClusterHooks(), RunSetupHooks(), ParameterCheckHooks(),
         MaskedMlflowHook())
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow",)

__all__ = ["CONFIG_LOADER_ARGS", "DISABLE_HOOKS_FOR_PLUGINS", "HOOKS"]
