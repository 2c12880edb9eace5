#!/usr/bin/env bash
# Installs the Docker configuration that the caller staged (uploaded over SFTP) and restarts Docker
# only when something changed. Progress goes to stderr; the last line on stdout is the result:
#   DOCKFLEET_RESULT changed=0|1 restarted=0|1
#
# Staged files (in STAGING_DIR) and where they go:
#   daemon.json      -> /etc/docker/daemon.json                              (required)
#   ca.pem           -> /etc/docker/tls/ca.pem                               (all three or none)
#   server-cert.pem  -> /etc/docker/tls/cert.pem
#   server-key.pem   -> /etc/docker/tls/key.pem, mode 0600
#   dockfleet.conf   -> /etc/systemd/system/docker.service.d/dockfleet.conf (optional)
#   dockerd.env      -> /etc/docker/dockfleet-proxy.env, mode 0600            (with a proxy only)
# A file that is not staged leaves the installed one as it is, except dockerd.env: the drop-in
# names it only with a proxy, and a proxy's password must not outlive the proxy setting. The
# staging folder is removed after a successful run (it holds a private key), so the caller uploads
# every time.
#
# A drop-in of someone else's that sets ExecStart is refused before anything is installed (see
# refuse_foreign_exec_start).
#
# The new daemon.json is checked with `dockerd --validate` where dockerd has it (23.0 and later;
# 20.10 has not). Either way, when Docker does not come back after the restart, the previous
# files are put back, Docker is restarted with them, and the script fails with dockerd's log.
#
# When only daemon.json changed and the caller found every changed key reloadable by dockerd
# (DAEMON_JSON_CHANGE=reload, see planDaemonJsonChange), dockerd is sent SIGHUP instead of a
# restart: no container stops. A reload dockerd reports as failed falls back to a restart.
#
# Environment:
#   DAEMON_JSON_CHANGE    reload: a daemon.json-only change is reloaded, not restarted (default restart)
#   STAGING_DIR           where the caller uploaded the files (default /etc/docker/dockfleet.staged)
#   REMOVE                1 removes what this script installed (the daemon.json that was there
#                         before dockfleet comes back), then restarts Docker (default 0)
#   READY_TIMEOUT_SECONDS how long to wait for `docker info` to answer after a restart (default 60)
set -euo pipefail
# shellcheck source=provision/scripts/prelude.sh
if [[ -z "${DOCKFLEET_PRELUDE_LOADED:-}" ]]; then source "$(dirname "${BASH_SOURCE[0]}")/../../../provision/scripts/prelude.sh"; fi
DOCKFLEET_SCRIPT=apply-docker-config

STAGING_DIR="${STAGING_DIR:-/etc/docker/dockfleet.staged}"
REMOVE="${REMOVE:-0}"
DAEMON_JSON_CHANGE="${DAEMON_JSON_CHANGE:-restart}"
READY_TIMEOUT_SECONDS="${READY_TIMEOUT_SECONDS:-60}"

readonly DAEMON_JSON=/etc/docker/daemon.json
readonly DAEMON_JSON_BEFORE_DOCKFLEET=/etc/docker/daemon.json.before-dockfleet
readonly TLS_DIR=/etc/docker/tls
readonly DROP_IN=/etc/systemd/system/docker.service.d/dockfleet.conf
readonly DOCKERD_ENV=/etc/docker/dockfleet-proxy.env
readonly BACKUP_DIR=/etc/docker/dockfleet.previous

# staged name|installed path|mode
readonly FILE_MAP=(
  "daemon.json|$DAEMON_JSON|0644"
  "ca.pem|$TLS_DIR/ca.pem|0644"
  "server-cert.pem|$TLS_DIR/cert.pem|0644"
  "server-key.pem|$TLS_DIR/key.pem|0600"
  "dockfleet.conf|$DROP_IN|0644"
  "dockerd.env|$DOCKERD_ENV|0600"
)

changed=0
drop_in_changed=0

