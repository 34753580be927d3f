"""Project settings (see Kedro's configuration docs for the defaults left out here)."""
from wgan_lab.hooks import (ClusterHooks, MaskedMlflowHook, ParameterCheckHooks,
                            RunContextHooks, RunLockHooks, RunSetupHooks, SummaryHooks,
                            TrackingHooks)
from wgan_lab.logs import follow_the_terminal, quiet_start
from wgan_lab.variants import ProjectConfigLoader
from wgan_lab.wiring import CONFIG_LOADER_ARGS

# conf/logging.yml writes plain single lines; on a terminal, rich. The known
# third-party warnings filtered here too, for sessions not started by `kedro`.
follow_the_terminal()
quiet_start()

# Selects each variant's defaults for the run's dataset (its `by_dataset` block).
CONFIG_LOADER_CLASS = ProjectConfigLoader

# Among hooks of one priority the last registered runs first: the checks lead
# (tryfirst), then the run lock, then kedro-mlflow's hook, in the place the
# plugin had. The plugin's own instance is replaced by MaskedMlflowHook, which
# masks passwords. RunContextHooks wraps them all (pluggy runs wrappers around the rest).
HOOKS = (SummaryHooks(), TrackingHooks(), ClusterHooks(), RunSetupHooks(), RunLockHooks(),
         ParameterCheckHooks(), MaskedMlflowHook(), RunContextHooks())
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow",)

__all__ = ["CONFIG_LOADER_ARGS", "CONFIG_LOADER_CLASS", "DISABLE_HOOKS_FOR_PLUGINS", "HOOKS"]
