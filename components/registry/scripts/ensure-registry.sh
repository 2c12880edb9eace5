#!/usr/bin/env bash
# Runs the private registry (distribution v2) on this host from the files the caller staged, and
# restarts it only when something changed. Progress goes to stderr; the last line on stdout is:
#   DOCKFLEET_RESULT changed=0|1
#
# Staged files (in STAGING_DIR, removed after a run: they hold a private key and a password):
#   config.yml   -> CONFIG_DIR/config.yml       (required; renderRegistryConfigYml)
#   cert.pem     -> CONFIG_DIR/tls/cert.pem     (required; the registry's server certificate)
#   key.pem      -> CONFIG_DIR/tls/key.pem      (required; mode 0600, owned by the registry's user)
#   ca.pem       -> CONFIG_DIR/tls/ca.pem       (required; checks the registry answers over TLS)
#   logins/USER  -> CONFIG_DIR/htpasswd         (with AUTHENTICATION=1: USER's password, bcrypt,
#                                               `htpasswd -iB`; one file per user)
#   dropin.conf  -> the docker-registry.service drop-in (RUN_AS=service)
# Each password file is read from stdin by htpasswd: it never appears on a command line. An
# htpasswd that has exactly these users and verifies every password is kept (bcrypt salts differ
# on every run); otherwise it is written again, so a user no longer staged (a removed host's) goes.
#
# Environment:
#   RUN_AS                "service": Debian's docker-registry package as an enabled systemd unit;
#                         "container": IMAGE with restart policy "always" (needs Docker)
#   PORT                  the registry's port (default 5000)
#   LISTEN_ADDRESS        the host's private address, the only one the registry listens on
#                         (config.yml's http.addr in service mode, --publish in container mode)
#   STORAGE_PATH          host directory of the data (default /var/lib/docker-registry)
#   CONFIG_DIR            where the files go (default /etc/dockfleet/registry)
#   STAGING_DIR           where the caller staged them (default /etc/dockfleet/registry.staged)
#   AUTHENTICATION        1: htpasswd authentication for the staged logins (default 1)
#   IMAGE, CONTAINER_NAME RUN_AS=container: the image and the container's name
#   METRICS_PORT          RUN_AS=container: also publish this port (config.yml's debug listener,
#                         Prometheus metrics) on LISTEN_ADDRESS (default none)
#   REMOVE                1: stop and remove the registry and its files (default 0)
#   REMOVE_DATA           with REMOVE=1, also delete STORAGE_PATH (default 0)
#   READY_TIMEOUT_SECONDS how long to wait for the registry to answer (default 60)
#   LOCK_TIMEOUT_SECONDS  how long to wait while another process (cloud-init,
#                         unattended-upgrades) holds the package manager's lock (default 600)
set -euo pipefail
# shellcheck source=provision/scripts/prelude.sh
if [[ -z "${DOCKFLEET_PRELUDE_LOADED:-}" ]]; then source "$(dirname "${BASH_SOURCE[0]}")/../../../provision/scripts/prelude.sh"; fi
DOCKFLEET_SCRIPT=ensure-registry

RUN_AS="${RUN_AS:-service}"
PORT="${PORT:-5000}"
LISTEN_ADDRESS="${LISTEN_ADDRESS:-}"
STORAGE_PATH="${STORAGE_PATH:-/var/lib/docker-registry}"
CONFIG_DIR="${CONFIG_DIR:-/etc/dockfleet/registry}"
STAGING_DIR="${STAGING_DIR:-/etc/dockfleet/registry.staged}"
AUTHENTICATION="${AUTHENTICATION:-1}"
IMAGE="${IMAGE:-registry:2}"
CONTAINER_NAME="${CONTAINER_NAME:-dockfleet-registry}"
METRICS_PORT="${METRICS_PORT:-}"
REMOVE="${REMOVE:-0}"
REMOVE_DATA="${REMOVE_DATA:-0}"
READY_TIMEOUT_SECONDS="${READY_TIMEOUT_SECONDS:-60}"
LOCK_TIMEOUT_SECONDS="${LOCK_TIMEOUT_SECONDS:-600}"

readonly SERVICE=docker-registry.service
readonly DROP_IN=/etc/systemd/system/docker-registry.service.d/dockfleet.conf

