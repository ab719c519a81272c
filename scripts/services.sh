#!/usr/bin/env bash
# Start or stop the services image-release's tests and local release need: a real dockerd and a real
# OCI registry (distribution 2.8), both on this machine only (unix socket and 127.0.0.1).
#
#   scripts/services.sh start   # install if missing (Debian, as root), start what is not running
#   scripts/services.sh stop    # stop what any `start` started (not a dockerd or registry found running)
#   scripts/services.sh status
#   scripts/services.sh env     # print the variables the tests read (eval "$(scripts/services.sh env)")
#
#   scripts/services.sh start --record FILE   # also write the names of what THIS call started into FILE
#   scripts/services.sh stop --record FILE    # stop only the services named in FILE (scripts/test does this,
#                                             # so it leaves running what was running before it)
#
# Settings (environment): IR_SERVICES_DIR (state, default /tmp/image-release-services),
# IR_REGISTRY_PORT (default 5000), IR_SKIP_DOCKERD=1 (registry only).
set -euo pipefail

STATE=${IR_SERVICES_DIR:-/tmp/image-release-services}
PORT=${IR_REGISTRY_PORT:-5000}
SOCK=${IR_DOCKER_SOCK:-/var/run/docker.sock}
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker || echo docker)

say() { printf 'services: %s\n' "$*" >&2; }

RECORD=""  # --record FILE: the services this invocation started, one name a line

# Note that this invocation started service $1 (before waiting for it, so a start that fails is stopped too).
record() { [ -z "$RECORD" ] || echo "$1" >>"$RECORD"; }

need_install() {
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
  command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
  [ -x /bin/busybox ] || command -v busybox >/dev/null 2>&1 || missing+=(busybox-static)
  printf '%s\n' "${missing[@]}"
}

install_missing() {
  local pkgs
  pkgs=$(need_install | tr '\n' ' ')
  [ -n "${pkgs// /}" ] || return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "missing: $pkgs; install them (Debian: apt-get install $pkgs) and run again"
    exit 1
  fi
  say "installing $pkgs from Debian's packages"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null
}

# True when PID is a running (not zombie) process named NAME.
alive_as() {
  local pid=$1 name=$2 stat
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  case "$stat" in *"($name) "[RSDIT]*) return 0 ;; *) return 1 ;; esac
}

docker_up() { DOCKER_HOST="unix://$SOCK" "$DOCKER" info >/dev/null 2>&1; }
registry_up() { curl -fsS -o /dev/null "http://127.0.0.1:$PORT/v2/" 2>/dev/null; }

start_dockerd() {
  if docker_up; then say "dockerd already running at $SOCK"; return 0; fi
  say "starting dockerd (bridge none, no iptables, socket $SOCK)"
  mkdir -p "$STATE"
  # A pidfile left by a dockerd that is gone (machine reused, or killed and not yet reaped) would make
  # the new one refuse to start. The daemon does not answer, so no live dockerd owns it.
  if [ -f "$STATE/dockerd.pid" ] && ! alive_as "$(cat "$STATE/dockerd.pid")" dockerd; then
    rm -f "$STATE/dockerd.pid"
  fi
  # setsid: keep dockerd out of the caller's process group, so stop is explicit.
  setsid dockerd --bridge=none --iptables=false --ip-masq=false --host "unix://$SOCK" \
    --data-root "${IR_DOCKER_ROOT:-/var/lib/docker}" --exec-root "$STATE/exec" \
    --pidfile "$STATE/dockerd.pid" >"$STATE/dockerd.log" 2>&1 < /dev/null &
  local pid=$!
  echo started >"$STATE/dockerd.started"
  record dockerd
  for _ in $(seq 1 120); do
    docker_up && { say "dockerd ready"; return 0; }
    kill -0 "$pid" 2>/dev/null || break  # it exited: say why now, not after a minute
    sleep 0.5
  done
  say "dockerd did not come up; its log follows"; tail -n 30 "$STATE/dockerd.log" >&2; exit 1
}

