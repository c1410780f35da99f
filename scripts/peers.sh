#!/usr/bin/env bash
# Real Apple MDM peers for the device simulator's tests and benchmark, on 127.0.0.1 only:
#   - scepserver (micromdm/scep v2.3.0): SCEP CA with a challenge, its CA created in a temp dir;
#   - nanomdm (micromdm/nanomdm v0.9.0): MDM server trusting that CA, API key, and the `file`
#     storage backend (deprecated in favour of `filekv`, but its layout — <udid>/Authenticate.plist,
#     <udid>/QueueDone/<uuid>.result.plist — is what the tests read).
#
#   scripts/peers.sh start   install (go install into .tools/go/bin, with micromdm/scep's
#                            scepclient for server/tests/apple.rs) and start both; idempotent
#   scripts/peers.sh stop    stop them (by the pids recorded at start)
#   scripts/peers.sh env     print the peers' settings as `export` lines
#   scripts/peers.sh status  exit 0 when both are running
#
# PEERS_CA_KEYSIZE sets the CA's RSA key size (default 4096, scepserver's own default).
#
# The settings (URLs, challenge, API key, CA, storage dir, pids) are written to
# .tools/peers/peers.env, which sim/tests/peers.rs and the benchmark read.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
BIN="$ROOT/.tools/go/bin"
STATE="$ROOT/.tools/peers"
ENV_FILE="$STATE/peers.env"
NANOMDM_VERSION=v0.9.0
SCEP_VERSION=v2.3.0

