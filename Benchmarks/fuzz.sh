#!/usr/bin/env bash
# Schemathesis 4 against a fresh Compadre, every check on, driven by the server's own /openapi.json.
#
#   Benchmarks/fuzz.sh [--ci] [--examples N] [--seed N] [--workers N] [--document FILE] [BINARY] [-- ST_ARGS...]
#
#   BINARY          the compadre executable (default: $(swift build --show-bin-path)/compadre; not built here)
#   --examples N    schemathesis --max-examples per operation (default 150: a Benchmarks run, over
#                   10,000 requests, about 8 minutes; --ci sets 8: about 6,000 requests, 2 minutes)
#   --seed N        schemathesis --seed (default 1), so a run can be repeated exactly
#   --workers N     concurrent schemathesis workers (default 2)
#   --document FILE fuzz against FILE instead of the served document (to try a regenerated
#                   Sources/Server/Resources/openapi.json before the binary that bundles it is built)
#   -- ST_ARGS      passed to `schemathesis run` as they are (e.g. --include-operation-id get-tools)
#
# Each run: a throwaway SQLite database with a new organization (`compadre init`), the server on a free
# loopback port (rate limits off, a dead model endpoint, its own tools directory), one seeded agent,
# context graph and service so stateful tests reach real rows, a user token, then schemathesis. The
# organization path parameter is pinned; Benchmarks/fuzz_hooks.py keeps the signed-in user from being
# stripped of its rights and applies the few rules JSON Schema cannot state. Prints the number of
# requests and failures and exits non-zero on any failure or error. Reports (JUnit, NDJSON, and a
# pytest file reproducing the failures) are kept in $COMPADRE_FUZZ_REPORTS (default .build/fuzz).
#
# schemathesis is installed (pinned) into $COMPADRE_FUZZ_VENV (default ~/.cache/compadre/schemathesis)
# when missing. Known failures to turn into regression tests: tests/compat/test_fuzz_regressions.py.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

SCHEMATHESIS_VERSION="4.32.5"
examples=150
seed=1
workers=2
document=""
bin=""
st_args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --ci) examples=8; shift ;;
        --examples) examples="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        --workers) workers="$2"; shift 2 ;;
        --document) document="$(realpath "$2")"; shift 2 ;;
        --) shift; st_args=("$@"); break ;;
        -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
        *) bin="$1"; shift ;;
    esac
done
if [[ -z "$bin" ]]; then bin="$(swift build --show-bin-path)/compadre"; fi
if [[ ! -x "$bin" ]]; then echo "fuzz.sh: $bin is not an executable (build it, or pass the binary)" >&2; exit 2; fi

venv="${COMPADRE_FUZZ_VENV:-$HOME/.cache/compadre/schemathesis}"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q " $SCHEMATHESIS_VERSION\$"; then
    # CPython 3.11 can fail inside Hypothesis with "AST constructor recursion depth mismatch"; a newer
    # interpreter is used when one is installed (pyenv's, on these machines).
    python="${COMPADRE_FUZZ_PYTHON:-}"
    if [[ -z "$python" ]]; then
        for candidate in python3.13 python3.12 "$(pyenv root 2>/dev/null)"/versions/3.13*/bin/python3 \
            "$(pyenv root 2>/dev/null)"/versions/3.12*/bin/python3 python3; do
            if "$candidate" -c 'import venv' >/dev/null 2>&1; then python="$candidate"; break; fi
        done
    fi
    echo "==> installing schemathesis $SCHEMATHESIS_VERSION into $venv ($("$python" --version))"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

