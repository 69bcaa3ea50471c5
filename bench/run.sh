#!/usr/bin/env bash
# Side-by-side benchmark of the token endpoint: provider vs panva/oidc-provider (the peer).
# One run: client_credentials on both (same wrk, same settings), refresh_token on provider
# (bench/refresh_load.py), peak RSS of both servers, a summary table and
# bench/results/latest.json. Settings are environment variables; see bench/README.md.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
VENV=${BENCH_VENV:-$ROOT/.venv}
PY=$VENV/bin/python
DURATION=${BENCH_DURATION:-10}      # measured seconds per scenario
WARMUP=${BENCH_WARMUP:-3}           # unmeasured seconds before each
CONNECTIONS=${BENCH_CONNECTIONS:-16}
PROVIDER_PORT=${BENCH_PROVIDER_PORT:-8100}
PEER_PORT=${BENCH_PEER_PORT:-3100}
PEER_SRC=${BENCH_PEER_SRC:-$ROOT/../shared/peers/node-oidc-provider}  # read-only: copied
PROFILE=${BENCH_PROFILE:-0}         # 1: py-spy profile of provider's client_credentials path
# uvicorn's per-request access log is off by default: the peer logs nothing per request.
LOG_LEVEL=${BENCH_PROVIDER_LOG_LEVEL:-warning}
PEER_DIR=$BENCH/.peer
RESULTS=$BENCH/results
HOST=127.0.0.1
AUDIENCE=https://api.example.com
PEER_SECRET=bench-secret-0123456789abcdef0123456789
REDIRECT_URI=http://127.0.0.1:9/cb
EMAIL=bench@example.com
PASSWORD=bench-password-1

