#!/usr/bin/env bash
# Installs Debian's prometheus-node-exporter and makes it listen on the host's private address
# only (its ARGS in /etc/default/prometheus-node-exporter), behind basic auth (its web config,
# with the bcrypt hash htpasswd makes of WEB_PASSWORD, kept while it still matches), restarting it
# only when something changed. Safe to run again. Progress goes to stderr; the last line on
# stdout is:
#   DOCKFLEET_RESULT changed=0|1 version=<node_exporter version>
#
# Environment:
#   LISTEN                 "address:port" it listens on ("10.0.0.5:9100", "[fd00::5]:9100")
#   WEB_USERNAME           the basic auth user Prometheus scrapes as (default prometheus)
#   WEB_PASSWORD           its password (required to install; it reaches the script over stdin)
#   NODE_EXPORTER_ACTION   install (default) | remove: stop it, purge the package and its file
#   LOCK_TIMEOUT_SECONDS   how long to wait while another process holds the package manager's
#                          lock (default 600)
#   APT_LISTS_MAX_AGE_HOURS  apt lists updated less than this long ago are used as they are
#                          (default 6)
set -euo pipefail
# shellcheck source=provision/scripts/prelude.sh
if [[ -z "${DOCKFLEET_PRELUDE_LOADED:-}" ]]; then source "$(dirname "${BASH_SOURCE[0]}")/../../../provision/scripts/prelude.sh"; fi
DOCKFLEET_SCRIPT=ensure-node-exporter

LISTEN="${LISTEN:-}"
WEB_USERNAME="${WEB_USERNAME:-prometheus}"
WEB_PASSWORD="${WEB_PASSWORD:-}"
NODE_EXPORTER_ACTION="${NODE_EXPORTER_ACTION:-install}"
LOCK_TIMEOUT_SECONDS="${LOCK_TIMEOUT_SECONDS:-600}"
APT_LISTS_MAX_AGE_HOURS="${APT_LISTS_MAX_AGE_HOURS:-6}"

readonly PACKAGE=prometheus-node-exporter
readonly SERVICE=prometheus-node-exporter.service
readonly DEFAULTS=/etc/default/prometheus-node-exporter
readonly WEB_CONFIG=/etc/prometheus/node-exporter-web.yml

[[ "$NODE_EXPORTER_ACTION" == install || "$NODE_EXPORTER_ACTION" == remove ]] ||
  die "NODE_EXPORTER_ACTION=\"$NODE_EXPORTER_ACTION\" must be install or remove"
[[ "$LOCK_TIMEOUT_SECONDS" =~ ^[0-9]+$ ]] || die "LOCK_TIMEOUT_SECONDS=\"$LOCK_TIMEOUT_SECONDS\" must be a whole number of seconds"