[[ "$RUN_AS" == service || "$RUN_AS" == container ]] || die "RUN_AS=\"$RUN_AS\" must be service or container"
[[ "$PORT" =~ ^[0-9]+$ ]] || die "PORT=\"$PORT\" must be a TCP port number"
[[ -z "$METRICS_PORT" || "$METRICS_PORT" =~ ^[0-9]+$ ]] || die "METRICS_PORT=\"$METRICS_PORT\" must be a TCP port number"
[[ "$REMOVE" == 1 || "$LISTEN_ADDRESS" =~ ^[0-9A-Fa-f.:]+$ ]] ||
  die "LISTEN_ADDRESS=\"$LISTEN_ADDRESS\" must be the host's private IP address"
# "10.0.0.5:5000", "[fd00::5]:5000": for URLs and docker's --publish.
if [[ "$LISTEN_ADDRESS" == *:* ]]; then LISTEN="[$LISTEN_ADDRESS]:$PORT"; else LISTEN="$LISTEN_ADDRESS:$PORT"; fi
[[ "$STORAGE_PATH" == /* ]] || die "STORAGE_PATH=\"$STORAGE_PATH\" must be an absolute path"
[[ "$REMOVE" == 0 || "$REMOVE" == 1 ]] || die "REMOVE=\"$REMOVE\" must be 0 or 1"
[[ "$AUTHENTICATION" == 0 || "$AUTHENTICATION" == 1 ]] || die "AUTHENTICATION=\"$AUTHENTICATION\" must be 0 or 1"
[[ "$LOCK_TIMEOUT_SECONDS" =~ ^[0-9]+$ ]] || die "LOCK_TIMEOUT_SECONDS=\"$LOCK_TIMEOUT_SECONDS\" must be a whole number of seconds"
command -v systemctl >/dev/null || die "systemctl is missing: dockfleet runs the registry on systemd hosts only"

changed=0

have_container() { command -v docker >/dev/null && docker inspect "$CONTAINER_NAME" >/dev/null 2>&1; }
have_service() { systemctl cat "$SERVICE" >/dev/null 2>&1; }

stop_service() {
  if have_service && { systemctl is-enabled --quiet "$SERVICE" 2>/dev/null || systemctl is-active --quiet "$SERVICE"; }; then
    log "stopping and disabling $SERVICE"
    systemctl disable --now "$SERVICE" >/dev/null 2>&1 || true
    changed=1
  fi
  if [[ -e "$DROP_IN" ]]; then
    rm -f "$DROP_IN"
    rmdir "$(dirname "$DROP_IN")" 2>/dev/null || true
    systemctl daemon-reload
    changed=1
  fi
}

remove_container() {
  if have_container; then
    log "removing container $CONTAINER_NAME"
    docker rm --force "$CONTAINER_NAME" >/dev/null
    changed=1
  fi
}

# --- REMOVE=1: undo ------------------------------------------------------------------------------

if [[ "$REMOVE" == 1 ]]; then
  stop_service
  remove_container
  if [[ -e "$CONFIG_DIR" || -e "$STAGING_DIR" ]]; then
    log "removing $CONFIG_DIR"
    rm -rf "$CONFIG_DIR" "$STAGING_DIR"
    rmdir "$(dirname "$CONFIG_DIR")" 2>/dev/null || true
    changed=1
  fi
  if [[ "$REMOVE_DATA" == 1 && -e "$STORAGE_PATH" ]]; then
    log "deleting the registry's data in $STORAGE_PATH"
    rm -rf "$STORAGE_PATH"
    changed=1
  fi
  print_result "changed=$changed"
  exit 0
fi

# --- packages ------------------------------------------------------------------------------------
# apt_get and rpm_pm (provision/scripts/prelude.sh) wait for the package manager's lock and
# repair an interrupted dpkg first, as the Docker and etcd installs do, and show the output on
# stderr.

apt_updated=0
ensure_apt_package() {
  local package=$1
  dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' && return 0
  if ((apt_updated == 0)); then
    apt_update_lists
    apt_updated=1
  fi
  log "installing $package"
  apt_get install -qq --no-install-recommends "$package"
}

ensure_packages() {
  if command -v apt-get >/dev/null; then
    if [[ "$RUN_AS" == service ]]; then ensure_apt_package docker-registry; fi
    if [[ "$AUTHENTICATION" == 1 ]]; then ensure_apt_package apache2-utils; fi
    command -v curl >/dev/null || ensure_apt_package curl
  elif command -v dnf >/dev/null || command -v yum >/dev/null; then
    [[ "$RUN_AS" == container ]] ||
      die "RUN_AS=service needs Debian's docker-registry package (apt); on this dnf/yum host set registry runAs to \"container\""
    if [[ "$AUTHENTICATION" == 1 ]] && ! command -v htpasswd >/dev/null; then
      log "installing httpd-tools (htpasswd)"
      rpm_pm install -q httpd-tools
    fi
    command -v curl >/dev/null || rpm_pm install -q curl
  else
    die "no apt-get, dnf or yum on this host: install docker-registry and htpasswd by hand"
  fi
  if [[ "$RUN_AS" == container ]]; then
    command -v docker >/dev/null || die "RUN_AS=container needs Docker on this host; install it first (DockerEngine)"
  fi
}

# --- files ---------------------------------------------------------------------------------------

# install_file STAGED TARGET MODE OWNER: installs when bytes, mode or owner differ. The files that
# hold a secret (the key, config.yml with an upstream's password, htpasswd) are 0600 and owned by
# the user the registry runs as: no other user on the host reads them.
install_file() {
  local staged=$1 target=$2 mode=$3 owner=$4
  if [[ -f "$target" ]] && cmp -s "$staged" "$target" &&
    [[ "$(stat -c '%a %U:%G' "$target")" == "${mode#0} $owner:$owner" ]]; then
    return 0
  fi
  log "installing $target"
  install -D -m "$mode" -o "$owner" -g "$owner" "$staged" "$target"
  changed=1
}

ensure_htpasswd() {
  local owner=$1 target="$CONFIG_DIR/htpasswd"
  if [[ "$AUTHENTICATION" == 0 ]]; then
    if [[ -e "$target" ]]; then
      log "authentication off: removing $target"
      rm -f "$target"
      changed=1
    fi
    return 0
  fi
  local users=() user file create=(-c)
  for file in "$STAGING_DIR"/logins/*; do
    [[ -f "$file" ]] && users+=("${file##*/}")
  done
  ((${#users[@]} > 0)) || die "$STAGING_DIR/logins/ holds no login; upload one file per htpasswd user there first"
  if [[ -f "$target" && "$(cut -d: -f1 "$target" | sort)" == "$(printf '%s\n' "${users[@]}" | sort)" ]] &&
    all_logins_verify "$target" "${users[@]}"; then
    if [[ "$(stat -c '%a %U:%G' "$target")" != "600 $owner:$owner" ]]; then
      chown "$owner:$owner" "$target" && chmod 0600 "$target"
      changed=1
    fi
    return 0
  fi
  log "writing $target for ${#users[@]} user(s): ${users[*]} (bcrypt)"
  rm -f "$STAGING_DIR/htpasswd"
  for user in "${users[@]}"; do
    htpasswd "${create[@]}" -iB "$STAGING_DIR/htpasswd" "$user" <"$STAGING_DIR/logins/$user" 2>/dev/null
    create=()
  done
  install -D -m 0600 -o "$owner" -g "$owner" "$STAGING_DIR/htpasswd" "$target"
  changed=1
}

# all_logins_verify HTPASSWD USER...: every user's staged password verifies against HTPASSWD.
all_logins_verify() {
  local target=$1 user
  shift
  for user in "$@"; do
    htpasswd -vi "$target" "$user" <"$STAGING_DIR/logins/$user" >/dev/null 2>&1 || return 1
  done
}

# --- run -----------------------------------------------------------------------------------------

wait_until_ready() {
  local deadline=$((SECONDS + READY_TIMEOUT_SECONDS)) code
  while :; do
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$CONFIG_DIR/tls/ca.pem" \
      "https://$LISTEN/v2/" 2>/dev/null || true)
    if [[ "$code" == 200 || "$code" == 401 ]]; then return 0; fi
    if ((SECONDS >= deadline)); then return 1; fi
    sleep 1
  done
}

run_service() {
  install_file "$STAGING_DIR/dropin.conf" "$DROP_IN" 0644 root
  systemctl daemon-reload
  if ! systemctl is-enabled --quiet "$SERVICE"; then
    log "enabling $SERVICE (starts at boot)"
    systemctl enable "$SERVICE" >/dev/null 2>&1
    changed=1
  fi
  if ((changed)) || ! systemctl is-active --quiet "$SERVICE"; then
    log "restarting $SERVICE"
    systemctl reset-failed "$SERVICE" 2>/dev/null || true
    systemctl restart "$SERVICE"
    changed=1
  fi
  wait_until_ready ||
    die "$SERVICE does not answer on https://$LISTEN/v2/ after ${READY_TIMEOUT_SECONDS}s:
$(journalctl -u "$SERVICE" -n 20 --no-pager 2>/dev/null || systemctl status "$SERVICE" --no-pager 2>&1 || true)"
}

run_container() {
  local state wanted
  local -a publish=(--publish "$LISTEN:$PORT")
  [[ -z "$METRICS_PORT" ]] || publish+=(--publish "${LISTEN%:*}:$METRICS_PORT:$METRICS_PORT")
  # The container is recreated when its arguments or any installed file change.
  wanted=$(
    {
      printf '%s\n' "$IMAGE" "$LISTEN" "$STORAGE_PATH" "$CONFIG_DIR"
      cat "$CONFIG_DIR/config.yml" "$CONFIG_DIR/tls/cert.pem" "$CONFIG_DIR/tls/key.pem"
      if [[ -f "$CONFIG_DIR/htpasswd" ]]; then cat "$CONFIG_DIR/htpasswd"; fi
    } | sha256sum | cut -c1-16
  )
  state=$(docker inspect --format '{{ index .Config.Labels "dockfleet.io/registry-state" }} {{ .State.Running }}' \
    "$CONTAINER_NAME" 2>/dev/null || true)
  if [[ "$state" != "$wanted true" ]]; then
    remove_container
    log "starting container $CONTAINER_NAME from $IMAGE"
    docker run --detach --name "$CONTAINER_NAME" --restart always \
      "${publish[@]}" \
      --volume "$CONFIG_DIR:/etc/docker/registry:ro" \
      --volume "$STORAGE_PATH:/var/lib/registry" \
      --label dockfleet.io/component=registry \
      --label "dockfleet.io/registry-state=$wanted" \
      "$IMAGE" >/dev/null
    changed=1
  fi
  wait_until_ready ||
    die "container $CONTAINER_NAME does not answer on https://$LISTEN/v2/ after ${READY_TIMEOUT_SECONDS}s:
$(docker logs --tail 20 "$CONTAINER_NAME" 2>&1 || true)"
}

for name in config.yml cert.pem key.pem ca.pem; do
  [[ -f "$STAGING_DIR/$name" ]] || die "$STAGING_DIR/$name is missing; upload the rendered files there first"
done
[[ "$RUN_AS" == container || -f "$STAGING_DIR/dropin.conf" ]] ||
  die "$STAGING_DIR/dropin.conf is missing; RUN_AS=service needs the rendered drop-in"

ensure_packages
if [[ "$RUN_AS" == service ]]; then
  remove_container
  owner=docker-registry
  getent passwd "$owner" >/dev/null || die "the docker-registry package did not create its user $owner"
else
  stop_service
  owner=root
fi
if [[ ! -d "$STORAGE_PATH" ]]; then
  log "creating $STORAGE_PATH"
  install -d -m 0750 "$STORAGE_PATH"
fi
if [[ "$(stat -c '%U' "$STORAGE_PATH")" != "$owner" ]]; then
  chown -R "$owner:$owner" "$STORAGE_PATH"
  changed=1
fi
install -d -m 0755 "$CONFIG_DIR"
install -d -m 0750 -g "$owner" "$CONFIG_DIR/tls"
install_file "$STAGING_DIR/config.yml" "$CONFIG_DIR/config.yml" 0600 "$owner"
install_file "$STAGING_DIR/cert.pem" "$CONFIG_DIR/tls/cert.pem" 0644 root
install_file "$STAGING_DIR/key.pem" "$CONFIG_DIR/tls/key.pem" 0600 "$owner"
install_file "$STAGING_DIR/ca.pem" "$CONFIG_DIR/tls/ca.pem" 0644 root
ensure_htpasswd "$owner"

if [[ "$RUN_AS" == service ]]; then run_service; else run_container; fi
log "registry answers on https://$LISTEN/v2/"
rm -rf "$STAGING_DIR"
print_result "changed=$changed"