start_registry() {
  if registry_up; then say "registry already answering on 127.0.0.1:$PORT"; return 0; fi
  mkdir -p "$STATE/registry-data"
  cat >"$STATE/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $STATE/registry-data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$PORT
  headers:
    X-Content-Type-Options: [nosniff]
EOF
  say "starting registry on 127.0.0.1:$PORT (delete enabled, data in $STATE/registry-data)"
  setsid docker-registry serve "$STATE/registry.yml" >"$STATE/registry.log" 2>&1 < /dev/null &
  local pid=$!
  echo "$pid" >"$STATE/registry.pid"
  record registry
  # Up to a minute: a loaded 2-core machine can be slow to start it; it exited: say why now.
  for _ in $(seq 1 240); do
    registry_up && { say "registry ready"; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  say "registry did not come up; its log follows"; tail -n 30 "$STATE/registry.log" >&2; exit 1
}

base_image() {
  # A tiny base image made here (no base image can be pulled): busybox-static as a rootfs.
  if DOCKER_HOST="unix://$SOCK" "$DOCKER" image inspect image-release/busybox:local >/dev/null 2>&1; then return 0; fi
  local root; root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/etc"
  cp "$(command -v busybox)" "$root/bin/busybox"
  for applet in sh ls cat echo true sleep env id; do ln -s busybox "$root/bin/$applet"; done
  echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
  tar -C "$root" -c . | DOCKER_HOST="unix://$SOCK" "$DOCKER" import - image-release/busybox:local >/dev/null
  rm -rf "$root"
  say "base image image-release/busybox:local imported"
}

# Stop the registry and dockerd that a `start` started (their state files say so), and only while the
# recorded pid is still that program (a reused machine may have given the pid to something else).
stop_registry() {
  [ -f "$STATE/registry.pid" ] || return 0
  local rpid; rpid=$(cat "$STATE/registry.pid")
  if alive_as "$rpid" docker-registry; then
    kill "$rpid" 2>/dev/null || true
    for _ in $(seq 1 40); do alive_as "$rpid" docker-registry || break; sleep 0.25; done
  fi
  rm -f "$STATE/registry.pid"; say "registry stopped"
}

stop_dockerd() {
  [ -f "$STATE/dockerd.started" ] && [ -f "$STATE/dockerd.pid" ] || return 0
  local pid; pid=$(cat "$STATE/dockerd.pid")
  if alive_as "$pid" dockerd; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do alive_as "$pid" dockerd || break; sleep 0.25; done
  fi
  rm -f "$STATE/dockerd.started"; say "dockerd stopped"
}

# stop: everything a start started; stop --record FILE: only the services FILE names.
stop_services() {
  if [ -z "$RECORD" ]; then stop_registry; stop_dockerd; return 0; fi
  if [ ! -s "$RECORD" ]; then say "nothing to stop: this run started no service"; return 0; fi
  grep -qx registry "$RECORD" && stop_registry
  grep -qx dockerd "$RECORD" && stop_dockerd
  return 0
}

parse_record() {
  case "${1:-}" in
    "") ;;
    --record) [ -n "${2:-}" ] || { echo "usage: $0 start|stop [--record FILE]" >&2; exit 2; }
              RECORD=$2 ;;
    *) echo "usage: $0 start|stop [--record FILE]" >&2; exit 2 ;;
  esac
}

case "${1:-}" in
  start)
    parse_record "${@:2}"
    [ -z "$RECORD" ] || : >>"$RECORD"
    install_missing
    [ "${IR_SKIP_DOCKERD:-0}" = 1 ] || { start_dockerd; base_image; }
    start_registry ;;
  stop) parse_record "${@:2}"; stop_services ;;
  status)
    docker_up && echo "dockerd: up ($SOCK)" || echo "dockerd: down"
    registry_up && echo "registry: up (127.0.0.1:$PORT)" || echo "registry: down" ;;
  env)
    echo "export DOCKER_HOST=unix://$SOCK"
    echo "export IR_TEST_REGISTRY=127.0.0.1:$PORT" ;;
  *) echo "usage: $0 start|stop [--record FILE] | status | env" >&2; exit 2 ;;
esac