reports="${COMPADRE_FUZZ_REPORTS:-$root/.build/fuzz}"
mkdir -p "$reports"
find "$reports" -maxdepth 1 -type f -delete  # the previous run's reports
work="$(mktemp -d)"
server=""
cleanup() {
    if [[ -n "$server" ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
org="fuzz"
database="sqlite:$work/fuzz.sqlite"
creds="$("$bin" init --org "$org" --database "$database" 2>"$work/init.log")"
field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$creds" "$1"; }

COMPADRE_RATE_LIMITS=off COMPADRE_LOG_LEVEL="${COMPADRE_LOG_LEVEL:-warning}" COMPADRE_EMAIL_LOG_LINKS=on \
    COMPADRE_LLM_BASE_URL=http://127.0.0.1:9/v1 COMPADRE_TOOLS_DIR="$work/tools" \
    "$bin" serve --host 127.0.0.1 --port "$port" --database "$database" >"$reports/server.log" 2>&1 &
server=$!
for _ in $(seq 600); do
    curl -sf "$base/healthz" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { echo "fuzz.sh: the server exited; see $reports/server.log" >&2; exit 1; }
    sleep 0.1
done
token="$(curl -sf -X POST "$base/v1/$org/user/signin_with_api_key" -H "x-api-key: $(field api_key)" \
    -H "x-api-key-id: $(field api_key_id)" -H "x-user-id: $(field user_id)" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["id_token"])')"
python3 Benchmarks/seed_services.py "$base" "$org" "$token" 1

cat >"$work/schemathesis.toml" <<EOF
# Written by Benchmarks/fuzz.sh.
[parameters]
organization = "$org"
EOF
# Operations whose 400 means "not in the current state" (a first version that must be complete, a
# reference to something missing, a build that failed, a resource still in use, an organization's 10
# webhook destinations, a webhook secret rotated less than an hour ago, a conversation without
# interactions to replay, an SQL query that does not parse...), which no request schema can foresee: a schema-valid request may be
# answered 400 there, as it may be 409 anywhere. A webhook destination's URL must also be HTTPS on a
# public address (this server allows neither plain HTTP nor private networks): a `uri` cannot say so.
state_400="create-api-key delete-user modify-user-variables create-agent-version delete-agent
    create-service-hierarchical-state-machine-version delete-service-hierarchical-state-machine create-service
    upsert-service-version-set delete-service-version-set update-service create-conversation
    interact-with-conversation finish-conversation recommend-responses-for-interaction retrieve-message-source
    modify-tags-of-conversation modify-tool-envvars publish-tool-version invoke-tool-version test-tool
    create-dynamic-behavior-set-version delete-metric create-simulation-persona-version delete-simulation-persona
    create-simulation-scenario-version delete-simulation-scenario create-simulation-unit-test
    update-simulation-unit-test delete-simulation-unit-test get-simulation-unit-test-set-run-artifacts
    create-webhook-destination rotate-webhook-destination-secret create-conversation-replay submit-sql-query"
# A context graph must also be consistent (every state it names exists, references resolve...), which
# JSON Schema cannot say: a schema-valid graph may be answered 422.
graph_422="create-service-hierarchical-state-machine-version"
for operation in $state_400; do
    statuses='"2xx", 400, 401, 403, 404, 409, 429, "5xx"'
    if [[ " $graph_422 " == *" $operation "* ]]; then statuses='"2xx", 400, 401, 403, 404, 409, 422, 429, "5xx"'; fi
    cat >>"$work/schemathesis.toml" <<EOF

[[operations]]
include-operation-id = "$operation"
checks.positive_data_acceptance.expected-statuses = [$statuses]
EOF
done
cat >>"$work/schemathesis.toml" <<'EOF'

# In the stateful phase, a case whose invalid path parameter a link replaced keeps its "negative" label,
# and schemathesis then judges the percent-encoded path value (every version specifier is one) against
# the document's pattern, so it reports a valid request the server rightly accepts. The coverage and
# fuzzing phases test this operation, valid and invalid specifiers alike.
[[operations]]
include-operation-id = "deprecate-tool-version"
phases.stateful.enabled = false

# Deleting the organization would erase the organization the fuzzer works in, and every call after it
# would be 401. OrganizationLifecycleTests and the isolation matrix test it.
[[operations]]
include-operation-id = "delete-organization"
enabled = false
EOF

# ensure_resource_availability is left out: after a POST that created something, it reads any 404 of a
# following request as "the new resource is gone", though the 404 may be about another id the request
# carries in its body, as the API documents it (publish-tool-version: no such project directory;
# assign-role: no such user).
location="$base/openapi.json"
url_args=()
if [[ -n "$document" ]]; then location="$document"; url_args=(--url "$base"); fi
echo "==> schemathesis $SCHEMATHESIS_VERSION: $location, --max-examples $examples --seed $seed --workers $workers"
start=$(date +%s)
status=0
(
    cd "$work"
    SCHEMATHESIS_HOOKS="$root/Benchmarks/fuzz_hooks.py" COMPADRE_FUZZ_COUNT_FILE="$work/requests" \
    COMPADRE_FUZZ_USER_ID="$(field user_id)" \
    "$venv/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$location" "${url_args[@]}" \
        -H "Authorization: Bearer $token" --checks all --exclude-checks ensure_resource_availability \
        --max-examples "$examples" --seed "$seed" \
        --workers "$workers" --report junit,ndjson,pytest --report-dir "$reports" "${st_args[@]}"
) | tee "$reports/schemathesis.txt" || status=$?
elapsed=$(( $(date +%s) - start ))

requests="$(cat "$work/requests" 2>/dev/null || echo "?")"
# schemathesis's closing line counts failures (distinct failed checks) and errors; the JUnit report
# tells which operations (and "Stateful tests") failed.
read -r failures errors passed failed < <(python3 - "$reports" <<'PY'
import glob, re, sys, xml.etree.ElementTree as ET
text = open(f"{sys.argv[1]}/schemathesis.txt", encoding="utf-8", errors="replace").read()
closing = [line for line in text.splitlines() if line.startswith("=") and " in " in line]
last = closing[-1] if closing else ""
def count(word):
    m = re.search(rf"(\d+) {word}", last)
    return int(m.group(1)) if m else 0
passed = 0
failed = []
for path in glob.glob(f"{sys.argv[1]}/junit*.xml"):
    for case in ET.parse(path).getroot().iter("testcase"):
        if case.findall("failure") or case.findall("error"):
            failed.append(case.get("name"))
        else:
            passed += 1
with open(f"{sys.argv[1]}/failed-operations.txt", "w", encoding="utf-8") as f:
    f.writelines(f"{name}\n" for name in failed)
print(count("failure"), count("error"), passed, len(failed))
PY
)
echo "==> fuzz: $requests requests in ${elapsed}s (seed $seed, $examples examples): $failures failures, $errors errors; reports in $reports"
sed 's/^/    failed: /' "$reports/failed-operations.txt"
echo "fuzz: $passed passed, $failed failed"
if [[ $status -ne 0 || $failures -ne 0 || $errors -ne 0 || $failed -ne 0 ]]; then exit 1; fi
