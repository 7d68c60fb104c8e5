#!/usr/bin/env bash
# The soak and fault run: a release `srebot serve` with rules, anomaly detectors and Loki
# push on, fed by `soak` from two sources for 30 minutes (source b away for 10 of them, then
# resending its backlog in order). Prints RSS over time, ingest latency p50/p99, samples sent
# against stored per source and the detection loop's share of a core.
# Usage: bench/soak/run.sh [soak flags, e.g. --rate 400000 --minutes 30]
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p server -p bench --bin srebot --bin soak
bin="${CARGO_TARGET_DIR:-target}/release"
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin/srebot" serve --config bench/soak/srebot.toml --listen "127.0.0.1:$port" \
  --data-dir "$work/data" 2>"$work/srebot.log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
"$bin/soak" --url "http://127.0.0.1:$port" --pid "$pid" "$@"
