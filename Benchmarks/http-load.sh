#!/usr/bin/env bash
# The management hot path against its floor, in one run: Compadre's authenticated
# `GET /v1/{org}/service/` (5 services) and a minimal Hummingbird server answering the very same bytes
# (Benchmarks/HelloWorld), each with wrk (16 connections, 2 threads), on SQLite and — when
# COMPADRE_BENCH_POSTGRES_URL is set — PostgreSQL. Prints requests/s, p50/p99 and the ratio.
#   Benchmarks/http-load.sh [seconds]        (builds the release binaries first)
# Rate limits are off for the run: 20 requests a minute per user is the API's budget, not a speed.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
seconds="${1:-10}"
swift build -c release --product compadre >/dev/null
swift build -c release --product HelloWorldBenchmark >/dev/null
bin="$(swift build -c release --show-bin-path)"
port=18990
hello_port=18991
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

measure() { # label url -> "requests/s p50 p99"
    local out
    out="$(wrk -t2 -c16 -d"${seconds}s" --latency "${@:2}")"
    python3 - "$1" "$out" <<'PY'
import re, sys
label, out = sys.argv[1], sys.argv[2]
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
def pct(p):
    m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
print(f"{rate:.0f} {pct(50):.2f} {pct(99):.2f} {errors.group(1) if errors else 0}")
PY
}

run() {
    local label="$1" url="$2" org="bench$RANDOM"
    creds="$("$bin/compadre" init --org "$org" --database "$url")"
    field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$creds" "$1"; }
    start=$(date +%s.%N)
    COMPADRE_RATE_LIMITS=off COMPADRE_LOG_LEVEL=warning COMPADRE_TOOLS=off COMPADRE_LLM_BASE_URL=http://127.0.0.1:9/v1 "$bin/compadre" serve --port $port --database "$url" &
    local server=$!
    until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.01; done
    ready=$(date +%s.%N)
    token=$(curl -sf -X POST "http://127.0.0.1:$port/v1/$org/user/signin_with_api_key" -H "x-api-key: $(field api_key)" \
        -H "x-api-key-id: $(field api_key_id)" -H "x-user-id: $(field user_id)" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id_token"])')
    python3 Benchmarks/seed_services.py "http://127.0.0.1:$port" "$org" "$token" 5
    curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/$org/service/" >"$work/body.json"
    "$bin/HelloWorldBenchmark" $hello_port "$work/body.json" &
    local hello=$!
    until curl -sf "http://127.0.0.1:$hello_port/healthz" >/dev/null; do sleep 0.01; done
    read -r h_rate h_p50 h_p99 h_err < <(measure hello "http://127.0.0.1:$hello_port/v1/$org/service/")
    read -r c_rate c_p50 c_p99 c_err < <(measure compadre -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/$org/service/")
    kill $hello $server; wait $hello $server 2>/dev/null || true
    echo "== $label: cold start to healthy $(python3 -c "print(round(($ready-$start)*1000))") ms, body $(wc -c <"$work/body.json") bytes"
    echo "   hummingbird hello-world: $h_rate req/s  p50 $h_p50 ms  p99 $h_p99 ms  (non-2xx $h_err)"
    echo "   compadre GET /service/:  $c_rate req/s  p50 $c_p50 ms  p99 $c_p99 ms  (non-2xx $c_err)"
    echo "   ratio: $(python3 -c "print(f'{100*$c_rate/$h_rate:.1f} %')")"
}

run sqlite "sqlite:$work/bench.sqlite"
if [[ -n "${COMPADRE_BENCH_POSTGRES_URL:-}" ]]; then run postgres "$COMPADRE_BENCH_POSTGRES_URL"; fi
