#!/bin/bash
# A sweep as a Slurm job array: task i of 3 runs shard i/3 of examples/sweep-e5.json into
# results/sweep-e5/. Submit it with examples/slurm-submit.sh, which also queues the merge.
#
# Install once, not in a job (README, "Sweeps on a cluster"): a built attnclust on storage that
# every node sees, e.g. on a login node with Node.js >= 20 and Rust:
#   git clone <attnclust repository> /shared/attnclust && cd /shared/attnclust && npm ci
# then export ATTNCLUST=/shared/attnclust/packages/lab/bin/attnclust.js before submitting. The job runs
# `srun node "$ATTNCLUST" …` directly: never `npx` (npm renames its process and keeps Slurm's
# signals from reaching attnclust, and may start a build or a registry download inside the job).
#
# Signals and requeue:
# - SIGTERM (scancel --signal=TERM, the --signal=TERM@120 warning before the time limit) makes
#   attnclust finish the current point and exit 75 when points are left; this script then requeues
#   its own task, which resumes the shard. Repeated SIGTERMs are one stop.
# - A requeue by Slurm (scontrol requeue; likewise preemption with PreemptMode=REQUEUE) TERMs the
#   task and restarts it by itself; the restart resumes.
# - A SIGKILL (or any other failure) leaves the task FAILED: the merge then names the missing
#   points. Resubmit the task (`sbatch --parsable --array=<i> examples/slurm-array.sh`; it resumes
#   the shard), then the merge (`sbatch --dependency=afterany:<new job> examples/slurm-merge.sh`).
# - Each shard file has a lock (shard-<i>-of-3.jsonl.lock): a lock left by a killed process is
#   taken over by the next run, and no two processes ever append to one shard.
#SBATCH --job-name=attnclust-sweep-e5
#SBATCH --array=0-2
#SBATCH --cpus-per-task=2
#SBATCH --mem=2G
#SBATCH --time=00:30:00
#SBATCH --requeue
#SBATCH --signal=TERM@120
#SBATCH --open-mode=append
#SBATCH --output=%x-%A_%a.out

set -uo pipefail
ATTNCLUST=${ATTNCLUST:?set ATTNCLUST to the installed packages/lab/bin/attnclust.js (see the header of this script)}
CONFIG=${SWEEP_CONFIG:-examples/sweep-e5.json}
OUT=${SWEEP_OUT:-results/sweep-e5}
SHARDS=3 # the number of array tasks (--array=0-2)

echo "$(date -Is) task ${SLURM_ARRAY_TASK_ID} of job ${SLURM_ARRAY_JOB_ID} (job id ${SLURM_JOB_ID}, restart ${SLURM_RESTART_COUNT:-0}) on $(hostname)"
srun node "$ATTNCLUST" sweep "$CONFIG" --out "$OUT" \
  --shard "${SLURM_ARRAY_TASK_ID}/${SHARDS}" --threads "${SLURM_CPUS_PER_TASK:-1}"
rc=$?
if [ "$rc" -eq 75 ]; then
  echo "$(date -Is) stopped with points left: requeueing job ${SLURM_JOB_ID}"
  scontrol requeue "$SLURM_JOB_ID" && exit 0
  echo "$(date -Is) requeue failed: resubmit task ${SLURM_ARRAY_TASK_ID} (sbatch --array=${SLURM_ARRAY_TASK_ID} …) to resume"
fi
echo "$(date -Is) exit ${rc}"
exit "$rc"
