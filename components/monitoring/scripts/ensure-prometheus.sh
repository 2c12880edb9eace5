#!/usr/bin/env bash
# Runs Prometheus on this host as a container (restart policy "always", host network, listening
# on the private address only, basic auth through its web config) from the files the caller
# staged, and recreates it only when something changed. Progress goes to stderr; the last line on
# stdout is:
#   DOCKFLEET_RESULT changed=0|1
#
# Staged files (in STAGING_DIR, removed after a run: they hold a private key and a password):
#   prometheus.yml, rules.yml          -> CONFIG_DIR (renderPrometheusYml, renderAlertRules)
#   web.yml                            -> CONFIG_DIR, with @PASSWORD_HASH@ replaced by the bcrypt
#                                         hash of `password` (kept while it still matches)
#   password                           the web UI's password (never on a command line)
#   node-exporter-password             -> CONFIG_DIR: what Prometheus scrapes the node exporters with
#   etcd-ca.pem, etcd-client.pem,
#   etcd-client-key.pem                -> CONFIG_DIR, when etcd is scraped (the key 0600)
#
# Environment:
#   IMAGE            the Prometheus image, pulled from the private registry (the host is logged in)
#   LISTEN           "address:port" on the host's private address
#   RETENTION        how long samples are kept ("15d")
#   WEB_USERNAME     the basic auth user
#   CONFIG_DIR       default /etc/dockfleet/prometheus
#   STAGING_DIR      default /etc/dockfleet/prometheus.staged
#   CONTAINER_NAME   default dockfleet-prometheus
#   REMOVE           1: remove the container, its data volume and CONFIG_DIR (default 0)
#   READY_TIMEOUT_SECONDS  how long to wait for Prometheus to answer (default 90)
#   LOCK_TIMEOUT_SECONDS, APT_LISTS_MAX_AGE_HOURS  as for every package install (600, 6)
set -euo pipefail
# shellcheck source=provision/scripts/prelude.sh
if [[ -z "${DOCKFLEET_PRELUDE_LOADED:-}" ]]; then source "$(dirname "${BASH_SOURCE[0]}")/../../../provision/scripts/prelude.sh"; fi
DOCKFLEET_SCRIPT=ensure-prometheus

IMAGE="${IMAGE:-}"
LISTEN="${LISTEN:-}"
RETENTION="${RETENTION:-15d}"
WEB_USERNAME="${WEB_USERNAME:-admin}"
CONFIG_DIR="${CONFIG_DIR:-/etc/dockfleet/prometheus}"
STAGING_DIR="${STAGING_DIR:-/etc/dockfleet/prometheus.staged}"
CONTAINER_NAME="${CONTAINER_NAME:-dockfleet-prometheus}"
REMOVE="${REMOVE:-0}"
READY_TIMEOUT_SECONDS="${READY_TIMEOUT_SECONDS:-90}"
LOCK_TIMEOUT_SECONDS="${LOCK_TIMEOUT_SECONDS:-600}"
APT_LISTS_MAX_AGE_HOURS="${APT_LISTS_MAX_AGE_HOURS:-6}"

readonly VOLUME="$CONTAINER_NAME-data"
readonly HASH_MARK="@PASSWORD_HASH@"

[[ "$REMOVE" == 0 || "$REMOVE" == 1 ]] || die "REMOVE=\"$REMOVE\" must be 0 or 1"
command -v docker >/dev/null || die "Prometheus runs as a container: install Docker on this host first (DockerEngine)"

changed=0

if [[ "$REMOVE" == 1 ]]; then
  if docker inspect "$CONTAINER_NAME" >/dev/null 2>&1; then
    log "removing container $CONTAINER_NAME"
    docker rm --force "$CONTAINER_NAME" >/dev/null
    changed=1
  fi
  if docker volume inspect "$VOLUME" >/dev/null 2>&1; then
    docker volume rm "$VOLUME" >/dev/null
    changed=1
  fi
  if [[ -e "$CONFIG_DIR" || -e "$STAGING_DIR" ]]; then
    rm -rf "$CONFIG_DIR" "$STAGING_DIR"
    changed=1
  fi
  print_result "changed=$changed"
  exit 0
fi

[[ -n "$IMAGE" ]] || die "IMAGE is empty: give the Prometheus image pushed to the private registry"
[[ "$LISTEN" =~ ^(\[[0-9A-Fa-f:]+\]|[0-9.]+):[0-9]+$ ]] ||
  die "LISTEN=\"$LISTEN\" must be the host's private address and a port, e.g. 10.0.0.5:9090"
[[ "$WEB_USERNAME" =~ ^[A-Za-z0-9._-]{1,64}$ ]] || die "WEB_USERNAME=\"$WEB_USERNAME\" is not a valid user name"
for name in prometheus.yml rules.yml web.yml password node-exporter-password; do
  [[ -f "$STAGING_DIR/$name" ]] || die "$STAGING_DIR/$name is missing; upload the rendered files there first"
done
trap 'rm -rf "$STAGING_DIR"' EXIT

