#!/usr/bin/env bash
# `make ui-check`: the Temporal Web UI in a real (headless) browser.
#
# Installs what it needs when missing (Debian's chromium with apt-get, playwright-core from
# scripts/ui/package-lock.json with npm), runs `make demo ARGS=--keep-running` in the background unless
# orders matching the query are already on the local Temporal server, starts a codec server so the UI
# can decode payloads, then drives Chromium: filter by the query, find the orders, open them, read their
# summaries, save screenshots to .brokerflow/ui-check.png (and ui-check-order-N.png).
#
#   scripts/ui_check.sh [--fresh] [--keep]
#     --fresh   always run the demo (new orders), even if matching orders exist
#     --keep    leave the demo running afterwards (default: stop what this script started)
# Environment: UI_CHECK_QUERY (default OrderStatus="FILLED" AND Symbol="AAPL").
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/.venv/bin"
DATA="${BROKERFLOW_DATA_DIR:-$ROOT/.brokerflow}"
QUERY="${UI_CHECK_QUERY:-OrderStatus=\"FILLED\" AND Symbol=\"AAPL\"}"
UI_PORT="${BROKERFLOW_TEMPORAL_UI_PORT:-8233}"
TEMPORAL="127.0.0.1:${BROKERFLOW_TEMPORAL_PORT:-7233}"
UI="http://localhost:$UI_PORT"
SHOT="$DATA/ui-check.png"
FRESH=0 KEEP=0
for arg in "$@"; do
  case "$arg" in
    --fresh) FRESH=1 ;;
    --keep) KEEP=1 ;;
    *) echo "usage: $0 [--fresh] [--keep]" >&2; exit 2 ;;
  esac
done
mkdir -p "$DATA"

say() { printf '\033[1m[ui-check]\033[0m %s\n' "$*"; }

DEMO_PID="" CODEC_PID="" STACK_WAS_UP=1
cleanup() {
  if [[ -n "$CODEC_PID" ]]; then kill "$CODEC_PID" 2>/dev/null || true; fi
  if [[ -n "$DEMO_PID" && "$KEEP" == 0 ]]; then
    say "stopping the demo this script started (pid $DEMO_PID)"
    kill -INT -- "-$DEMO_PID" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$DEMO_PID" 2>/dev/null || break; sleep 0.5; done
    if [[ "$STACK_WAS_UP" == 0 ]]; then "$BIN/brokerflow" dev down >/dev/null 2>&1 || true; fi
  fi
}
trap cleanup EXIT

# ---- tools: Chromium from Debian, playwright-core from npm (no browser download) --------------------------
if [[ ! -x /usr/bin/chromium ]]; then
  say "installing Debian's chromium"
  if [[ "$(id -u)" != 0 ]]; then echo "run as root or install chromium: sudo apt-get install -y chromium" >&2; exit 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium \
    || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  say "installing node and npm from Debian"
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm
fi
if [[ ! -d scripts/ui/node_modules/playwright-core ]]; then
  say "installing playwright-core (npm ci, lockfile)"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix scripts/ui --no-audit --no-fund --silent
fi

# ---- orders to look at ---------------------------------------------------------------------------------
matching() {
  "$BIN/temporal" workflow list --address "$TEMPORAL" --query "$QUERY" --limit 20 -o json 2>/dev/null \
    | "$BIN/python" -c 'import json, sys; print(",".join(w["execution"]["workflowId"] for w in json.load(sys.stdin)))' \
    2>/dev/null || true
}
ui_up() { "$BIN/python" -c "import urllib.request; urllib.request.urlopen('$UI', timeout=3)" 2>/dev/null; }

EXPECT=""
if [[ "$FRESH" == 0 ]] && ui_up; then EXPECT="$(matching)"; fi
if [[ -z "$EXPECT" ]]; then
  ui_up || STACK_WAS_UP=0
  LOG="$DATA/ui-check-demo.log"
  say "running \`make demo ARGS=--keep-running\` in the background (log: $LOG)"
  setsid make demo ARGS=--keep-running >"$LOG" 2>&1 < /dev/null &
  DEMO_PID=$!
  for _ in $(seq 600); do
    if grep -q "^running" "$LOG"; then break; fi
    if ! kill -0 "$DEMO_PID" 2>/dev/null; then tail -30 "$LOG" >&2; echo "the demo stopped early" >&2; exit 1; fi
    sleep 1
  done
  grep -q "^running" "$LOG" || { tail -30 "$LOG" >&2; echo "the demo did not finish in 10 minutes" >&2; exit 1; }
  EXPECT="$(matching)"
fi
[[ -n "$EXPECT" ]] || { echo "no workflow matches $QUERY on $TEMPORAL" >&2; exit 1; }
say "orders matching $QUERY: $EXPECT"

# ---- codec server: the UI decodes summaries and payloads through it --------------------------------------
CODEC_ARGS=()
if [[ "${BROKERFLOW_CODEC_ENABLED:-true}" != "false" ]]; then
  CODEC_PORT="$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  BROKERFLOW_CODEC_TOKEN="${BROKERFLOW_CODEC_TOKEN:-$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(24))')}"
  export BROKERFLOW_CODEC_TOKEN
  "$BIN/brokerflow" codec-server --port "$CODEC_PORT" >"$DATA/ui-check-codec.log" 2>&1 &
  CODEC_PID=$!
  for _ in $(seq 40); do
    "$BIN/python" -c "import socket; socket.create_connection(('127.0.0.1', $CODEC_PORT), 1)" 2>/dev/null && break
    sleep 0.25
  done
  CODEC_ARGS=(--codec "http://localhost:$CODEC_PORT")
fi

# ---- the browser -----------------------------------------------------------------------------------------
say "headless Chromium on $UI"
node scripts/ui/check.mjs --ui "$UI" --query "$QUERY" --expect "$EXPECT" --screenshot "$SHOT" "${CODEC_ARGS[@]}"
say "screenshots: $SHOT $(ls "$DATA"/ui-check-order-*.png 2>/dev/null | tr '\n' ' ')"
