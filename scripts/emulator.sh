#!/usr/bin/env bash
# Start moto server on a free 127.0.0.1 port in the background.
# Prints `export AWS_ENDPOINT_URL=...` and the pid file; stop with `kill "$(cat PIDFILE)"`.
# Usage: scripts/emulator.sh [PIDFILE]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-emulator.sh
pidfile="${1:-.moodlectl/moto.pid}"
mkdir -p "$(dirname "$pidfile")"
port="$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
MOTO_EC2_LOAD_DEFAULT_AMIS=false nohup .venv/bin/python scripts/moto_server.py -H 127.0.0.1 -p "$port" >"${pidfile%.pid}.log" 2>&1 &
echo $! >"$pidfile"
for _ in $(seq 1 100); do
  if .venv/bin/python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/data.json', timeout=1)" 2>/dev/null; then
    echo "export AWS_ENDPOINT_URL=http://127.0.0.1:$port"
    exit 0
  fi
  sleep 0.2
done
echo "moto server did not start; see ${pidfile%.pid}.log" >&2
exit 1
