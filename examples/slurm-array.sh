#!/bin/bash
# A sweep as a Slurm job array: task i of 3 runs shard i/3 of examples/sweep-e5.json.
#
#   sbatch examples/slurm-array.sh
#   sbatch --dependency=afterok:<jobid> --wrap \
#     'npx attnclust merge results/sweep-e5 --out results/sweep-e5.jsonl'
#
# Every task appends each finished point to results/sweep-e5/shard-<i>-of-3.jsonl (fsync'ed), so a
# task that is preempted, requeued, killed at the time limit or resubmitted by hand resumes where it
# stopped: rerunning a shard skips the points already in its file. Run it from the project
# directory (or replace `npx attnclust` with the path of an installed attnclust).
#SBATCH --job-name=attnclust-sweep-e5
#SBATCH --array=0-2
#SBATCH --cpus-per-task=2
#SBATCH --mem=2G
#SBATCH --time=00:30:00
#SBATCH --requeue
#SBATCH --output=%x-%A_%a.out
# SIGTERM to the job step two minutes before the time limit: attnclust finishes the current point
# and exits (143); a requeued or resubmitted task resumes from there.
#SBATCH --signal=TERM@120

set -euo pipefail
mkdir -p results

srun npx attnclust sweep examples/sweep-e5.json \
  --out results/sweep-e5 \
  --shard "${SLURM_ARRAY_TASK_ID}/3" \
  --threads "${SLURM_CPUS_PER_TASK:-2}"
