#!/usr/bin/env bash
# Runs every test of the workspace, first installing what the tests use (Debian's real
# Prometheus, node_exporter, Alertmanager, PostgreSQL, Redis and NATS, Chromium, node and
# npm, the python-logging-loki client, and playwright-core for the workspace's browser test)
# when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# binary:package pairs the tests start for real on loopback.
needs=(
  prometheus:prometheus
  prometheus-node-exporter:prometheus-node-exporter
  prometheus-alertmanager:prometheus-alertmanager
  pip3:python3-pip
  redis-server:redis-server
  nats-server:nats-server
  chromium:chromium
  node:nodejs
  npm:npm
)
missing=()
for pair in "${needs[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
# PostgreSQL: the ledger tests start their own cluster on loopback with its initdb.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# A real Loki client for the push receiver's tests (they say SKIPPED without it).
python3 -c 'import logging_loki' 2>/dev/null \
  || pip3 install -q --break-system-packages python-logging-loki 2>/dev/null \
  || echo "python-logging-loki not installed: its live test will be skipped"

# The chat channels' test components (their tests say SKIPPED without them): the Telegram Bot
# API emulator (npm telegram-test-api, pinned in scripts/telegram-emulator) and the aiosmtpd
# SMTP server (PyPI). Best effort.
if command -v npm >/dev/null 2>&1; then
  [ -d scripts/telegram-emulator/node_modules/telegram-test-api ] \
    || (cd scripts/telegram-emulator && npm install --no-audit --no-fund --loglevel=error >/dev/null) \
    || echo "telegram-test-api not installed: the Telegram tests will be skipped"
else
  echo "npm not found: the Telegram tests will be skipped"
fi
python3 -c 'import aiosmtpd' 2>/dev/null \
  || pip3 install -q --break-system-packages aiosmtpd 2>/dev/null \
  || echo "aiosmtpd not installed: the email test will be skipped"

# The official MCP Python SDK, pinned: the client of the MCP server's tests over streamable HTTP
# and stdio (they say SKIPPED without it). Best effort.
python3 -c 'import importlib.metadata as m; assert m.version("mcp") == "2.3.0"' 2>/dev/null \
  || pip3 install -q --break-system-packages "mcp==2.3.0" 2>/dev/null \
  || echo "mcp==2.3.0 not installed: the MCP client tests will be skipped"

# The official OpenTelemetry Python SDK and its OTLP/HTTP exporter, pinned: the client of the
# OTLP metrics test (it says SKIPPED without them). Best effort.
python3 -c 'import importlib.metadata as m; assert m.version("opentelemetry-exporter-otlp-proto-http") == "1.45.2"' 2>/dev/null \
  || pip3 install -q --break-system-packages "opentelemetry-sdk==1.45.2" "opentelemetry-exporter-otlp-proto-http==1.45.2" 2>/dev/null \
  || echo "the OpenTelemetry SDK not installed: the OTLP exporter test will be skipped"

# The real local model (SmolLM2-135M GGUF served by node-llama-cpp) for the RCA model test
# (it says SKIPPED without it). Needs npm; best effort.
if command -v npm >/dev/null 2>&1; then
  scripts/llm-serve/setup.sh >/dev/null || echo "local model not fetched: its live test will be skipped"
fi

# The workspace's browser test drives Debian's Chromium with playwright-core (never a
# downloaded browser); it says SKIPPED without them.
if command -v npm >/dev/null 2>&1; then
  (cd server/tests/ui && npm ci --no-audit --no-fund --silent) \
    || echo "playwright-core not installed: the workspace browser test will be skipped"
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# No crate may declare a dependency it does not use.
command -v cargo-machete >/dev/null 2>&1 || cargo install -q cargo-machete --version 0.9.2 --locked
cargo machete
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