# htpasswd makes the bcrypt hash of the web password (apache2-utils; the registry host has it).
if ! command -v htpasswd >/dev/null; then
  command -v apt-get >/dev/null || die "htpasswd is missing: install apache2-utils (or httpd-tools) on this host"
  apt_lists_are_fresh || apt_update_lists
  log "installing apache2-utils (htpasswd)"
  apt_get install -qq --no-install-recommends apache2-utils
fi

if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "pulling $IMAGE"
  docker pull --quiet "$IMAGE" >/dev/null
fi
# The image runs as its own user: the files it reads belong to that user, readable by no other.
uid=$(docker run --rm --entrypoint id "$IMAGE" -u)
gid=$(docker run --rm --entrypoint id "$IMAGE" -g)

# The installed hash is kept while it matches the password (bcrypt salts differ on every run).
hash=""
if [[ -f "$CONFIG_DIR/web.yml" ]]; then
  hash=$(awk -v user="$WEB_USERNAME" '$1 == user ":" { print $2 }' "$CONFIG_DIR/web.yml")
  if [[ -n "$hash" ]]; then
    printf '%s:%s\n' "$WEB_USERNAME" "$hash" >"$STAGING_DIR/htpasswd"
    htpasswd -vi "$STAGING_DIR/htpasswd" "$WEB_USERNAME" <"$STAGING_DIR/password" >/dev/null 2>&1 || hash=""
  fi
fi
if [[ -z "$hash" ]]; then
  hash=$(htpasswd -niB "$WEB_USERNAME" <"$STAGING_DIR/password" 2>/dev/null | cut -d: -f2-)
fi
web=$(<"$STAGING_DIR/web.yml")
printf '%s\n' "${web//"$HASH_MARK"/"$hash"}" >"$STAGING_DIR/web.yml"

install_file() {
  local name=$1 mode=$2 target="$CONFIG_DIR/$1"
  if [[ -f "$target" ]] && cmp -s "$STAGING_DIR/$name" "$target" &&
    [[ "$(stat -c '%a %u:%g' "$target")" == "${mode#0} $uid:$gid" ]]; then
    return 0
  fi
  log "installing $target"
  install -D -m "$mode" -o "$uid" -g "$gid" "$STAGING_DIR/$name" "$target"
  changed=1
}

install -d -m 0750 -o "$uid" -g "$gid" "$CONFIG_DIR"
install_file prometheus.yml 0644
install_file rules.yml 0644
install_file web.yml 0600
install_file node-exporter-password 0600
for name in etcd-ca.pem etcd-client.pem etcd-client-key.pem; do
  if [[ -f "$STAGING_DIR/$name" ]]; then
    install_file "$name" 0600
  elif [[ -e "$CONFIG_DIR/$name" ]]; then
    rm -f "${CONFIG_DIR:?}/$name"
    changed=1
  fi
done

# The container is recreated when its arguments or any installed file change.
wanted=$(
  {
    printf '%s\n' "$IMAGE" "$LISTEN" "$RETENTION" "$uid:$gid"
    cat "$CONFIG_DIR"/*
  } | sha256sum | cut -c1-16
)
state=$(docker inspect --format '{{ index .Config.Labels "dockfleet.io/prometheus-state" }} {{ .State.Running }}' \
  "$CONTAINER_NAME" 2>/dev/null || true)
if [[ "$state" != "$wanted true" ]]; then
  if docker inspect "$CONTAINER_NAME" >/dev/null 2>&1; then docker rm --force "$CONTAINER_NAME" >/dev/null; fi
  log "starting container $CONTAINER_NAME from $IMAGE on $LISTEN"
  docker run --detach --name "$CONTAINER_NAME" --restart always --network host \
    --volume "$CONFIG_DIR:$CONFIG_DIR:ro" \
    --volume "$VOLUME:/prometheus" \
    --label dockfleet.io/component=monitoring \
    --label "dockfleet.io/prometheus-state=$wanted" \
    "$IMAGE" \
    "--config.file=$CONFIG_DIR/prometheus.yml" \
    "--web.config.file=$CONFIG_DIR/web.yml" \
    "--web.listen-address=$LISTEN" \
    --storage.tsdb.path=/prometheus \
    "--storage.tsdb.retention.time=$RETENTION" >/dev/null
  changed=1
fi

# Ready: /-/ready answers 200 with the credentials (read by curl from stdin, not its arguments).
password=$(<"$STAGING_DIR/password")
password=${password//\\/\\\\}
password=${password//\"/\\\"}
deadline=$((SECONDS + READY_TIMEOUT_SECONDS))
until printf 'user = "%s:%s"\n' "$WEB_USERNAME" "$password" |
  curl -fsS -o /dev/null --max-time 5 -K - "http://$LISTEN/-/ready" 2>/dev/null; do
  ((SECONDS < deadline)) ||
    die "Prometheus does not answer on http://$LISTEN/-/ready after ${READY_TIMEOUT_SECONDS}s:
$(docker logs --tail 20 "$CONTAINER_NAME" 2>&1 || true)"
  sleep 1
done
log "Prometheus answers on http://$LISTEN/ (basic auth)"
print_result "changed=$changed"
