#!/usr/bin/env bash
# Pushes the same remote_write load at srebot, at Debian's Prometheus receiver
# (--web.enable-remote-write-receiver) and at VictoriaMetrics single-node in one run, and
# prints each rate, what each receiver says it stored (its own counter, not the 2xx count),
# and srebot's ratio to each peer. A run where a receiver stored less than it was sent says so.
# Usage: scripts/bench-peer.sh [loadgen flags, e.g. --series 20000 --samples 30 --connections 4]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v prometheus >/dev/null || { echo "needs Debian's prometheus (apt-get install prometheus)"; exit 1; }
command -v victoria-metrics >/dev/null || { echo "needs Debian's victoria-metrics (apt-get install victoria-metrics)"; exit 1; }
cargo build --release -q -p server -p bench --bin srebot --bin loadgen
bin="${CARGO_TARGET_DIR:-target}/release"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "no answer from $1"; exit 1; }

srebot_port=$(port); prom_port=$(port); vm_port=$(port)
# Lateness covers the whole load (loadgen's samples span --samples x 15 s before now).
printf '[scrape]\nself_scrape = false\n[windows]\nlateness_ms = 3600000\nretention_ms = 7200000\n' > "$work/srebot.toml"
"$bin/srebot" serve --config "$work/srebot.toml" --listen "127.0.0.1:$srebot_port" --data-dir "$work/data" 2>"$work/srebot.log" &
pids+=($!)
printf 'global:\n  scrape_interval: 1h\n' > "$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" --web.enable-remote-write-receiver 2>"$work/prometheus.log" &
pids+=($!)
victoria-metrics -httpListenAddr="127.0.0.1:$vm_port" -storageDataPath="$work/vm" \
  -retentionPeriod=100y 2>"$work/vm.log" >/dev/null &
pids+=($!)
wait_up "http://127.0.0.1:$srebot_port/healthz"
wait_up "http://127.0.0.1:$prom_port/-/ready"
wait_up "http://127.0.0.1:$vm_port/health"

run() {
  "$bin/loadgen" --label "$1" --url "$2" --stored "$3" "${@:4}" | tee /dev/stderr | tail -1
}
ours=$(run srebot "http://127.0.0.1:$srebot_port/api/v1/write" \
  "http://127.0.0.1:$srebot_port/metrics#srebot_samples_received_total" "$@")
prom=$(run prometheus "http://127.0.0.1:$prom_port/api/v1/write" \
  "http://127.0.0.1:$prom_port/metrics#prometheus_tsdb_head_samples_appended_total" "$@")
vm=$(run victoria-metrics "http://127.0.0.1:$vm_port/api/v1/write" \
  "http://127.0.0.1:$vm_port/metrics#vm_rows_added_to_storage_total" "$@")
python3 - "$ours" "$prom" "$vm" <<'PY'
import json, sys
runs = [json.loads(a) for a in sys.argv[1:4]]
for r in runs:
    ok = "every sample stored" if r["stored_ok"] else f"STORED {r['stored']} OF {r['samples']}"
    print(f"{r['label']:>16}: {r['samples_per_sec']:>12,.0f} samples/s sent, {r['stored']:,} stored ({ok})")
ours = runs[0]
for peer in runs[1:]:
    print(f"srebot / {peer['label']}: {ours['samples_per_sec'] / peer['samples_per_sec']:.1f}x")
PY
