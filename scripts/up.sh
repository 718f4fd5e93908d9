#!/usr/bin/env bash
# `make up`: the whole system in the foreground — Redis (only if none answers at REDIS_URL), the API,
# one worker and Flower. Ctrl-C stops everything this script started. Every ENDOSCRIBE_* variable in
# the environment reaches each process unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
API_PORT="${ENDOSCRIBE_API_PORT:-8000}"
# Loopback unless asked: with no ENDOSCRIBE_API_KEYS the API is open to whoever can reach it.
API_HOST="${ENDOSCRIBE_API_HOST:-127.0.0.1}"
FLOWER_PORT="${ENDOSCRIBE_FLOWER_PORT:-5555}"
# Workers read models from disk only; nothing is downloaded at run time.
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
# No telemetry (README, Privacy); the worker forces these itself too.
export PYANNOTE_METRICS_ENABLED=false OTEL_SDK_DISABLED=true HF_HUB_DISABLE_TELEMETRY=1 DO_NOT_TRACK=1
export PYTHONUNBUFFERED=1

pids=()
cleanup() {
    trap - INT TERM EXIT
    echo; echo "stopping EndoScribe..."
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap 'cleanup; exit 0' INT TERM
trap cleanup EXIT

# The same client every process builds (core/redis_connection.py), so a rediss:// URL is verified as they verify it.
redis_client="from core.redis_connection import connect_redis; from core.settings import Settings; c = connect_redis(Settings(), socket_timeout=1)"
redis_answers() { "$BIN/python" -c "$redis_client; c.ping()" 2>/dev/null; }

if redis_answers; then
    echo "using the Redis that answers at $REDIS_URL (jobs and transcripts already there stay)"
else
    read -r host port < <("$BIN/python" -c "from urllib.parse import urlparse; import sys; u = urlparse(sys.argv[1]); print(u.hostname, u.port or 6379)" "$REDIS_URL")
    case "$host" in
        127.0.0.1|localhost|::1) ;;
        *) echo "no Redis answers at $REDIS_URL (host $host): start it, or unset REDIS_URL for a local one"; exit 1 ;;
    esac
    echo "no Redis answers at $REDIS_URL: starting a local redis-server on port $port"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --loglevel warning &
    pids+=($!)
    for _ in $(seq 50); do redis_answers && break; sleep 0.1; done
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

"$BIN/uvicorn" api.main:app --host "$API_HOST" --port "$API_PORT" --proxy-headers &
pids+=($!)
# Solo pool: CUDA is not fork-safe, and one resident model serves one job at a time.
"$BIN/celery" -A worker.celery_app worker -P solo -Q transcribe -c 1 -n "worker1@%h" --loglevel INFO &
pids+=($!)
"$BIN/celery" -A worker.celery_app flower --address="$API_HOST" --port="$FLOWER_PORT" --loglevel=WARNING &
pids+=($!)
# Webhook delivery: a separate light process (no torch), so slow receivers never hold up a GPU.
"$BIN/python" -m webhooks.deliverer &
pids+=($!)

echo "waiting for the worker to load and warm up its model..."
alive() { for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || return 1; done; }
# Ask Redis for a worker heartbeat rather than polling /ready, which would fill the access log.
worker_ready() { "$BIN/python" -c "import sys; $redis_client; sys.exit(not any(c.scan_iter(match='endoscribe:worker:*')))" 2>/dev/null; }
until worker_ready; do
    alive || { echo "a process failed to start; see the log above"; exit 1; }
    sleep 1
done
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
Ctrl-C stops everything.
==================================================
MSG
while alive; do sleep 1; done
echo "a process exited; shutting down"
