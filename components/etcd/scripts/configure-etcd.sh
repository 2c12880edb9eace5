#!/usr/bin/env bash
# Installs an etcd member's staged config (uploaded by the EtcdMember provider to
# /etc/etcd/dockfleet.staged) and starts it; with ETCD_ACTION=remove, stops the member and removes
# its config and data. Safe to run again: unchanged files leave the running member alone. Progress
# goes to stderr; the last line on stdout is the result:
#   DOCKFLEET_RESULT changed=0|1 active=0|1
#
# Staged files: ca.pem, member.pem, member-key.pem, client-crl.pem (the client side: the client
# CA, the member's certificate from it, also etcdctl's, and the CA's revocation list), peer-ca.pem,
# peer.pem, peer-key.pem, peer-crl.pem (the same for the peer port), etcd.env (/etc/default/etcd,
# read by etcd.service) and dockfleet.conf (a drop-in for it). The keys are etcd's alone (0600).
#
# Environment:
#   ETCD_ACTION     apply (default) | remove
#   ETCD_DATA_DIR   the member's data directory (default /var/lib/etcd/dockfleet)
#   ETCD_WIPE_DATA  1 empties the data directory before the start: a member joining through
#                   `member add` must start empty (default 0)
set -euo pipefail
# shellcheck source=provision/scripts/prelude.sh
if [[ -z "${DOCKFLEET_PRELUDE_LOADED:-}" ]]; then source "$(dirname "${BASH_SOURCE[0]}")/../../../provision/scripts/prelude.sh"; fi
DOCKFLEET_SCRIPT=configure-etcd

ETCD_ACTION="${ETCD_ACTION:-apply}"
ETCD_DATA_DIR="${ETCD_DATA_DIR:-/var/lib/etcd/dockfleet}"
ETCD_WIPE_DATA="${ETCD_WIPE_DATA:-0}"

readonly STAGING_DIR=/etc/etcd/dockfleet.staged
readonly PKI_DIR=/etc/etcd/pki
readonly ENV_FILE=/etc/default/etcd
readonly DROP_IN=/etc/systemd/system/etcd.service.d/dockfleet.conf
# What the distribution package's own start (if it ever ran unmasked) left behind.
readonly PACKAGE_DEFAULT_DATA_DIR=/var/lib/etcd/default

changed=0

[[ "$ETCD_DATA_DIR" =~ ^/[A-Za-z0-9._/-]+$ && "$ETCD_DATA_DIR" != / ]] || die "ETCD_DATA_DIR=\"$ETCD_DATA_DIR\" must be an absolute path other than /"
[[ "$ETCD_WIPE_DATA" == 0 || "$ETCD_WIPE_DATA" == 1 ]] || die "ETCD_WIPE_DATA=\"$ETCD_WIPE_DATA\" must be 0 or 1"

# Installs $1 as $2 with mode $3, owned by $4 (user and group), when the content, mode or owner differs.
install_if_changed() {
  local source=$1 target=$2 mode=$3 owner=$4
  if [[ -f "$target" ]] && cmp -s "$source" "$target" &&
    [[ "$(stat -c '%a %U' "$target")" == "${mode#0} $owner" ]]; then
    return 0
  fi
  install -D -m "$mode" -o "$owner" -g "$owner" "$source" "$target"
  log "installed $target"
  changed=1
}

if [[ "$ETCD_ACTION" == remove ]]; then
  if systemctl is-active --quiet etcd.service || systemctl is-enabled --quiet etcd.service 2>/dev/null; then
    log "stopping and disabling etcd.service"
    systemctl disable --now etcd.service >&2 2>/dev/null || true
  fi
  rm -rf "$ETCD_DATA_DIR" "$PKI_DIR" "$STAGING_DIR" "$DROP_IN"
  rm -f "$ENV_FILE"
  systemctl daemon-reload
  log "removed the member's data ($ETCD_DATA_DIR) and config"
  print_result changed=1 active=0
  exit 0
fi
[[ "$ETCD_ACTION" == apply ]] || die "ETCD_ACTION=\"$ETCD_ACTION\" is not one of: apply, remove"

for file in ca.pem member.pem member-key.pem client-crl.pem peer-ca.pem peer.pem peer-key.pem peer-crl.pem etcd.env dockfleet.conf; do
  [[ -s "$STAGING_DIR/$file" ]] || die "$STAGING_DIR/$file is missing: the provider uploads it before running this script"
done
getent group etcd >/dev/null || die "there is no etcd group: run install-etcd.sh first"

# etcd reads its revocation lists on every handshake: a new list takes effect without a restart.
for crl in client-crl.pem peer-crl.pem; do
  if ! cmp -s "$STAGING_DIR/$crl" "$PKI_DIR/$crl"; then
    install -D -m 0644 -o root -g root "$STAGING_DIR/$crl" "$PKI_DIR/$crl"
    log "installed $PKI_DIR/$crl"
  fi
done
install_if_changed "$STAGING_DIR/ca.pem" "$PKI_DIR/ca.pem" 0644 root
install_if_changed "$STAGING_DIR/member.pem" "$PKI_DIR/member.pem" 0644 root
install_if_changed "$STAGING_DIR/member-key.pem" "$PKI_DIR/member-key.pem" 0600 etcd
install_if_changed "$STAGING_DIR/peer-ca.pem" "$PKI_DIR/peer-ca.pem" 0644 root
install_if_changed "$STAGING_DIR/peer.pem" "$PKI_DIR/peer.pem" 0644 root
install_if_changed "$STAGING_DIR/peer-key.pem" "$PKI_DIR/peer-key.pem" 0600 etcd
install_if_changed "$STAGING_DIR/etcd.env" "$ENV_FILE" 0644 root
changed_before_drop_in=$changed
install_if_changed "$STAGING_DIR/dockfleet.conf" "$DROP_IN" 0644 root
if ((changed != changed_before_drop_in)); then systemctl daemon-reload; fi
rm -f "$STAGING_DIR/member-key.pem" "$STAGING_DIR/peer-key.pem"

if [[ -d "$PACKAGE_DEFAULT_DATA_DIR" && "$PACKAGE_DEFAULT_DATA_DIR" != "$ETCD_DATA_DIR" ]]; then
  log "removing the distribution package's throwaway member data ($PACKAGE_DEFAULT_DATA_DIR)"
  rm -rf "$PACKAGE_DEFAULT_DATA_DIR"
fi

if [[ "$ETCD_WIPE_DATA" == 1 && -d "$ETCD_DATA_DIR" && -n "$(ls -A "$ETCD_DATA_DIR")" ]]; then
  log "emptying $ETCD_DATA_DIR: a member that joins starts without data"
  systemctl stop etcd.service 2>/dev/null || true
  rm -rf "$ETCD_DATA_DIR"
  changed=1
fi
if [[ ! -d "$ETCD_DATA_DIR" ]]; then
  install -d -m 0700 -o etcd -g etcd "$ETCD_DATA_DIR"
  changed=1
fi

if ! systemctl is-enabled --quiet etcd.service 2>/dev/null; then
  log "enabling etcd.service"
  systemctl enable etcd.service >&2 2>/dev/null
  changed=1
fi
# No waiting here: a new member reports ready only once a quorum of its peers runs, and those may
# be started right after this one. The provider waits for health.
if ((changed)) || ! systemctl is-active --quiet etcd.service; then
  log "(re)starting etcd.service"
  systemctl reset-failed etcd.service 2>/dev/null || true
  systemctl restart --no-block etcd.service
  changed=1
fi
print_result "changed=$changed" active=1
