#!/usr/bin/env bash
# Lint the deployment files without a Docker engine: hadolint for both Dockerfiles (every ignore is an
# inline `# hadolint ignore=` with its reason above it) and the Compose specification's JSON schema for
# docker-compose.yml. fly.toml has no published schema; tests/deploy/test_fly.py checks it instead.
# Exits non-zero on any finding. Called by `make lint`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

status=0
# Info-level findings count too (default threshold is info): nothing is left unexplained.
"$BIN/hadolint" Dockerfile.api Dockerfile.worker || status=1
"$BIN/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml || status=1
exit "$status"
