#!/usr/bin/env bash
# Sourceable: makes sure a Docker engine answers on this machine.
#
#   source bin/lib/docker.sh && ensure_docker
#
# Machines here run no systemd as PID 1, so dockerd is started in the background by hand.
# Environment:
#   DOCKFLEET_DOCKERD_LOG            dockerd's log (default /var/log/dockfleet-dockerd.log)
#   DOCKFLEET_DOCKERD_WAIT_SECONDS   how long to wait for the socket (default 60)
#   DOCKFLEET_MACHINE_DOCKER_HOST    this machine's engine (default unix:///var/run/docker.sock);
#                                    DOCKER_HOST, DOCKER_CONTEXT and the TLS variables are set aside
#                                    for dockfleet's own commands (use_machine_docker_engine)
#
# After ensure_docker, DOCKER_CLI names the docker client to use (an absolute path): the first
# `docker` on PATH if it can talk to the engine, else Debian's /usr/bin/docker.

docker_log() {
  printf '[docker] %s\n' "$*" >&2
}

# Prints the first client that can reach the engine, or fails.
# /usr/local/bin/docker may be a newer CLI than Debian's dockerd (28 against 20.10): it negotiates
# the API version down (1.50 -> 1.41), so it works, but Debian's own client is the fallback.
find_working_docker_cli() {
  local candidate
  local -a candidates=()
  if command -v docker >/dev/null 2>&1; then
    candidates+=("$(command -v docker)")
  fi
  if [[ -x /usr/bin/docker ]]; then
    candidates+=(/usr/bin/docker)
  fi
  for candidate in "${candidates[@]}"; do
    if "$candidate" info >/dev/null 2>&1; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}

install_docker_package() {
  if command -v dockerd >/dev/null 2>&1; then
    docker_log "dockerd present: $(command -v dockerd)"
    return 0
  fi
  docker_log "dockerd missing: installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends docker.io >/dev/null 2>&1; then
    docker_log "apt-get install failed with the current package lists: running apt-get update first"
    apt-get update -qq >&2
    apt-get install -y --no-install-recommends docker.io >&2
  fi
}

start_dockerd() {
  local log_file="${DOCKFLEET_DOCKERD_LOG:-/var/log/dockfleet-dockerd.log}"
  local wait_seconds="${DOCKFLEET_DOCKERD_WAIT_SECONDS:-60}"
  local pid_file=/var/run/docker.pid
  local waited=0
  local dockerd_pid=""

  if [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    docker_log "dockerd already running (pid $(cat "$pid_file")): waiting for it to answer"
  else
    # A stale pid file from a killed dockerd makes the next one refuse to start.
    rm -f "$pid_file"
    docker_log "starting dockerd in the background, log: $log_file"
    mkdir -p "$(dirname "$log_file")"
    # setsid: dockerd must outlive the shell (and the CI step) that started it.
    setsid dockerd >>"$log_file" 2>&1 </dev/null &
    dockerd_pid=$!
    disown 2>/dev/null || true
  fi

  while ((waited < wait_seconds)); do
    if DOCKER_CLI="$(find_working_docker_cli)"; then
      export DOCKER_CLI
      docker_log "engine answers after ${waited}s"
      return 0
    fi
    if [[ -n "$dockerd_pid" ]] && ! kill -0 "$dockerd_pid" 2>/dev/null; then
      docker_log "dockerd exited after ${waited}s. Last lines of $log_file:"
      tail -n 20 "$log_file" >&2 || true
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  docker_log "dockerd did not answer within ${wait_seconds}s (raise DOCKFLEET_DOCKERD_WAIT_SECONDS or read $log_file). Last lines of the log:"
  tail -n 20 "$log_file" >&2 || true
  return 1
}

# dockfleet's own docker commands (host containers, app images, and everything bin/up starts) go to
# this machine's engine: `eval "$(dockfleet env host-1)"` points DOCKER_HOST at a host, where the
# host containers are not. The same rule as machineDockerEnvironment in
# components/machines/local/docker-cli.ts, for the processes started without bin/.
use_machine_docker_engine() {
  unset DOCKER_CONTEXT DOCKER_TLS DOCKER_TLS_VERIFY DOCKER_CERT_PATH
  export DOCKER_HOST="${DOCKFLEET_MACHINE_DOCKER_HOST:-unix:///var/run/docker.sock}"
}

ensure_docker() {
  use_machine_docker_engine
  if DOCKER_CLI="$(find_working_docker_cli)"; then
    export DOCKER_CLI
    docker_log "engine already running ($("$DOCKER_CLI" version --format 'client {{.Client.Version}}, server {{.Server.Version}}, API {{.Client.APIVersion}}' 2>/dev/null || echo "version unknown")), client $DOCKER_CLI"
    return 0
  fi
  install_docker_package
  start_dockerd || return 1
  docker_log "engine ready ($("$DOCKER_CLI" version --format 'client {{.Client.Version}}, server {{.Server.Version}}, API {{.Client.APIVersion}}' 2>/dev/null || echo "version unknown")), client $DOCKER_CLI"
}

# Host containers each run systemd, journald, logind and dockerd, which take inotify instances from
# one per-user limit: Debian's 128 stops the 13th host's sshd (see
# components/machines/local/host-limits.ts). Raised to kind's recommended values when lower.
ensure_host_container_limits() {
  local key wanted current
  for key in fs.inotify.max_user_instances=1024 fs.inotify.max_user_watches=524288; do
    wanted="${key#*=}"
    current="$(sysctl -n "${key%%=*}" 2>/dev/null || echo 0)"
    ((current >= wanted)) && continue
    if ((EUID == 0)) && sysctl -q -w "$key" >/dev/null 2>&1; then
      docker_log "raised ${key%%=*} from $current to $wanted for the host containers"
    else
      docker_log "warning: ${key%%=*} is $current: run \`sysctl -w $key\` as root, or local hosts past about a dozen may not boot"
    fi
  done
}
