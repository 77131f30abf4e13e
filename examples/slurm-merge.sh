#!/bin/bash
# Merges the shards of examples/slurm-array.sh into results/sweep-e5.jsonl. Queued by
# examples/slurm-submit.sh with --dependency=afterany, so it runs once every task has ended
# (requeued tasks count as not ended). If a task failed, `attnclust merge` exits 2 naming the
# missing points and their shards, and writes nothing: resubmit the shard's task
# (`sbatch --parsable --array=<i> examples/slurm-array.sh`), then this script again
# (`sbatch --dependency=afterany:<new job> examples/slurm-merge.sh`).
#SBATCH --job-name=attnclust-merge-e5
#SBATCH --cpus-per-task=1
#SBATCH --mem=1G
#SBATCH --time=00:10:00
#SBATCH --open-mode=append
#SBATCH --output=%x-%j.out

set -uo pipefail
ATTNCLUST=${ATTNCLUST:?set ATTNCLUST to the installed packages/lab/bin/attnclust.js (see examples/slurm-array.sh)}
OUT=${SWEEP_OUT:-results/sweep-e5}

echo "$(date -Is) merge of ${OUT} (job ${SLURM_JOB_ID}) on $(hostname)"
srun node "$ATTNCLUST" merge "$OUT" --out "$OUT.jsonl"
rc=$?
echo "$(date -Is) exit ${rc}"
exit "$rc"
