#!/usr/bin/env bash
# Starts a release `quiver serve` on 127.0.0.1 with a token and runs the Flight SQL
# benchmarks against it with Python ADBC: point lookups (1 and 8 client processes), then
# bank transfers in transactions (8 clients, 10,000 accounts). Usage:
#   bench/flight/run.sh [seconds per client count, default 10] [bank seconds, default 20]
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -c "import adbc_driver_flightsql, pyarrow" 2>/dev/null || python3 -m pip install -q adbc-driver-flightsql pyarrow
target="${CARGO_TARGET_DIR:-target}"
cargo build -q --release --workspace
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
echo "bench-token" > "$work/tokens"
"$target/release/quiver" serve "$work/db" --listen 127.0.0.1:0 --token-file "$work/tokens" 2> "$work/log" &
pid=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$work/log" 2>/dev/null && break
  sleep 0.1
done
addr="$(sed -n 's/.*listening on //p' "$work/log" | head -1)"
[ -n "$addr" ] || { cat "$work/log"; exit 1; }
python3 bench/flight/point_reads.py "grpc://$addr" bench-token "${1:-10}"
python3 tests/flight/bank.py "grpc://$addr" bench-token --clients 8 --accounts 10000 --seconds "${2:-20}"