installed() { dpkg-query -W -f '${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

changed=0

if [[ "$NODE_EXPORTER_ACTION" == remove ]]; then
  if command -v dpkg-query >/dev/null && installed "$PACKAGE"; then
    log "removing $PACKAGE"
    apt_get purge -qq "$PACKAGE"
    changed=1
  fi
  if [[ -e "$WEB_CONFIG" ]]; then
    rm -f "$WEB_CONFIG"
    rmdir /etc/prometheus 2>/dev/null || true
    changed=1
  fi
  print_result "changed=$changed version=none"
  exit 0
fi

[[ "$LISTEN" =~ ^(\[[0-9A-Fa-f:]+\]|[0-9.]+):[0-9]+$ ]] ||
  die "LISTEN=\"$LISTEN\" must be the host's private address and a port, e.g. 10.0.0.5:9100"
command -v apt-get >/dev/null ||
  die "no apt-get on this host: the node exporter comes from Debian's $PACKAGE package (Debian and Ubuntu hosts only)"
command -v systemctl >/dev/null || die "systemctl is missing: dockfleet runs the node exporter on systemd hosts only"
[[ "$WEB_USERNAME" =~ ^[A-Za-z0-9._-]{1,64}$ ]] || die "WEB_USERNAME=\"$WEB_USERNAME\" is not a valid user name"
[[ -n "$WEB_PASSWORD" ]] || die "WEB_PASSWORD is empty: give the password Prometheus scrapes with"

apt_updated=0
ensure_apt_package() {
  installed "$1" && return 0
  if ((apt_updated == 0)); then
    apt_lists_are_fresh || apt_update_lists
    apt_updated=1
  fi
  log "installing $1"
  apt_get install -qq --no-install-recommends "$1"
  changed=1
}

# The web config and ARGS before the package: it starts at once, with them.
ensure_apt_package apache2-utils
hash=$(awk -v user="$WEB_USERNAME" '$1 == user ":" { print $2 }' "$WEB_CONFIG" 2>/dev/null || true)
# The password goes to htpasswd on stdin, never on its command line; htpasswd -v wants a file it
# could write, so the hash goes to a temporary one.
if [[ -n "$hash" ]]; then
  htpasswd_file=$(mktemp)
  printf '%s:%s\n' "$WEB_USERNAME" "$hash" >"$htpasswd_file"
  printf '%s\n' "$WEB_PASSWORD" | htpasswd -vi "$htpasswd_file" "$WEB_USERNAME" >/dev/null 2>&1 || hash=""
  rm -f "$htpasswd_file"
fi
[[ -n "$hash" ]] || hash=$(printf '%s\n' "$WEB_PASSWORD" | htpasswd -niB "$WEB_USERNAME" 2>/dev/null | cut -d: -f2-)
web="# Managed by dockfleet (components/monitoring): Prometheus scrapes with this user.
basic_auth_users:
  $WEB_USERNAME: $hash"
if [[ "$(cat "$WEB_CONFIG" 2>/dev/null || true)" != "$web" ]]; then
  log "writing $WEB_CONFIG (basic auth for $WEB_USERNAME)"
  install -d -m 0755 "$(dirname "$WEB_CONFIG")"
  printf '%s\n' "$web" >"$WEB_CONFIG"
  changed=1
fi

wanted="# Managed by dockfleet (components/monitoring): the private address only, basic auth.
ARGS=\"--web.listen-address=$LISTEN --web.config.file=$WEB_CONFIG\""
if [[ "$(cat "$DEFAULTS" 2>/dev/null || true)" != "$wanted" ]]; then
  log "writing $DEFAULTS (listen on $LISTEN)"
  printf '%s\n' "$wanted" >"$DEFAULTS"
  changed=1
fi

ensure_apt_package "$PACKAGE"
# Readable by the exporter's user only (the package made it).
if [[ "$(stat -c '%a %U:%G' "$WEB_CONFIG")" != "640 root:prometheus" ]]; then
  chown root:prometheus "$WEB_CONFIG"
  chmod 0640 "$WEB_CONFIG"
  changed=1
fi

if ! systemctl is-enabled --quiet "$SERVICE"; then
  systemctl enable "$SERVICE" >/dev/null 2>&1
  changed=1
fi
if ((changed)) || ! systemctl is-active --quiet "$SERVICE"; then
  log "restarting $SERVICE"
  systemctl restart "$SERVICE"
fi

password=${WEB_PASSWORD//\\/\\\\}
password=${password//\"/\\\"}
deadline=$((SECONDS + 30))
until printf 'user = "%s:%s"\n' "$WEB_USERNAME" "$password" |
  curl -fsS -o /dev/null --max-time 5 -K - "http://$LISTEN/metrics"; do
  ((SECONDS < deadline)) ||
    die "$SERVICE does not answer on http://$LISTEN/metrics:
$(journalctl -u "$SERVICE" -n 20 --no-pager 2>/dev/null || true)"
  sleep 1
done
version=$(dpkg-query -W -f '${Version}' "$PACKAGE")
print_result "changed=$changed version=$version"