PIDS=()
WORK=""
say() { printf '\n== %s\n' "$*"; }
fail() {
  echo "bench: FAILED: $*" >&2
  for log in "$WORK"/*.log; do
    [[ -f $log ]] && { echo "--- last lines of $(basename "$log")" >&2; tail -n 20 "$log" >&2; }
  done
  exit 1
}

cleanup() {  # every process this script started, even after a failure or Ctrl-C
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  [[ -n $WORK ]] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A stray PROVIDER_* variable (a config file, a database URL) must not leak into this run.
while read -r name; do unset "$name"; done < <(compgen -e | grep '^PROVIDER_' || true)

# -- prerequisites ---------------------------------------------------------------------------
command -v wrk >/dev/null || { echo "wrk is missing: installing it"; apt-get install -y wrk; }
command -v node >/dev/null && command -v npm >/dev/null || fail "node and npm are needed"
[[ -x $VENV/bin/provider ]] || fail "no provider in $VENV (pip install -e . there)"
for port in "$PROVIDER_PORT" "$PEER_PORT"; do
  # Something already answering there would be benchmarked instead of our server.
  if (exec 3<>"/dev/tcp/$HOST/$port") 2>/dev/null; then fail "port $port is already in use"; fi
done
mkdir -p "$RESULTS" "$PEER_DIR"
WORK=$(mktemp -d -t provider-bench.XXXXXX)

say "peer: copying $PEER_SRC to bench/.peer"
cp "$PEER_SRC/package.json" "$PEER_SRC/server.mjs" "$PEER_DIR/"
if ! cmp -s "$PEER_DIR/package.json" "$PEER_DIR/node_modules/.bench-package.json"; then
  (cd "$PEER_DIR" && npm install --no-audit --no-fund --loglevel=error) || fail "npm install"
  cp "$PEER_DIR/package.json" "$PEER_DIR/node_modules/.bench-package.json"
fi

# -- provider: fresh data dir, clients and user made with its CLI ----------------------------
export PROVIDER_DATA_DIR=$WORK/data PROVIDER_ISSUER=http://$HOST:$PROVIDER_PORT/
export PROVIDER_DEMO=false PROVIDER_LOG_LEVEL=$LOG_LEVEL
json_field() { "$PY" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

say "provider: creating clients and a user in $PROVIDER_DATA_DIR"
cc_client=$("$VENV/bin/provider" clients create --name bench --grant-type client_credentials \
  --audience "$AUDIENCE" --scope read --json) || fail "provider clients create"
rt_client=$("$VENV/bin/provider" clients create --name bench-refresh --first-party \
  --redirect-uri "$REDIRECT_URI" --grant-type authorization_code --grant-type refresh_token \
  --json) || fail "provider clients create"
"$VENV/bin/provider" users create --email "$EMAIL" --password "$PASSWORD" >/dev/null \
  || fail "provider users create"
CC_ID=$(json_field client_id <<<"$cc_client"); CC_SECRET=$(json_field client_secret <<<"$cc_client")
RT_ID=$(json_field client_id <<<"$rt_client"); RT_SECRET=$(json_field client_secret <<<"$rt_client")

# -- start both servers -----------------------------------------------------------------------
# `provider serve` with one worker runs uvicorn inside itself, so $! is the server's pid
# (checked below against the listening socket).
"$VENV/bin/provider" serve --host "$HOST" --port "$PROVIDER_PORT" >"$WORK/provider.log" 2>&1 &
PROVIDER_PID=$!; PIDS+=("$PROVIDER_PID")
PORT=$PEER_PORT FORMAT=jwt node "$PEER_DIR/server.mjs" >"$WORK/peer.log" 2>&1 &
PEER_PID=$!; PIDS+=("$PEER_PID")

wait_ready() {  # name pid url
  for _ in $(seq 300); do
    kill -0 "$2" 2>/dev/null || fail "$1 exited during start-up"
    curl -fsS --noproxy '*' -o /dev/null "$3" 2>/dev/null && return 0
    sleep 0.2
  done
  fail "$1 did not answer $3 within 60 s"
}
check_pid() {  # name pid port: the pid whose RSS we read must be the listening server
  [[ -z $(pgrep -P "$2" || true) ]] || fail "$1 ($2) has child processes; RSS would be wrong"
  if command -v ss >/dev/null; then
    ss -ltnpH "sport = :$3" | grep -q "pid=$2," || fail "$1: pid $2 is not listening on $3"
  fi
}
wait_ready provider "$PROVIDER_PID" "http://$HOST:$PROVIDER_PORT/healthz"
wait_ready peer "$PEER_PID" "http://$HOST:$PEER_PORT/.well-known/openid-configuration"
check_pid provider "$PROVIDER_PID" "$PROVIDER_PORT"
check_pid peer "$PEER_PID" "$PEER_PORT"

# -- client_credentials: same wrk, same settings, one server at a time --------------------------
PROVIDER_URL=http://$HOST:$PROVIDER_PORT/oauth/token
PEER_URL=http://$HOST:$PEER_PORT/token
enc_aud=${AUDIENCE//:/%3A}; enc_aud=${enc_aud//\//%2F}
# Both ask for an RS256 JWT for the same API with scope read (the peer's API is its `resource`).
PROVIDER_BODY="grant_type=client_credentials&client_id=$CC_ID&client_secret=$CC_SECRET&audience=$enc_aud&scope=read"
PEER_BODY="grant_type=client_credentials&client_id=bench&client_secret=$PEER_SECRET&resource=$enc_aud&scope=read"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime, all threads
load() {  # name pid url body output-file
  say "$1 client_credentials: check, ${WARMUP}s warm-up, ${DURATION}s measured"
  "$PY" "$BENCH/check_token.py" "$3" "$4" || fail "$1 did not issue a token"
  BENCH_BODY=$4 wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" -s "$BENCH/token.lua" "$3" >/dev/null
  local ticks=$(cpu_ticks "$2") started=$EPOCHREALTIME
  BENCH_BODY=$4 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$BENCH/token.lua" "$3" \
    | tee "$5"
  grep -q '^BENCH_JSON ' "$5" || fail "wrk against $1 printed no result"
  # The server's CPU over the measured run, in % of one core: is it saturating a core?
  awk -v t="$(( $(cpu_ticks "$2") - ticks ))" -v hz="$(getconf CLK_TCK)" \
    -v s="$started" -v e="$EPOCHREALTIME" 'BEGIN {printf "BENCH_CPU %.1f\n", 100*t/hz/(e-s)}' \
    | tee -a "$5"
}
load peer "$PEER_PID" "$PEER_URL" "$PEER_BODY" "$RESULTS/wrk-peer-client_credentials.txt"
load provider "$PROVIDER_PID" "$PROVIDER_URL" "$PROVIDER_BODY" \
  "$RESULTS/wrk-provider-client_credentials.txt"

# -- refresh_token: provider only, its own generator (one rotating chain per worker) ----------
say "provider refresh_token: $CONNECTIONS chains, ${WARMUP}s warm-up, ${DURATION}s measured"
"$PY" "$BENCH/refresh_load.py" --base-url "http://$HOST:$PROVIDER_PORT" \
  --client-id "$RT_ID" --client-secret "$RT_SECRET" --redirect-uri "$REDIRECT_URI" \
  --email "$EMAIL" --password "$PASSWORD" --workers "$CONNECTIONS" \
  --duration "$DURATION" --warmup "$WARMUP" --out "$RESULTS/refresh-provider.json" \
  || fail "refresh_token load failed"

# -- peak memory, then the summary ------------------------------------------------------------
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
tree_state() {  # the figures belong to the working tree; say if it differs from the commit
  # GIT_OPTIONAL_LOCKS=0: read-only, git must not refresh the index.
  local changed
  changed=$(GIT_OPTIONAL_LOCKS=0 git -C "$ROOT" status --porcelain -- provider 2>/dev/null \
    | wc -l) || { echo unknown; return; }
  [[ $changed == 0 ]] && echo none || echo "$changed files under provider/"
}
PROVIDER_RSS=$(hwm_kb "$PROVIDER_PID"); PEER_RSS=$(hwm_kb "$PEER_PID")

say "summary"
"$PY" "$BENCH/summary.py" --out "$RESULTS/latest.json" \
  --provider-cc "$RESULTS/wrk-provider-client_credentials.txt" \
  --peer-cc "$RESULTS/wrk-peer-client_credentials.txt" \
  --provider-refresh "$RESULTS/refresh-provider.json" \
  --provider-rss-kb "$PROVIDER_RSS" --peer-rss-kb "$PEER_RSS" \
  --meta "date=$(date -u +%FT%TZ)" --meta "cpus=$(nproc)" \
  --meta "cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" \
  --meta "provider_commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  --meta "provider_uncommitted_changes=$(tree_state)" \
  --meta "python=$("$PY" -c 'import platform; print(platform.python_version())')" \
  --meta "node=$(node --version)" \
  --meta "oidc_provider=$(node -p "require('$PEER_DIR/node_modules/oidc-provider/package.json').version")" \
  --meta "wrk=wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency (after ${WARMUP}s warm-up)" \
  --meta "provider_log_level=$LOG_LEVEL" --meta "database=sqlite (fresh temp dir)"

# -- optional: where provider's time goes on client_credentials --------------------------------
if [[ $PROFILE == 1 ]]; then
  say "profile: py-spy on provider (pid $PROVIDER_PID) for 10 s under the same wrk load"
  [[ -x $VENV/bin/py-spy ]] || "$VENV/bin/pip" install --quiet py-spy
  BENCH_BODY=$PROVIDER_BODY wrk -t1 -c"$CONNECTIONS" -d12s -s "$BENCH/token.lua" \
    "$PROVIDER_URL" >"$RESULTS/wrk-provider-profiled.txt" &
  WRK_PID=$!; PIDS+=("$WRK_PID")
  sleep 1
  "$VENV/bin/py-spy" record --pid "$PROVIDER_PID" --duration 10 --format raw \
    -o "$RESULTS/profile.raw" >/dev/null 2>&1 || fail "py-spy could not sample pid $PROVIDER_PID"
  wait "$WRK_PID" || true
  "$PY" "$BENCH/hotspots.py" "$RESULTS/profile.raw" | tee "$RESULTS/hotspots.txt"
fi