[[ "$REMOVE" == 0 || "$REMOVE" == 1 ]] || die "REMOVE=\"$REMOVE\" must be 0 or 1"
[[ "$DAEMON_JSON_CHANGE" == reload || "$DAEMON_JSON_CHANGE" == restart ]] ||
  die "DAEMON_JSON_CHANGE=\"$DAEMON_JSON_CHANGE\" must be reload or restart"
[[ "$READY_TIMEOUT_SECONDS" =~ ^[0-9]+$ ]] || die "READY_TIMEOUT_SECONDS=\"$READY_TIMEOUT_SECONDS\" must be a whole number of seconds"
command -v systemctl >/dev/null || die "systemctl is missing: dockfleet configures Docker on systemd hosts only"
command -v docker >/dev/null || die "docker is not installed; run install-docker.sh first"

file_mode() { stat -c '%a' "$1"; }

# True when $2 exists with the same bytes as $1 and mode $3.
is_installed_as() {
  [[ -f "$2" ]] && cmp -s "$1" "$2" && [[ "$(file_mode "$2")" == "${3#0}" ]]
}

wait_until_docker_answers() {
  local deadline=$((SECONDS + READY_TIMEOUT_SECONDS))
  until timeout 10 docker info >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then return 1; fi
    sleep 1
  done
}

restart_docker() {
  # Repeated restarts (create, then update) must not trip the unit's StartLimitBurst.
  systemctl reset-failed docker.service 2>/dev/null || true
  systemctl stop docker.service
  # dockerd without -H fd:// replaces docker.socket's /run/docker.sock with its own and deletes
  # it on stop; restarting the socket unit recreates the path for a dockerd that uses fd:// again
  # (REMOVE=1, or a rollback to the packaged unit).
  if systemctl is-active --quiet docker.socket; then systemctl restart docker.socket; fi
  systemctl start docker.service && wait_until_docker_answers
}

# SIGHUP to dockerd; succeeds when dockerd says it reloaded, fails when it says it could not. The
# journal is the only place dockerd reports either; without one, an answering dockerd is taken
# as reloaded.
reload_docker() {
  local since outcome deadline=$((SECONDS + 15))
  since=$(date '+%Y-%m-%d %H:%M:%S')
  systemctl reload docker.service || return 1
  while ((SECONDS < deadline)); do
    outcome=$(journalctl -u docker.service --since "$since" --no-pager -o cat 2>/dev/null |
      grep -Eo 'Reloaded configuration|Error reconfiguring the daemon.*' | tail -n 1 || true)
    case "$outcome" in
      "Reloaded configuration") return 0 ;;
      Error*)
        log "dockerd: $outcome"
        return 1
        ;;
    esac
    if ! command -v journalctl >/dev/null; then break; fi
    sleep 0.5
  done
  wait_until_docker_answers
}

dockerd_log_tail() {
  journalctl -u docker.service -n 30 --no-pager 2>/dev/null || systemctl status docker.service --no-pager 2>&1 || true
}

