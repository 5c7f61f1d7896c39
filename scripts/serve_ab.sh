#!/usr/bin/env bash
# Throughput of two hdr-serve builds side by side: each serves the same model
# in turn (alternating, so drift and neighbours hit both alike) while
# `wrk -t2 -c16` posts the page's own kind of PNG for 8 s; one line per run.
#
#   scripts/serve_ab.sh OLD_BINARY NEW_BINARY [ROUNDS] [MODEL]
#
# Build an older one with `git worktree add /tmp/old REV && cargo build
# --release -p hdr-serve` there. Needs `wrk` (Debian's package).
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2 rounds=${3:-4} model=${4:-artifacts/train/model.safetensors}
port=18080
lua=$(mktemp --suffix=.lua)
trap 'rm -f "$lua"' EXIT
cat >"$lua" <<LUA
local f = io.open("$PWD/crates/hdr-serve/examples/drawing-7.png", "rb")
wrk.method = "POST"
wrk.body = f:read("*all")
f:close()
wrk.headers["Content-Type"] = "image/png"
LUA
for _ in $(seq "$rounds"); do
    for binary in "$old" "$new"; do
        "$binary" --model "$model" --port "$port" --quiet >/dev/null 2>&1 &
        pid=$!
        for _ in $(seq 100); do curl -sf -o /dev/null "localhost:$port/healthz" && break; sleep 0.1; done
        out=$(wrk -t2 -c16 -d8s --latency -s "$lua" "http://127.0.0.1:$port/api/predict")
        kill -INT "$pid"
        wait "$pid" || true
        echo "$binary $(awk '/Requests\/sec/{print $2}' <<<"$out")/s p50 $(awk '$1=="50%"{print $2}' <<<"$out")" \
            "$(grep -q Non-2xx <<<"$out" && echo 'NON-2XX ANSWERS' || true)"
    done
done
