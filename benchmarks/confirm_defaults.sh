#!/bin/bash
# The confirmations of docs/tuning.md: every headline default, new and old, on
# three fresh seeds at its own schedule (conf/defaults_confirm). Two processes:
# one training process keeps about one core busy, so two fill a 2-core machine.
# Resumable: the job store skips finished jobs and resumes a killed one.
set -u
cd "$(dirname "$0")/.."
confirm() {  # variant steps
    kedro run --pipelines=study --env=defaults_confirm \
        --params="study.name=confirm_$1,study.variants=[$1],study.baseline=$1,study.budget.amount=$2"
}
( confirm gan 10000 && confirm wgan 11000 && confirm gan_120s 12000 ) &
( confirm wgan_gp 18000 && confirm wgan_gp_120s 30000 ) &
wait