find_go() {
  if command -v go >/dev/null 2>&1; then command -v go; return; fi
  if [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go; return; fi
  echo "peers: Go is missing; installing golang-go (apt)" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >&2 && $SUDO apt-get install -y -qq golang-go >&2
  command -v go
}

install() {
  mkdir -p "$BIN"
  local go=""
  # `go install` binaries report no version: a stamp file records what was installed.
  if [ ! -x "$BIN/nanomdm" ] || ! grep -qx "nanomdm $NANOMDM_VERSION" "$BIN/.versions" 2>/dev/null; then
    go="${go:-$(find_go)}"
    echo "peers: go install nanomdm@$NANOMDM_VERSION" >&2
    GOBIN="$BIN" nice -n 10 "$go" install "github.com/micromdm/nanomdm/cmd/nanomdm@$NANOMDM_VERSION"
    { grep -v '^nanomdm ' "$BIN/.versions" 2>/dev/null || true; echo "nanomdm $NANOMDM_VERSION"; } >"$BIN/.versions.new"
    mv "$BIN/.versions.new" "$BIN/.versions"
  fi
  if [ ! -x "$BIN/scepserver" ] || ! grep -qx "scepserver $SCEP_VERSION" "$BIN/.versions" 2>/dev/null; then
    go="${go:-$(find_go)}"
    echo "peers: go install scepserver@$SCEP_VERSION" >&2
    GOBIN="$BIN" nice -n 10 "$go" install "github.com/micromdm/scep/v2/cmd/scepserver@$SCEP_VERSION"
    { grep -v '^scepserver ' "$BIN/.versions" 2>/dev/null || true; echo "scepserver $SCEP_VERSION"; } >"$BIN/.versions.new"
    mv "$BIN/.versions.new" "$BIN/.versions"
  fi
  # The SCEP client of server/tests/apple.rs (against the reference server's /scep).
  if [ ! -x "$BIN/scepclient" ] || ! grep -qx "scepclient $SCEP_VERSION" "$BIN/.versions" 2>/dev/null; then
    go="${go:-$(find_go)}"
    echo "peers: go install scepclient@$SCEP_VERSION" >&2
    GOBIN="$BIN" nice -n 10 "$go" install "github.com/micromdm/scep/v2/cmd/scepclient@$SCEP_VERSION"
    { grep -v '^scepclient ' "$BIN/.versions" 2>/dev/null || true; echo "scepclient $SCEP_VERSION"; } >"$BIN/.versions.new"
    mv "$BIN/.versions.new" "$BIN/.versions"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_http() {
  local url="$1" name="$2" pidfile="$3"
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "peers: $name exited; see $STATE/$name.log" >&2; tail -5 "$STATE/$name.log" >&2; return 1
    fi
    sleep 0.1
  done
  echo "peers: $name did not answer at $url" >&2
  return 1
}

running() {
  [ -f "$ENV_FILE" ] || return 1
  # shellcheck disable=SC1090
  source "$ENV_FILE"
  kill -0 "$SCEP_PID" 2>/dev/null && kill -0 "$NANOMDM_PID" 2>/dev/null
}

start() {
  if running; then echo "peers: already running ($ENV_FILE)" >&2; return 0; fi
  stop_quietly
  trap 'stop_quietly' ERR
  install
  rm -rf "$STATE"; mkdir -p "$STATE"
  local work; work="$(mktemp -d "${TMPDIR:-/tmp}/enroll-peers.XXXXXX")"
  local depot="$work/depot" storage="$work/nanomdm-db"
  local challenge api_key scep_port nano_port
  challenge="$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
  api_key="$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
  scep_port="$(free_port)"; nano_port="$(free_port)"
  mkdir -p "$storage"

  # The CA (RSA 4096, the scepserver default, unless PEERS_CA_KEYSIZE) in the temp dir.
  (cd "$work" && "$BIN/scepserver" ca -init -depot "$depot" -keySize "${PEERS_CA_KEYSIZE:-4096}" \
    >"$STATE/scep-ca.log" 2>&1)
  # -http-addr binds loopback only (-port alone would listen on all interfaces).
  "$BIN/scepserver" -depot "$depot" -http-addr "127.0.0.1:$scep_port" -challenge "$challenge" \
    -allowrenew 0 >"$STATE/scepserver.log" 2>&1 &
  echo $! >"$STATE/scepserver.pid"
  "$BIN/nanomdm" -ca "$depot/ca.pem" -api "$api_key" -storage file -storage-options enable_deprecated=1 \
    -storage-dsn "$storage" \
    -listen "127.0.0.1:$nano_port" >"$STATE/nanomdm.log" 2>&1 &
  echo $! >"$STATE/nanomdm.pid"

  wait_http "http://127.0.0.1:$scep_port/scep?operation=GetCACaps" scepserver "$STATE/scepserver.pid"
  wait_http "http://127.0.0.1:$nano_port/version" nanomdm "$STATE/nanomdm.pid"

  umask 077
  cat >"$ENV_FILE" <<ENV
SCEP_URL=http://127.0.0.1:$scep_port/scep
SCEP_CHALLENGE=$challenge
SCEP_CA=$depot/ca.pem
SCEP_PID=$(cat "$STATE/scepserver.pid")
NANOMDM_URL=http://127.0.0.1:$nano_port
NANOMDM_API_KEY=$api_key
NANOMDM_STORAGE=$storage
NANOMDM_PID=$(cat "$STATE/nanomdm.pid")
PEERS_WORKDIR=$work
ENV
  trap - ERR
  echo "peers: scepserver $SCEP_VERSION at http://127.0.0.1:$scep_port/scep, nanomdm $NANOMDM_VERSION at http://127.0.0.1:$nano_port (settings in $ENV_FILE)" >&2
}

stop_quietly() {
  local pidfile
  for pidfile in "$STATE/nanomdm.pid" "$STATE/scepserver.pid"; do
    [ -f "$pidfile" ] || continue
    local pid; pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
    rm -f "$pidfile"
  done
  if [ -f "$ENV_FILE" ]; then
    local work; work="$(sed -n 's/^PEERS_WORKDIR=//p' "$ENV_FILE")"
    case "$work" in */enroll-peers.*) rm -rf "$work" ;; esac
    rm -f "$ENV_FILE"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop_quietly; echo "peers: stopped" >&2 ;;
  status) running ;;
  env)
    [ -f "$ENV_FILE" ] || { echo "peers: not running (scripts/peers.sh start)" >&2; exit 1; }
    sed 's/^/export /' "$ENV_FILE" ;;
  *) echo "usage: $0 start|stop|env|status" >&2; exit 2 ;;
esac
