#!/usr/bin/env bash
# Static checks of infra/: terraform fmt, checkov on the Terraform, and for infra/k8s: kustomize
# rendering, checkov on the rendered manifests, YAML syntax of the istiod values.
# No provider downloads: `terraform init`/`validate` need the registry, so they run elsewhere
# (infra/README.md, "Checks"). checkov installs once into .services/checkov-venv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CHECKOV_VERSION=3.3.30
VENV=.services/checkov-venv
start=$(date +%s)

# (a) formatting
if ! command -v terraform >/dev/null 2>&1; then
  cat >&2 <<'MSG'
check-infra: terraform is not installed, and neither Debian's apt nor PyPI packages it.
Install the single binary from HashiCorp's release page (>= 1.6; the project uses 1.11), e.g.
  unzip terraform_1.11.4_linux_amd64.zip -d /usr/local/bin
or through HashiCorp's own apt repository, then run this script again.
MSG
  exit 1
fi
# A TF_CLI_CONFIG_FILE naming a missing file only adds a warning to every terraform call.
if [[ -n "${TF_CLI_CONFIG_FILE:-}" && ! -e "$TF_CLI_CONFIG_FILE" ]]; then
  unset TF_CLI_CONFIG_FILE
fi
echo "== terraform fmt -check -recursive infra ($(terraform version | head -n1))"
if ! terraform fmt -check -recursive -diff infra; then
  echo "check-infra: terraform fmt failed (files listed above need: terraform fmt -recursive infra)" >&2
  exit 1
fi

# (b) checkov
if [[ ! -x "$VENV/bin/checkov" ]]; then
  echo "== installing checkov $CHECKOV_VERSION into $VENV"
  mkdir -p .services
  # As scripts/services.sh does: a bare Debian python3 lacks venv until python3-venv is in.
  python3 -m venv "$VENV" 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv && python3 -m venv "$VENV"; }
  "$VENV/bin/pip" install -q --disable-pip-version-check "checkov==$CHECKOV_VERSION"
fi
echo "== checkov -d infra --framework terraform"
# Skips are inline only (#checkov:skip=ID:reason next to the resource), never on this line.
# --quiet prints failed checks only; the summary line still counts passed/failed/skipped.
"$VENV/bin/checkov" -d infra --framework terraform --skip-download --quiet --compact

# (c) Kubernetes manifests, once infra/k8s exists: every kustomize directory under it (base,
# apply, apply/rbac) is rendered with `kubectl kustomize` and the rendered YAML checked by
# checkov. Skips are inline only, as a `checkov.io/skip1: CKV_K8S_XX=reason` annotation on the
# resource in the source YAML (kustomize carries it into the rendering). The istiod values and
# IstioOperator files are not kustomize input: their YAML syntax is checked.
if [[ -d infra/k8s ]]; then
  if ! command -v kubectl >/dev/null 2>&1; then
    echo "check-infra: infra/k8s exists but kubectl is not installed (needed for kubectl kustomize)" >&2
    exit 1
  fi
  rendered_dir=$(mktemp -d)
  trap 'rm -rf "$rendered_dir"' EXIT
  mapfile -t kustomize_dirs < <(find infra/k8s -name kustomization.yaml -printf '%h\n' | sort)
  if [[ ${#kustomize_dirs[@]} -eq 0 ]]; then
    echo "check-infra: no kustomization.yaml under infra/k8s" >&2
    exit 1
  fi
  for dir in "${kustomize_dirs[@]}"; do
    out="$rendered_dir/$(echo "${dir#infra/k8s/}" | tr / _).yaml"
    echo "== kubectl kustomize $dir"
    kubectl kustomize "$dir" >"$out"
    echo "== checkov -f (rendered $dir) --framework kubernetes"
    "$VENV/bin/checkov" -f "$out" --framework kubernetes --skip-download --quiet --compact
  done
  shopt -s nullglob
  istiod_yaml=(infra/k8s/istiod/*.yaml)
  shopt -u nullglob
  if [[ ${#istiod_yaml[@]} -gt 0 ]]; then
    echo "== YAML syntax: ${istiod_yaml[*]}"
    "$VENV/bin/python" - "${istiod_yaml[@]}" <<'PY'
import sys

import yaml

for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    if not docs:
        sys.exit(f"check-infra: {path} holds no YAML document")
PY
  fi
fi

echo "check-infra: ok ($(( $(date +%s) - start ))s)"
