#!/usr/bin/env bash
# Runs every test of the workspace, first installing what the tests use (Debian's real
# Prometheus, node_exporter and Alertmanager) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# binary:package pairs the tests start for real on loopback.
needs=(
  prometheus:prometheus
  prometheus-node-exporter:prometheus-node-exporter
  prometheus-alertmanager:prometheus-alertmanager
)
missing=()
for pair in "${needs[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
