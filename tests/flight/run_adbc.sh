#!/usr/bin/env bash
# Starts `quiver serve` on 127.0.0.1 with a token, runs the Python ADBC client against it,
# then the same over TLS (a self-signed certificate made here), and stops each server with
# SIGTERM (which must exit 0).
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -c "import adbc_driver_flightsql, pyarrow" 2>/dev/null || python3 -m pip install -q adbc-driver-flightsql pyarrow
target="${CARGO_TARGET_DIR:-target}"
# `cargo test` has built the binary already; build it only when run on its own.
[ -x "$target/debug/quiver" ] || cargo build -q --workspace
work="$(mktemp -d)"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
echo "adbc-test-token" > "$work/tokens"

# Starts a server with extra flags; sets $addr and appends its pid to $pids.
start() {
  local name="$1"; shift
  "$target/debug/quiver" serve "$work/$name-db" --listen 127.0.0.1:0 --token-file "$work/tokens" "$@" \
    2> "$work/$name.log" &
  pids+=($!)
  for _ in $(seq 1 100); do
    grep -q "listening on" "$work/$name.log" 2>/dev/null && break
    sleep 0.1
  done
  addr="$(sed -n 's/.*listening on //p' "$work/$name.log" | head -1)"
  [ -n "$addr" ] || { cat "$work/$name.log"; exit 1; }
}

stop_all() {
  for p in "${pids[@]}"; do
    kill -TERM "$p"
    wait "$p"
  done
  pids=()
}

mkdir -p "$work/files"
start plain --files "$work/files"
python3 tests/flight/adbc_client.py "grpc://$addr" adbc-test-token
# COPY inside --files (and refused outside it), tables loaded from an HTTP upstream.
python3 tests/flight/adbc_files_loaders.py "grpc://$addr" adbc-test-token "$work/files"
# Job workers over Flight SQL, SIGKILLed at random moments until every job is done.
python3 tests/flight/job_workers_killed.py "grpc://$addr" adbc-test-token
# Transactions with autocommit off (the DB-API default), then bank transfers from 16
# processes retrying on serialization failures, audited throughout.
python3 tests/flight/adbc_transactions.py "grpc://$addr" adbc-test-token
python3 tests/flight/bank.py "grpc://$addr" adbc-test-token --clients 16 --transfers "${QUIVER_BANK_TRANSFERS:-25}"

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=localhost" \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
start tls --tls-cert "$work/cert.pem" --tls-key "$work/key.pem"
python3 tests/flight/adbc_client.py "grpc+tls://$addr" adbc-test-token --tls-root "$work/cert.pem"

stop_all
# Every index agrees with its table after all of it.
"$target/debug/quiver" verify "$work/plain-db"
