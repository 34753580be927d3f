#!/bin/bash
# The confirmations of docs/tuning.md: every headline default, new and old, on
# three fresh seeds at its own schedule (conf/defaults_confirm), on one dataset:
#   benchmarks/confirm_defaults.sh [mnist|fashion_mnist]
# Two processes: one training process keeps about one core busy, so two fill a
# 2-core machine. Resumable: the job store skips finished jobs and resumes a killed one.
# A study's budget is the variant's own schedule on that dataset (its by_dataset
# entry included), read from the project's parameters.
set -u
cd "$(dirname "$0")/.."
dataset=${1:-mnist}
steps() {  # variant -> its default steps on $dataset
    python - "$1" "$dataset" <<'PY'
import sys
from wgan_lab.variants import load_parameters, with_dataset_defaults
variant, dataset = sys.argv[1:]
params = with_dataset_defaults(load_parameters(), dataset)
print(params[variant]["training"]["schedule"]["steps"])
PY
}
confirm() {  # variant
    kedro run --pipelines=study --env=defaults_confirm \
        --params="dataset=$dataset,study.name=confirm_$1,study.variants=[$1],study.baseline=$1,study.budget.amount=$(steps "$1")"
}
( confirm gan && confirm wgan && confirm gan_120s ) &
# wgan_120s is wgan itself on MNIST (its search there kept the settings).
( confirm wgan_gp && { [ "$dataset" = mnist ] || confirm wgan_120s; } && confirm wgan_gp_120s ) &
wait
