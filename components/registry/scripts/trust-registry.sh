#!/usr/bin/env bash
# Makes this host's Docker engine trust a private registry: the registry's CA in
# /etc/docker/certs.d/<address>/ca.crt for each of its addresses (no insecure-registries, no
# restart: dockerd reads certs.d on every connection), and optionally `docker login` for the
# host's CLI. Progress goes to stderr; the last line on stdout is:
#   DOCKFLEET_RESULT changed=0|1
#
# Staged files (in STAGING_DIR, removed after a run):
#   ca.crt     the CA that signed the registry's certificate (required unless REMOVE=1)
#   password   the login password (with LOGIN_ADDRESS); fed to `docker login --password-stdin`,
#              never put on a command line
#
# Environment:
#   ADDRESSES          space-separated "host:port" the registry is reached at (required)
#   STALE_ADDRESSES    space-separated "host:port" no longer used: their certs.d folders go and
#                      the CLI logs out of them (default empty)
#   LOGIN_ADDRESS      "host:port" to `docker login` to; empty logs out of it instead (default empty)
#   LOGOUT_ADDRESS     with an empty LOGIN_ADDRESS, "host:port" to log out of (default empty)
#   REGISTRY_USERNAME  the login user
#   STAGING_DIR        default /etc/docker/dockfleet-registry.staged
#   REMOVE             1: remove the certs.d folders of ADDRESSES and log out of them (default 0)
#   LOGIN_ATTEMPTS     `docker login` tries, 2 s apart, while the registry starts (default 15)
set -euo pipefail
# shellcheck source=provision/scripts/prelude.sh
if [[ -z "${DOCKFLEET_PRELUDE_LOADED:-}" ]]; then source "$(dirname "${BASH_SOURCE[0]}")/../../../provision/scripts/prelude.sh"; fi
DOCKFLEET_SCRIPT=trust-registry

ADDRESSES="${ADDRESSES:-}"
STALE_ADDRESSES="${STALE_ADDRESSES:-}"
LOGIN_ADDRESS="${LOGIN_ADDRESS:-}"
LOGOUT_ADDRESS="${LOGOUT_ADDRESS:-}"
REGISTRY_USERNAME="${REGISTRY_USERNAME:-}"
STAGING_DIR="${STAGING_DIR:-/etc/docker/dockfleet-registry.staged}"
REMOVE="${REMOVE:-0}"
LOGIN_ATTEMPTS="${LOGIN_ATTEMPTS:-15}"

readonly CERTS_D=/etc/docker/certs.d
# host:port, the host a name, an IPv4 address or a bracketed IPv6 address.
readonly ADDRESS_PATTERN='^[][A-Za-z0-9.:-]+:[0-9]+$'

[[ -n "$ADDRESSES" ]] || die "ADDRESSES is empty: give the registry's \"host:port\" addresses"
[[ "$REMOVE" == 0 || "$REMOVE" == 1 ]] || die "REMOVE=\"$REMOVE\" must be 0 or 1"
[[ "$LOGIN_ATTEMPTS" =~ ^[0-9]+$ ]] || die "LOGIN_ATTEMPTS=\"$LOGIN_ATTEMPTS\" must be a whole number"
for address in $ADDRESSES $STALE_ADDRESSES $LOGIN_ADDRESS $LOGOUT_ADDRESS; do
  [[ "$address" =~ $ADDRESS_PATTERN ]] || die "\"$address\" is not a registry address \"host:port\""
done

changed=0

logout_of() {
  command -v docker >/dev/null || return 0
  if [[ -f /root/.docker/config.json ]] && grep -qF "\"$1\"" /root/.docker/config.json; then
    log "docker logout $1"
    docker logout "$1" >/dev/null 2>&1 || true
    changed=1
  fi
}

untrust() {
  local address=$1
  if [[ -e "$CERTS_D/$address" ]]; then
    log "removing $CERTS_D/$address"
    rm -rf "${CERTS_D:?}/$address"
    changed=1
  fi
  logout_of "$address"
}

if [[ "$REMOVE" == 1 ]]; then
  for address in $ADDRESSES $STALE_ADDRESSES; do untrust "$address"; done
  rmdir "$CERTS_D" 2>/dev/null || true
  rm -rf "$STAGING_DIR"
  print_result "changed=$changed"
  exit 0
fi

[[ -f "$STAGING_DIR/ca.crt" ]] || die "$STAGING_DIR/ca.crt is missing; upload the registry's CA there first"
trap 'rm -rf "$STAGING_DIR"' EXIT

for address in $STALE_ADDRESSES; do untrust "$address"; done

for address in $ADDRESSES; do
  target="$CERTS_D/$address/ca.crt"
  if [[ -f "$target" ]] && cmp -s "$STAGING_DIR/ca.crt" "$target"; then continue; fi
  log "installing $target"
  install -D -m 0644 "$STAGING_DIR/ca.crt" "$target"
  changed=1
done

if [[ -n "$LOGIN_ADDRESS" ]]; then
  [[ -n "$REGISTRY_USERNAME" ]] || die "REGISTRY_USERNAME is empty; give the user to log in as"
  [[ -f "$STAGING_DIR/password" ]] || die "$STAGING_DIR/password is missing; upload the login password there first"
  command -v docker >/dev/null || die "docker is not installed on this host; install it before logging in"
  attempt=1
  until output=$(docker login --username "$REGISTRY_USERNAME" --password-stdin "$LOGIN_ADDRESS" \
    <"$STAGING_DIR/password" 2>&1); do
    if ((attempt >= LOGIN_ATTEMPTS)); then
      die "docker login to $LOGIN_ADDRESS as $REGISTRY_USERNAME failed $attempt times: $output"
    fi
    log "docker login to $LOGIN_ADDRESS failed (attempt $attempt, retrying in 2 s): ${output##*$'\n'}"
    attempt=$((attempt + 1))
    sleep 2
  done
  log "logged in to $LOGIN_ADDRESS as $REGISTRY_USERNAME"
  changed=1
elif [[ -n "$LOGOUT_ADDRESS" ]]; then
  logout_of "$LOGOUT_ADDRESS"
fi

print_result "changed=$changed"
