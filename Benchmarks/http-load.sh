#!/usr/bin/env bash
# Measures `compadre serve` cold start and GET /v1/{org}/service/ throughput with 16 concurrent
# connections (wrk, from Debian's package), on SQLite and, when COMPADRE_BENCH_POSTGRES_URL is set, PostgreSQL.
#   Benchmarks/http-load.sh [path/to/compadre]   (default: the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null; }
bin="${1:-$(swift build -c release --show-bin-path)/compadre}"
port=18990
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

run() {
    local label="$1" url="$2" org="bench$RANDOM"
    creds="$("$bin" init --org "$org" --database "$url")"
    key=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["api_key"])' "$creds")
    key_id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["api_key_id"])' "$creds")
    user=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["user_id"])' "$creds")
    start=$(date +%s.%N)
    COMPADRE_RATE_LIMITS=off COMPADRE_LOG_LEVEL=warning "$bin" serve --port $port --database "$url" &
    until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.01; done
    ready=$(date +%s.%N)
    token=$(curl -sf -X POST "http://127.0.0.1:$port/v1/$org/user/signin_with_api_key" -H "x-api-key: $key" -H "x-api-key-id: $key_id" -H "x-user-id: $user" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["id_token"])')
    python3 Benchmarks/seed_services.py "http://127.0.0.1:$port" "$org" "$token" 5
    echo "== $label: cold start to healthy $(python3 -c "print(round(($ready-$start)*1000))") ms"
    wrk -t2 -c16 -d10s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/$org/service/" | grep -E "Requests/sec|Latency|requests in"
    kill %1; wait %1 2>/dev/null || true
}

run sqlite "sqlite:$work/bench.sqlite"
if [[ -n "${COMPADRE_BENCH_POSTGRES_URL:-}" ]]; then run postgres "$COMPADRE_BENCH_POSTGRES_URL"; fi
