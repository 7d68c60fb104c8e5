#!/usr/bin/env bash
# The soak and fault run: first the most a release `srebot serve` stores per second from the
# soak's two senders sending flat out (60 s, on a server of its own), then 30 minutes at half
# of it on a fresh server with rules, anomaly detectors and Loki push on, source b away for 10
# minutes and then resending its backlog in order. Prints RSS over time, ingest latency
# p50/p99, samples sent against stored per source and the detection loop's share of a core.
# Usage: bench/soak/run.sh [soak flags, e.g. --minutes 30]; with --rate N the maximum is not
# measured and the soak runs at N samples/s.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p server -p bench --bin srebot --bin soak
bin="${CARGO_TARGET_DIR:-target}/release"
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

serve() {
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  rm -rf "$work/data"
  "$bin/srebot" serve --config bench/soak/srebot.toml --listen "127.0.0.1:$port" \
    --data-dir "$work/data" 2>"$work/srebot.log" &
  pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
}

rate=()
if [[ " $* " != *" --rate "* ]]; then
  serve
  found=$("$bin/soak" --url "http://127.0.0.1:$port" --pid "$pid" --find-max 60)
  echo "$found"
  max=$(sed -n 's/.*: \([0-9]*\) samples\/s stored.*/\1/p' <<<"$found")
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  rate=(--rate $((max / 2)))
  echo "soak at half the measured maximum: $((max / 2)) samples/s"
fi
serve
"$bin/soak" --url "http://127.0.0.1:$port" --pid "$pid" "${rate[@]}" "$@"
