#!/usr/bin/env bash
# A throwaway RabbitMQ broker for development and tests, owned by this checkout:
#   ops/rabbitmq/local-broker.sh start | stop | status | url
# Installs rabbitmq-server with apt-get if absent. The broker lives in .data/rabbitmq (git-ignored), listens on
# 127.0.0.1 only, on its own port (RABBITMQ_PORT, default 55672; its distribution port is the next one), as its own
# node (tenantevents<port>@localhost), with the default guest user (loopback only). It never touches a system broker.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
port=${RABBITMQ_PORT:-55672}
base=${RABBITMQ_DATA_ROOT:-$root/.data}/rabbitmq
# One node name per port, so two checkouts (each with its own RABBITMQ_PORT) never take each other for their broker.
node=tenantevents$port@localhost
bin=/usr/lib/rabbitmq/bin

ensure_installed() {
  [ -x "$bin/rabbitmq-server" ] && return
  echo "RabbitMQ not found; installing with apt-get..." >&2
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rabbitmq-server >&2
  # Debian may start its own broker on install; ours is separate (own node name, ports and data).
  [ -x "$bin/rabbitmq-server" ] || { echo "RabbitMQ installation failed" >&2; exit 1; }
}

environment() {
  export HOME=$base RABBITMQ_NODENAME=$node RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$port \
    RABBITMQ_DIST_PORT=$((port + 1)) RABBITMQ_MNESIA_BASE=$base/mnesia RABBITMQ_LOG_BASE=$base/log \
    RABBITMQ_ENABLED_PLUGINS_FILE=$base/enabled_plugins RABBITMQ_CONFIG_FILE=$base/rabbitmq RABBITMQ_PID_FILE=$base/rabbit.pid \
    RABBITMQ_ADVANCED_CONFIG_FILE=$base/advanced.config RABBITMQ_CONF_ENV_FILE=$base/rabbitmq-env.conf \
    ERL_CRASH_DUMP=$base/erl_crash.dump
}

running() {
  environment
  "$bin/rabbitmqctl" -q -n "$node" status >/dev/null 2>&1
}

start() {
  ensure_installed
  if running; then echo "RabbitMQ already running on 127.0.0.1:$port"; return; fi
  mkdir -p "$base/log" "$base/mnesia"
  [ -f "$base/.erlang.cookie" ] || { head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$base/.erlang.cookie"; chmod 400 "$base/.erlang.cookie"; }
  echo "[]." > "$base/enabled_plugins"
  printf 'loopback_users.guest = true\nlisteners.tcp.default = 127.0.0.1:%s\n' "$port" > "$base/rabbitmq.conf"
  environment
  nohup "$bin/rabbitmq-server" >"$base/server.log" 2>&1 &
  for _ in $(seq 1 120); do
    if "$bin/rabbitmqctl" -q -n "$node" await_startup >/dev/null 2>&1; then echo "RabbitMQ started on 127.0.0.1:$port"; return; fi
    sleep 0.5
  done
  echo "RabbitMQ did not start; see $base/server.log and $base/log" >&2
  tail -n 30 "$base/server.log" >&2 || true
  exit 1
}

stop() {
  if running; then "$bin/rabbitmqctl" -q -n "$node" stop >/dev/null 2>&1 || true; echo "RabbitMQ stopped"; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running on 127.0.0.1:$port"; else echo "stopped"; exit 1; fi ;;
  url) echo "amqp://guest:guest@127.0.0.1:$port/" ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
