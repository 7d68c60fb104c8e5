#!/usr/bin/env bash
# Pushes the same remote_write load at srebot and at Debian's Prometheus receiver
# (--web.enable-remote-write-receiver) in one run and prints both rates and their ratio.
# Usage: scripts/bench-peer.sh [loadgen flags, e.g. --series 20000 --samples 30 --connections 4]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v prometheus >/dev/null || { echo "needs Debian's prometheus (apt-get install prometheus)"; exit 1; }
cargo build --release -q -p server -p bench --bin srebot --bin loadgen
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "no answer from $1"; exit 1; }

srebot_port=$(port); prom_port=$(port)
printf '[scrape]\nself_scrape = false\n[windows]\nlateness_ms = 3600000\n' > "$work/srebot.toml"
target/release/srebot serve --config "$work/srebot.toml" --listen "127.0.0.1:$srebot_port" --data-dir "$work/data" 2>"$work/srebot.log" &
pids+=($!)
printf 'global:\n  scrape_interval: 1h\n' > "$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" --web.enable-remote-write-receiver 2>"$work/prometheus.log" &
pids+=($!)
wait_up "http://127.0.0.1:$srebot_port/healthz"
wait_up "http://127.0.0.1:$prom_port/-/ready"

ours=$(target/release/loadgen --label srebot --url "http://127.0.0.1:$srebot_port/api/v1/write" "$@" | tee /dev/stderr | tail -1)
theirs=$(target/release/loadgen --label prometheus --url "http://127.0.0.1:$prom_port/api/v1/write" "$@" | tee /dev/stderr | tail -1)
python3 - "$ours" "$theirs" <<'PY'
import json, sys
ours, theirs = (json.loads(a) for a in sys.argv[1:3])
print(f"srebot {ours['samples_per_sec']:,.0f} samples/s, prometheus {theirs['samples_per_sec']:,.0f} samples/s: "
      f"ratio {ours['samples_per_sec'] / theirs['samples_per_sec']:.1f}x")
PY
