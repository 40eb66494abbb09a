#!/usr/bin/env bash
# Installs Debian's chromium for the browser test of the HTML report
# (tests/it/report_html.rs, run with `cargo test --test it report_html --
# --ignored`). Does nothing when a chromium is already on PATH.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    echo "chromium present: $(chromium --version 2>/dev/null || echo unknown version)" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium
chromium --version >&2
