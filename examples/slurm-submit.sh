#!/bin/bash
# Submits the sweep (examples/slurm-array.sh) and its merge (examples/slurm-merge.sh), the merge
# with --dependency=afterany on the array, from the directory the jobs should run in:
#
#   export ATTNCLUST=/shared/attnclust/packages/lab/bin/attnclust.js
#   examples/slurm-submit.sh [sbatch options for both jobs, e.g. --partition=… --account=…]
#
# Prints "array=<jobid> merge=<jobid>".
set -euo pipefail
: "${ATTNCLUST:?set ATTNCLUST to the installed packages/lab/bin/attnclust.js (see examples/slurm-array.sh)}"
here=$(dirname "$0")
array=$(sbatch --parsable "$@" "$here/slurm-array.sh")
array=${array%%;*} # --parsable prints "jobid" or "jobid;cluster"
merge=$(sbatch --parsable --dependency="afterany:${array}" "$@" "$here/slurm-merge.sh")
echo "array=${array} merge=${merge%%;*}"
