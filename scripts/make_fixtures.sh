#!/usr/bin/env bash
# Regenerates the committed speech fixtures (tests/fixtures) and the warm-up clip with espeak-ng.
# Each recording's reference text sits beside it as NAME.txt. Requires espeak-ng, sox and ffmpeg.
set -euo pipefail
cd "$(dirname "$0")/.."
out=tests/fixtures
mkdir -p "$out"
say() { # name, text
    printf '%s\n' "$2" > "$out/$1.txt"
    espeak-ng -v en-us -s 150 -w "/tmp/$1.raw.wav" "$2"
    sox "/tmp/$1.raw.wav" -r 16000 -c 1 -b 16 "$out/$1.wav"
    rm -f "/tmp/$1.raw.wav"
}
say colonoscopy "The patient was placed in the left lateral position. The scope was advanced to the terminal ileum. A five millimeter polyp was found in the sigmoid colon and removed with a cold snare. There was no bleeding at the end of the procedure."
say egd "Upper endoscopy report. The esophagus was normal. The stomach showed mild erythema in the antrum. Biopsies were taken to rule out infection. The duodenum was normal to the second portion."
say summary "Impression. One small polyp removed. Follow up colonoscopy in five years. Resume a regular diet today."
# The same speech in other containers, to prove the decoder path for each.
ffmpeg -nostdin -loglevel error -y -i "$out/egd.wav" -c:a flac "$out/egd.flac"
ffmpeg -nostdin -loglevel error -y -i "$out/summary.wav" -c:a libmp3lame -b:a 48k "$out/summary.mp3"
ffmpeg -nostdin -loglevel error -y -i "$out/summary.wav" -c:a libopus -b:a 24k "$out/summary.ogg"
ffmpeg -nostdin -loglevel error -y -i "$out/summary.wav" -c:a aac -b:a 48k "$out/summary.m4a"
# Warm-up clip for the worker (short, so start-up stays quick).
espeak-ng -v en-us -s 160 -w /tmp/warmup.raw.wav "Warm up. The scope was advanced."
sox /tmp/warmup.raw.wav -r 16000 -c 1 -b 16 worker/model/assets/warmup.wav
rm -f /tmp/warmup.raw.wav
