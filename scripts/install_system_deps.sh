#!/usr/bin/env bash
# Installs the Debian packages EndoScribe needs when any is missing: ffmpeg (WhisperX decoding and
# torchcodec's libraries), redis-server (make up, tests), espeak-ng and sox (speech fixtures, bench),
# tmux (the CLI's tests type into a terminal and read the screen back), chromium-headless-shell (the
# /dictate page's test, with a fake microphone).
set -euo pipefail
need=()
for pair in ffmpeg:ffmpeg redis-server:redis-server espeak-ng:espeak-ng sox:sox tmux:tmux \
        chromium-headless-shell:chromium-headless-shell; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair##*:}")
done
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing system packages: ${need[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
