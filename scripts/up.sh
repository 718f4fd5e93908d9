#!/usr/bin/env bash
# `make up`: the whole system in the foreground — Redis (only if none answers at REDIS_URL), the API,
# one worker, Flower and the webhook deliverer — kept running: a process that dies once the system is
# up is started again after a backoff. Ctrl-C stops everything this script started. Every ENDOSCRIBE_*
# variable in the environment reaches each process unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
API_PORT="${ENDOSCRIBE_API_PORT:-8000}"
# Loopback unless asked: with no ENDOSCRIBE_API_KEYS the API is open to whoever can reach it.
API_HOST="${ENDOSCRIBE_API_HOST:-127.0.0.1}"
FLOWER_PORT="${ENDOSCRIBE_FLOWER_PORT:-5555}"
# Where the Redis this script starts keeps its append-only file, so jobs survive a restart of `make up`.
DATA_DIR="$(realpath -m "${ENDOSCRIBE_DATA_DIR:-.data}")"
# Workers read models from disk only; nothing is downloaded at run time.
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
# No telemetry (docs/operations/privacy.md); the worker forces these itself too.
export PYANNOTE_METRICS_ENABLED=false OTEL_SDK_DISABLED=true HF_HUB_DISABLE_TELEMETRY=1 DO_NOT_TRACK=1
export PYTHONUNBUFFERED=1
# Without keys the API serves anyone who reaches it: allowed (development mode) only on loopback.
if [ -z "${ENDOSCRIBE_API_KEYS:-}" ]; then
    case "$API_HOST" in
        127.0.0.1|localhost|::1) export ENDOSCRIBE_DEV_MODE="${ENDOSCRIBE_DEV_MODE:-true}" ;;
        *) echo "ENDOSCRIBE_API_HOST=$API_HOST exposes the API: set ENDOSCRIBE_API_KEYS first"; exit 1 ;;
    esac
fi

# Backoff between restarts of one process: 1 s, doubling up to 30 s, back to 1 s once it has stayed
# up a minute (a crash loop slows down; a rare crash is repaired at once).
BACKOFF_FIRST=1 BACKOFF_MAX=30 HEALTHY_AFTER=60
services=()                  # what this script runs, in start order (Redis first when it is ours)
# Per service: its pid (empty while it waits to restart), when it started, its next backoff, and
# when its restart is due.
declare -A pid=() started=() delay=() due=()
ready=0                      # 1 once a worker has beaten: from then on a process that dies is restarted

# The traps only count signals (HUP: the terminal closed) and the loops below act on the count, so a
# second Ctrl-C during shutdown is noticed (bash does not rerun a trap that is still running).
signals=0
trap 'signals=$((signals + 1))' INT TERM HUP
trap 'stop_all' EXIT

# Ctrl-C in a terminal kills a foreground sleep too: its status must not end the script (set -e).
pause() { sleep "$1" || true; }

# Each process in its own process group: Ctrl-C in a terminal signals the foreground group, which is
# then this script alone, and it stops the rest in order. Otherwise Redis would stop at once under a
# worker finishing its job, and the worker's ffmpeg would die mid-decode. (`set -m` would also do it,
# but takes the terminal over.) They all stay in this script's session; the pid is the program's own.
ALONE=("$BIN/python" -c 'import os, sys; os.setpgid(0, 0); os.execvp(sys.argv[1], sys.argv[1:])')
launch() {
    case "$1" in
        redis)
            # AOF, fsynced every second: queued jobs, records and transcripts outlive a restart.
            "${ALONE[@]}" redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$DATA_DIR/redis" \
                --appendonly yes --appendfsync everysec --save "" --loglevel warning & ;;
        api)
            # --ws-max-size: a live chunk is at most 32,000 bytes; a bigger WebSocket message is refused unread.
            "${ALONE[@]}" "$BIN/uvicorn" api.main:app --host "$API_HOST" --port "$API_PORT" --proxy-headers \
                --ws-max-size 32768 & ;;
        worker)
            # Solo pool: CUDA is not fork-safe, and one resident model serves one job at a time.
            "${ALONE[@]}" "$BIN/celery" -A worker.celery_app worker -P solo -Q transcribe -c 1 -n "worker1@%h" \
                --loglevel INFO & ;;
        flower)
            "${ALONE[@]}" "$BIN/celery" -A worker.celery_app flower --conf=worker/flowerconfig.py --address="$API_HOST" --port="$FLOWER_PORT" \
                --loglevel=WARNING & ;;
        deliverer)
            # A separate light process (no torch), so slow receivers never hold up a GPU.
            "${ALONE[@]}" "$BIN/python" -m webhooks.deliverer & ;;
    esac
    pid[$1]=$!
    started[$1]=$SECONDS
}

start() {
    services+=("$1")
    delay[$1]=$BACKOFF_FIRST
    launch "$1"
}

# Sets `code` and returns 0 when the named process has exited since the last look (and reaps it).
exited() {
    local p=${pid[$1]}
    [ -n "$p" ] || return 1
    kill -0 "$p" 2>/dev/null && return 1
    code=0
    wait "$p" || code=$?
    pid[$1]=""
    return 0
}

# One look at one process: note its exit and schedule the restart, or restart it when due.
supervise() {
    local name=$1
    if exited "$name"; then
        if (( SECONDS - started[$name] >= HEALTHY_AFTER )); then delay[$name]=$BACKOFF_FIRST; fi
        echo "$name exited (code $code); restarting in ${delay[$name]}s"
        due[$name]=$(( SECONDS + delay[$name] ))
        delay[$name]=$(( delay[$name] * 2 > BACKOFF_MAX ? BACKOFF_MAX : delay[$name] * 2 ))
    elif [ -z "${pid[$name]}" ] && (( SECONDS >= due[$name] )); then
        launch "$name"
    fi
}

