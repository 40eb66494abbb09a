#!/usr/bin/env bash
# Installs Debian's dcmtk (echoscu, storescu) for the ignored DICOM interop
# test, if it is not installed already:
#   .ci/dicom-deps.sh && cargo test --test it scp -- --ignored
set -euo pipefail
if command -v echoscu >/dev/null 2>&1 && command -v storescu >/dev/null 2>&1; then
  echo "dcmtk already installed: $(command -v storescu)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends dcmtk
