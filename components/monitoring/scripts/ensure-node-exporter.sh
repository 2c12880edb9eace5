#!/usr/bin/env bash
# Installs Debian's prometheus-node-exporter and makes it listen on the host's private address
# only (its ARGS in /etc/default/prometheus-node-exporter), restarting it only when that changed.
# Safe to run again. Progress goes to stderr; the last line on stdout is:
#   DOCKFLEET_RESULT changed=0|1 version=<node_exporter version>
#
# Environment:
#   LISTEN                 "address:port" it listens on ("10.0.0.5:9100", "[fd00::5]:9100")
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
NODE_EXPORTER_ACTION="${NODE_EXPORTER_ACTION:-install}"
LOCK_TIMEOUT_SECONDS="${LOCK_TIMEOUT_SECONDS:-600}"
APT_LISTS_MAX_AGE_HOURS="${APT_LISTS_MAX_AGE_HOURS:-6}"

readonly PACKAGE=prometheus-node-exporter
readonly SERVICE=prometheus-node-exporter.service
readonly DEFAULTS=/etc/default/prometheus-node-exporter

[[ "$NODE_EXPORTER_ACTION" == install || "$NODE_EXPORTER_ACTION" == remove ]] ||
  die "NODE_EXPORTER_ACTION=\"$NODE_EXPORTER_ACTION\" must be install or remove"
[[ "$LOCK_TIMEOUT_SECONDS" =~ ^[0-9]+$ ]] || die "LOCK_TIMEOUT_SECONDS=\"$LOCK_TIMEOUT_SECONDS\" must be a whole number of seconds"

installed() { dpkg-query -W -f '${Status}' "$PACKAGE" 2>/dev/null | grep -q 'install ok installed'; }

changed=0

if [[ "$NODE_EXPORTER_ACTION" == remove ]]; then
  if command -v dpkg-query >/dev/null && installed; then
    log "removing $PACKAGE"
    apt_get purge -qq "$PACKAGE"
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

# Its file first: the package keeps a changed conffile, and starts with it at once.
wanted="# Managed by dockfleet (components/monitoring): the private address only.
ARGS=\"--web.listen-address=$LISTEN\""
if [[ "$(cat "$DEFAULTS" 2>/dev/null || true)" != "$wanted" ]]; then
  log "writing $DEFAULTS (listen on $LISTEN)"
  printf '%s\n' "$wanted" >"$DEFAULTS"
  changed=1
fi

if ! installed; then
  apt_lists_are_fresh || apt_update_lists
  log "installing $PACKAGE"
  apt_get install -qq --no-install-recommends "$PACKAGE"
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

deadline=$((SECONDS + 30))
until curl -fsS -o /dev/null --max-time 5 "http://$LISTEN/metrics"; do
  ((SECONDS < deadline)) ||
    die "$SERVICE does not answer on http://$LISTEN/metrics:
$(journalctl -u "$SERVICE" -n 20 --no-pager 2>/dev/null || true)"
  sleep 1
done
version=$(dpkg-query -W -f '${Version}' "$PACKAGE")
print_result "changed=$changed version=$version"