# SIGTERM to the services, then to Redis once they are gone, so a worker can still record how its job
# ended. A worker finishes its running job first; a second Ctrl-C kills what is left.
stop_all() {
    trap - EXIT
    (( ${#services[@]} )) || return 0
    # Shutting down whatever fails (an echo to a terminal that has gone): stop every process regardless.
    set +e
    signals_at_stop=$signals
    local name others=()
    for name in "${services[@]}"; do [ "$name" = redis ] || others+=("$name"); done
    echo; echo "stopping EndoScribe (a running job finishes first; Ctrl-C again to stop at once)..."
    # Until the first heartbeat the worker runs no job, only its model load, which SIGTERM does not
    # interrupt (Celery stops after it, half a minute later): nothing is lost by killing it.
    if (( ! ready )) && [ -n "${pid[worker]:-}" ]; then kill -KILL "${pid[worker]}" 2>/dev/null || true; fi
    stop_group "${others[@]}"
    # Redis stops in a moment; only yet another Ctrl-C kills it.
    signals_at_stop=$signals
    if [ -n "${pid[redis]:-}" ]; then stop_group redis; fi
}

stop_group() {
    local name p killed=0
    local -a running
    for name in "$@"; do
        p=${pid[$name]}
        if [ -n "$p" ]; then kill -TERM "$p" 2>/dev/null || true; fi
    done
    while true; do
        running=()
        for name in "$@"; do
            if ! exited "$name" && [ -n "${pid[$name]}" ]; then running+=("$name"); fi
        done
        (( ${#running[@]} )) || return 0
        if (( signals > signals_at_stop && ! killed )); then
            echo "stopping at once: ${running[*]}"
            for name in "${running[@]}"; do kill -KILL "${pid[$name]}" 2>/dev/null || true; done
            killed=1
        fi
        pause 0.2
    done
}

# Before the banner a process that exits is a start failure (a port in use, a bad setting): restarting
# it would only loop, so everything stops.
check_started() {
    local name
    for name in "${services[@]}"; do
        if exited "$name"; then
            echo "$name exited (code $code) before EndoScribe was up; see the log above"
            exit 1
        fi
    done
    if (( signals )); then exit 0; fi
}

# The same client every process builds (core/redis_connection.py), so a rediss:// URL is verified as they verify it.
redis_client="from core.redis_connection import connect_redis; from core.settings import Settings; c = connect_redis(Settings(), socket_timeout=1)"
redis_answers() { "$BIN/python" -c "$redis_client; c.ping()" 2>/dev/null; }

if redis_answers; then
    echo "using the Redis that answers at $REDIS_URL (jobs and transcripts already there stay)"
else
    read -r host redis_port < <("$BIN/python" -c "from urllib.parse import urlparse; import sys; u = urlparse(sys.argv[1]); print(u.hostname, u.port or 6379)" "$REDIS_URL")
    case "$host" in
        127.0.0.1|localhost|::1) ;;
        *) echo "no Redis answers at $REDIS_URL (host $host): start it, or unset REDIS_URL for a local one"; exit 1 ;;
    esac
    echo "no Redis answers at $REDIS_URL: starting a local redis-server on port $redis_port (data in $DATA_DIR/redis)"
    mkdir -p "$DATA_DIR/redis"
    start redis
    # Loading a large append-only file takes a while; Redis answers LOADING until it is done.
    until redis_answers; do check_started; pause 0.2; done
fi

if [ -z "${FLOWER_BASIC_AUTH:-}" ]; then
    FLOWER_BASIC_AUTH="admin:$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(12))')"
    generated_auth=1
fi
export FLOWER_BASIC_AUTH
if [ -z "${ENDOSCRIBE_WEBHOOK_SECRET:-}" ]; then
    ENDOSCRIBE_WEBHOOK_SECRET="whsec_$("$BIN/python" -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(24)).decode())')"
    generated_secret=1
fi
export ENDOSCRIBE_WEBHOOK_SECRET

start api
start worker
start flower
start deliverer

echo "waiting for the worker to load and warm up its model..."
# Ask Redis for a worker heartbeat rather than polling /ready, which would fill the access log.
worker_ready() { "$BIN/python" -c "import sys; $redis_client; sys.exit(not any(c.scan_iter(match='endoscribe:worker:*')))" 2>/dev/null; }
until worker_ready; do
    check_started
    pause 1
done
ready=1
flower_login="from FLOWER_BASIC_AUTH"
[ -n "${generated_auth:-}" ] && flower_login="$FLOWER_BASIC_AUTH (generated for this run)"
webhook_secret="from ENDOSCRIBE_WEBHOOK_SECRET"
[ -n "${generated_secret:-}" ] && webhook_secret="$ENDOSCRIBE_WEBHOOK_SECRET (generated for this run)"
cat <<MSG

================ EndoScribe is up ================
API      http://127.0.0.1:$API_PORT        (docs: http://127.0.0.1:$API_PORT/docs)
Flower   http://127.0.0.1:$FLOWER_PORT        (basic auth: $flower_login)
GPU info http://127.0.0.1:$API_PORT/gpu-info
Webhook signing secret: $webhook_secret

Try it:
  curl -F file=@tests/fixtures/colonoscopy.wav http://127.0.0.1:$API_PORT/v1/jobs
  curl http://127.0.0.1:$API_PORT/v1/jobs/<id>
  curl "http://127.0.0.1:$API_PORT/v1/jobs/<id>/result?format=srt"
A process that dies is restarted. Ctrl-C stops everything.
==================================================
MSG

while (( signals == 0 )); do
    for name in "${services[@]}"; do supervise "$name"; done
    pause 1
done
stop_all
exit 0
