#!/usr/bin/env bash
# Soak test: one `compadre serve` under long mixed traffic (management reads, REST conversations
# streamed as NDJSON, realtime WebSocket sessions) with the compatibility suite's fake model, sampling
# RSS, open fds, threads and database size every 30 s; fails on request errors, RSS growth >= 5 % or
# fd growth > 10 % after the warm-up. Details and options: Benchmarks/soak.py --help.
#
#   Benchmarks/soak.sh [--bin PATH | PATH] [--minutes 30] [soak.py options]
#
# The binary: --bin PATH (or a first argument that is a path), else $COMPADRE_BIN, else
# $(swift build -c release --show-bin-path)/compadre (build it first: swift build -c release --product compadre).
# SQLite in a temporary directory; PostgreSQL when COMPADRE_BENCH_POSTGRES_URL is set (a fresh
# organization in that database; its size is read with psql). Rate limits are off for the run
# (COMPADRE_RATE_LIMITS=off); every other server setting is its default.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

bin="${COMPADRE_BIN:-}"
if (( $# )) && [[ "$1" != -* ]]; then bin="$1"; shift; fi
args=()
while (( $# )); do
    case "$1" in
        --bin) bin="$2"; shift 2 ;;
        --bin=*) bin="${1#--bin=}"; shift ;;
        *) args+=("$1"); shift ;;
    esac
done
if [[ -z "$bin" ]]; then
    bin="$(swift build -c release --show-bin-path)/compadre"
fi
if [[ ! -x "$bin" ]]; then
    echo "soak: $bin is not an executable; build it (swift build -c release --product compadre) or pass --bin PATH" >&2
    exit 2
fi

if ! "$PYTHON" -c 'import httpx, websockets' 2>/dev/null; then
    echo "soak: installing tests/compat/requirements.txt" >&2
    "$PYTHON" -m pip install -q --disable-pip-version-check -r tests/compat/requirements.txt
fi
if [[ -n "${COMPADRE_BENCH_POSTGRES_URL:-}" ]] && ! command -v psql >/dev/null; then
    echo "soak: psql not found: the PostgreSQL database size will read n/a" >&2
fi

exec "$PYTHON" Benchmarks/soak.py --bin "$bin" "${args[@]}"
