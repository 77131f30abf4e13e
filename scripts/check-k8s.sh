#!/usr/bin/env bash
# Validates examples/k8s-indexed-job.yaml against the Kubernetes API schemas (strict: unknown fields
# are errors) of every version the example supports, with kubernetes-validate from PyPI (pinned; it
# ships the schemas, so nothing else is downloaded), installed into a throwaway virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
if ! "$venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate==1.37.0; then
  echo "SKIPPED check-k8s: kubernetes-validate==1.37.0 did not install from PyPI"
  exit 0
fi
for v in 1.29.0 1.30.0 1.31.0 1.32.0 1.33.0 1.34.0 1.35.0 1.36.0 1.37.0; do
  "$venv/bin/kubernetes-validate" --strict -k "$v" examples/k8s-indexed-job.yaml
done