validate_daemon_json() {
  local staged=$1 dockerd output
  dockerd=$(command -v dockerd) || die "dockerd is not on PATH ($PATH)"
  # Not grep -q: it may exit before dockerd has written its help, and the SIGPIPE fails the
  # pipeline (pipefail) as if there were no --validate.
  if "$dockerd" --help 2>&1 | grep -- '--validate' >/dev/null; then
    log "validating daemon.json with dockerd --validate"
    output=$("$dockerd" --validate --config-file "$staged" 2>&1) ||
      die "dockerd rejects the staged daemon.json ($staged): $output"
  elif command -v python3 >/dev/null; then
    log "dockerd $("$dockerd" --version | awk '{ print $3 }') has no --validate: checking JSON syntax only, and rolling back if Docker does not restart"
    output=$(python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$staged" 2>&1) ||
      die "the staged daemon.json ($staged) is not valid JSON: $output"
  else
    log "dockerd has no --validate and python3 is missing: rolling back if Docker does not restart"
  fi
}

# Refuses, before anything is installed, a drop-in of someone else's for docker.service that sets
# ExecStart (an override from when the host was set up by hand: `dockerd -H fd:// -H tcp://...`).
# Drop-ins apply in file-name order, so such a file either comes after dockfleet.conf and replaces
# its ExecStart (dockerd then refuses to start: -H and daemon.json's "hosts" together), or comes
# before and is replaced by it (its other flags, a --data-root say, silently gone). Moving the file
# aside ourselves would do the second on purpose, so the operator decides where its flags go.
# "ExecStart=" alone, which only clears the list, is harmless.
refuse_foreign_exec_start() {
  local dir file lines found=""
  for dir in /etc/systemd/system/docker.service.d /run/systemd/system/docker.service.d; do
    for file in "$dir"/*.conf; do
      [[ -f "$file" && "$file" != "$DROP_IN" ]] || continue
      lines=$(grep -nE '^[[:space:]]*ExecStart[[:space:]]*=[[:space:]]*[^[:space:]]' "$file" |
        sed "s|^\([0-9]*\):|  $file line \1: |") || true
      [[ -z "$lines" ]] || found+="$lines"$'\n'
    done
  done
  [[ -n "$found" ]] || return 0
  found=${found%$'\n'}
  rm -rf "$STAGING_DIR"
  die "another drop-in for docker.service sets dockerd's command line:
$found
dockfleet starts dockerd from $DROP_IN with every setting in /etc/docker/daemon.json, \"hosts\" included (dockerd refuses to start when -H/--host and daemon.json both set it; --containerd is dockfleet's too). Move the line's other flags into engine.daemonOptions (or, on a host dockfleet has not configured yet, into /etc/docker/daemon.json, whose keys dockfleet keeps), delete the ExecStart lines (or the file), run systemctl daemon-reload, and run up again. Nothing was changed."
}

# --- REMOVE=1: undo -----------------------------------------------------------------------------

if [[ "$REMOVE" == 1 ]]; then
  for path in "$TLS_DIR/ca.pem" "$TLS_DIR/cert.pem" "$TLS_DIR/key.pem" "$DROP_IN" "$DOCKERD_ENV"; do
    if [[ -e "$path" ]]; then
      log "removing $path"
      rm -f "$path"
      changed=1
      [[ "$path" != "$DROP_IN" ]] || drop_in_changed=1
    fi
  done
  if [[ -e "$DAEMON_JSON_BEFORE_DOCKFLEET" ]]; then
    log "restoring the daemon.json that was there before dockfleet"
    mv -f "$DAEMON_JSON_BEFORE_DOCKFLEET" "$DAEMON_JSON"
    changed=1
  elif [[ -e "$DAEMON_JSON" ]]; then
    log "removing $DAEMON_JSON"
    rm -f "$DAEMON_JSON"
    changed=1
  fi
  rm -rf "$STAGING_DIR" "$BACKUP_DIR"
  rmdir "$TLS_DIR" "$(dirname "$DROP_IN")" 2>/dev/null || true
  if ((drop_in_changed)); then systemctl daemon-reload; fi
  if ((changed)); then
    log "restarting docker without dockfleet's configuration"
    restart_docker || die "docker did not come back after removing dockfleet's configuration; $(dockerd_log_tail)"
  else
    log "nothing of dockfleet's is installed"
  fi
  print_result "changed=$changed"
  exit 0
fi

# --- install ----------------------------------------------------------------------------------

[[ -f "$STAGING_DIR/daemon.json" ]] || die "$STAGING_DIR/daemon.json is missing; upload the rendered daemon.json there first"
tls_staged=0
for name in ca.pem server-cert.pem server-key.pem; do
  [[ -f "$STAGING_DIR/$name" ]] && tls_staged=$((tls_staged + 1))
done
[[ "$tls_staged" == 0 || "$tls_staged" == 3 ]] ||
  die "$STAGING_DIR holds only some of ca.pem, server-cert.pem, server-key.pem; upload all three or none"

refuse_foreign_exec_start
validate_daemon_json "$STAGING_DIR/daemon.json"

to_install=()
for entry in "${FILE_MAP[@]}"; do
  IFS='|' read -r name target mode <<<"$entry"
  staged="$STAGING_DIR/$name"
  [[ -f "$staged" ]] || continue
  if is_installed_as "$staged" "$target" "$mode"; then continue; fi
  if [[ -f "$target" ]] && cmp -s "$staged" "$target"; then
    log "fixing the mode of $target to $mode (contents unchanged: no restart)"
    chmod "$mode" "$target"
    continue
  fi
  to_install+=("$entry")
done

# After a successful run: dockerd.env goes when no proxy is set (the drop-in no longer names it).
remove_unstaged_dockerd_env() {
  if [[ ! -f "$STAGING_DIR/dockerd.env" && -f "$DOCKERD_ENV" ]]; then
    log "removing $DOCKERD_ENV (no proxy is set)"
    rm -f "$DOCKERD_ENV"
  fi
}

if ((${#to_install[@]} == 0)); then
  remove_unstaged_dockerd_env
  rm -rf "$STAGING_DIR"
  if systemctl is-active --quiet docker.service; then
    log "configuration unchanged: docker is not restarted"
    print_result changed=0 restarted=0
  else
    log "configuration unchanged, docker not running: starting it"
    restart_docker || die "docker did not start with the installed configuration; $(dockerd_log_tail)"
    print_result changed=1 restarted=1
  fi
  exit 0
fi

# Keep what is there now, to put it back if Docker does not start with the new files.
rm -rf "$BACKUP_DIR"
install -d -m 0700 "$BACKUP_DIR"
if [[ -f "$DAEMON_JSON" && ! -f "$DROP_IN" && ! -f "$TLS_DIR/key.pem" ]]; then
  # A daemon.json that dockfleet did not write (the one DockerConfig merges in): kept for REMOVE=1,
  # replacing a copy from a first run that was rolled back, since the host's file may have been
  # fixed since.
  cp -p "$DAEMON_JSON" "$DAEMON_JSON_BEFORE_DOCKFLEET"
fi
for entry in "${to_install[@]}"; do
  IFS='|' read -r name target mode <<<"$entry"
  if [[ -f "$target" ]]; then cp -p "$target" "$BACKUP_DIR/$name"; fi
  log "installing $target"
  install -D -m "$mode" "$STAGING_DIR/$name" "$target"
  [[ "$target" != "$DROP_IN" ]] || drop_in_changed=1
done

if [[ "$DAEMON_JSON_CHANGE" == reload && "${#to_install[@]}" == 1 && "${to_install[0]}" == daemon.json\|* ]] &&
  systemctl is-active --quiet docker.service; then
  log "only reloadable daemon.json options changed: reloading docker (SIGHUP), no restart"
  if reload_docker; then
    remove_unstaged_dockerd_env
    rm -rf "$STAGING_DIR" "$BACKUP_DIR"
    print_result changed=1 restarted=0
    exit 0
  fi
  log "docker did not reload the new daemon.json: restarting it instead"
fi

if ((drop_in_changed)); then
  log "reloading systemd units (the drop-in changed)"
  systemctl daemon-reload
fi
log "restarting docker"
if ! restart_docker; then
  failure_log=$(dockerd_log_tail)
  log "docker did not answer within ${READY_TIMEOUT_SECONDS}s: putting the previous files back"
  for entry in "${to_install[@]}"; do
    IFS='|' read -r name target mode <<<"$entry"
    if [[ -f "$BACKUP_DIR/$name" ]]; then cp -p "$BACKUP_DIR/$name" "$target"; else rm -f "$target"; fi
  done
  systemctl daemon-reload
  if restart_docker; then rollback="docker runs again with the previous configuration"; else rollback="docker does not start with the previous configuration either"; fi
  die "docker did not start with the new configuration from $STAGING_DIR ($rollback). dockerd said:
$failure_log"
fi
log "docker answers with the new configuration"
remove_unstaged_dockerd_env
# The staged copies (a private key among them) are no longer needed.
rm -rf "$STAGING_DIR" "$BACKUP_DIR"
print_result changed=1 restarted=1
