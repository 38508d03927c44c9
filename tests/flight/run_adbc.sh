#!/usr/bin/env bash
# Starts `quiver serve` on 127.0.0.1 with a token, runs the Python ADBC client against it,
# and stops the server with SIGTERM (which must exit 0).
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -c "import adbc_driver_flightsql, pyarrow" 2>/dev/null || python3 -m pip install -q adbc-driver-flightsql pyarrow
target="${CARGO_TARGET_DIR:-target}"
# `cargo test` has built the binary already; build it only when run on its own.
[ -x "$target/debug/quiver" ] || cargo build -q -p quiver
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
echo "adbc-test-token" > "$work/tokens"
"$target/debug/quiver" serve "$work/db" --listen 127.0.0.1:0 --token-file "$work/tokens" 2> "$work/server.log" &
pid=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$work/server.log" 2>/dev/null && break
  sleep 0.1
done
addr="$(sed -n 's/.*listening on //p' "$work/server.log" | head -1)"
[ -n "$addr" ] || { cat "$work/server.log"; exit 1; }
python3 tests/flight/adbc_client.py "grpc://$addr" adbc-test-token
kill -TERM "$pid"
wait "$pid"
trap 'rm -rf "$work"' EXIT
