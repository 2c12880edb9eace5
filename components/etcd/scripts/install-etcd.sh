#!/usr/bin/env bash
# Installs etcd and etcdctl without starting a member: configure-etcd.sh writes the member's config
# and starts it. Safe to run again: what is installed is left as it is. Progress goes to stderr;
# the last line on stdout is the result:
#   DOCKFLEET_RESULT changed=0|1 version=<etcd version> etcd=<path> etcdctl=<path> source=<source>
#
# Environment:
#   ETCD_SOURCE              distro (default): the distribution's packages (etcd-server and
#                            etcd-client on Debian and Ubuntu, etcd on Fedora) | tarball: the
#                            official release from ETCD_DOWNLOAD_URL
#   ETCD_VERSION             with tarball: the release, e.g. 3.5.17
#   ETCD_DOWNLOAD_URL        with tarball: base URL laid out like
#                            https://github.com/etcd-io/etcd/releases/download (a mirror of it):
#                            <url>/v<version>/etcd-v<version>-linux-<arch>.tar.gz
#   ETCD_SHA256_<ARCH>       with tarball: the SHA-256 the download must have on this architecture
#                            (ETCD_SHA256_AMD64, _ARM64, ...); without it nothing is installed
#   ETCD_ACTION              install (default) | remove: remove the packages or binaries
#   LOCK_TIMEOUT_SECONDS     how long to wait while another process holds the package manager's
#                            lock (default 600)
#   APT_LISTS_MAX_AGE_HOURS  apt lists updated less than this long ago are used as they are
#                            (default 6)
#   OS_RELEASE_FILE          where the OS is read from (default /etc/os-release)
set -euo pipefail
# shellcheck source=provision/scripts/prelude.sh
if [[ -z "${DOCKFLEET_PRELUDE_LOADED:-}" ]]; then source "$(dirname "${BASH_SOURCE[0]}")/../../../provision/scripts/prelude.sh"; fi
DOCKFLEET_SCRIPT=install-etcd

ETCD_SOURCE="${ETCD_SOURCE:-distro}"
ETCD_VERSION="${ETCD_VERSION:-}"
ETCD_DOWNLOAD_URL="${ETCD_DOWNLOAD_URL:-}"
ETCD_ACTION="${ETCD_ACTION:-install}"
LOCK_TIMEOUT_SECONDS="${LOCK_TIMEOUT_SECONDS:-600}"
APT_LISTS_MAX_AGE_HOURS="${APT_LISTS_MAX_AGE_HOURS:-6}"
OS_RELEASE_FILE="${OS_RELEASE_FILE:-/etc/os-release}"

readonly TARBALL_BIN_DIR=/usr/local/bin
readonly TARBALL_UNIT=/etc/systemd/system/etcd.service

changed=0

read_os_release
[[ -n "$family" ]] || die "OS ID=\"$os_id\" from $OS_RELEASE_FILE is not supported; supported: debian, ubuntu, fedora, and with ETCD_SOURCE=tarball the RHEL-likes"
case "$ETCD_SOURCE" in
  distro) ;;
  tarball)
    [[ "$ETCD_VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "ETCD_VERSION=\"$ETCD_VERSION\" must be a release number like 3.5.17"
    [[ "$ETCD_DOWNLOAD_URL" =~ ^https?://[^[:space:]]+$ ]] || die "ETCD_DOWNLOAD_URL=\"$ETCD_DOWNLOAD_URL\" is not an http(s) URL; give a base URL laid out like https://github.com/etcd-io/etcd/releases/download"
    ;;
  *) die "ETCD_SOURCE=\"$ETCD_SOURCE\" is not one of: distro, tarball" ;;
esac
[[ "$LOCK_TIMEOUT_SECONDS" =~ ^[0-9]+$ ]] || die "LOCK_TIMEOUT_SECONDS=\"$LOCK_TIMEOUT_SECONDS\" must be a whole number of seconds"

if [[ "$family" == apt ]]; then packages=(etcd-server etcd-client); else packages=(etcd); fi
if [[ "$ETCD_SOURCE" == distro && "$os_id" != fedora && "$family" == rpm ]]; then
  die "$os_id has no etcd package; set dockfleet:etcd.source to \"tarball\" (with a downloadUrl mirror if GitHub is unreachable)"
fi

# --- packages ------------------------------------------------------------------------------------
# apt_get, rpm_pm (which wait for the package manager's lock), apt_lists_are_fresh and
# apt_update_lists come from provision/scripts/prelude.sh.

apt_has_candidate() {
  local candidate
  candidate=$(apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" { print $2 }')
  [[ -n "$candidate" && "$candidate" != "(none)" ]]
}

installed_package_version() {
  if [[ "$family" == apt ]]; then
    dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null |
      awk '$1 == "install" && $3 == "installed" { print $4; found = 1 } END { exit !found }'
  else
    rpm -q --qf '%{VERSION}-%{RELEASE}\n' "$1" 2>/dev/null
  fi
}

install_packages() {
  local missing=() package
  for package in "${packages[@]}"; do
    installed_package_version "$package" >/dev/null || missing+=("$package")
  done
  if ((${#missing[@]} == 0)); then
    log "already installed: ${packages[*]}"
    return 0
  fi
  # The package would start a throwaway single-member etcd from its default config; masked, it
  # stays stopped until configure-etcd.sh has written this member's config.
  if [[ ! -e /etc/systemd/system/etcd.service ]]; then
    log "masking etcd.service while the package installs (dpkg's \"unit is masked\" messages are expected)"
    systemctl mask etcd.service >&2 2>/dev/null || true
    trap 'systemctl unmask etcd.service >/dev/null 2>&1 || true' EXIT
  fi
  if [[ "$family" == apt ]]; then
    if ! apt_lists_are_fresh || ! apt_has_candidate "${missing[0]}"; then
      apt_update_lists
    fi
    log "running: apt-get install --no-install-recommends ${missing[*]}"
    apt_get install --no-install-recommends "${missing[@]}"
  else
    log "running: install ${missing[*]}"
    rpm_pm install "${missing[@]}"
  fi
  systemctl unmask etcd.service >&2 2>/dev/null || true
  trap - EXIT
  changed=1
}

# --- tarball -----------------------------------------------------------------------------------

tarball_arch() {
  case "$(uname -m)" in
    x86_64) echo amd64 ;;
    aarch64 | arm64) echo arm64 ;;
    ppc64le) echo ppc64le ;;
    s390x) echo s390x ;;
    *) die "no etcd release is built for $(uname -m)" ;;
  esac
}

install_tarball() {
  local arch name url workdir sha_variable expected
  # grep without -q reads all of the output: with -q it may exit first, and etcd's SIGPIPE then
  # fails the pipeline (pipefail), which made a second run reinstall now and then.
  if [[ -x "$TARBALL_BIN_DIR/etcd" ]] && "$TARBALL_BIN_DIR/etcd" --version 2>/dev/null | grep "^etcd Version: $ETCD_VERSION\$" >/dev/null; then
    log "etcd $ETCD_VERSION is already installed in $TARBALL_BIN_DIR"
  else
    arch=$(tarball_arch)
    sha_variable="ETCD_SHA256_${arch^^}"
    expected="${!sha_variable:-}"
    [[ "$expected" =~ ^[0-9a-f]{64}$ ]] || die "$sha_variable is not set to a SHA-256: dockfleet never installs an unverified download; set dockfleet:etcd.sha256.$arch from the release's SHA256SUMS"
    name="etcd-v$ETCD_VERSION-linux-$arch"
    url="${ETCD_DOWNLOAD_URL%/}/v$ETCD_VERSION/$name.tar.gz"
    workdir=$(mktemp -d)
    # shellcheck disable=SC2064 # expand now: the folder is this call's
    trap "rm -rf '$workdir'" EXIT
    log "downloading $url"
    curl -fsSL --retry 3 -o "$workdir/$name.tar.gz" "$url" ||
      die "could not download $url; check dockfleet:etcd.downloadUrl and etcd.version and the host's network"
    # The checksum is the project's or the stack's, never the mirror's.
    printf '%s  %s\n' "$expected" "$workdir/$name.tar.gz" | sha256sum -c - >&2 ||
      die "$url does not have the SHA-256 $expected (dockfleet:etcd.sha256.$arch): the download or the mirror is broken, or the checksum is wrong"
    tar -xzf "$workdir/$name.tar.gz" -C "$workdir"
    install -m 0755 "$workdir/$name/etcd" "$workdir/$name/etcdctl" "$TARBALL_BIN_DIR/"
    rm -rf "$workdir"
    trap - EXIT
    changed=1
  fi
  if ! getent passwd etcd >/dev/null; then
    log "creating the etcd system user"
    useradd --system --home-dir /var/lib/etcd --shell /usr/sbin/nologin --user-group etcd
    changed=1
  fi
  install -d -m 0700 -o etcd -g etcd /var/lib/etcd
  # The same shape as Debian's unit, so configure-etcd.sh works alike for both sources.
  local unit="[Unit]
Description=etcd key-value store (release tarball, installed by dockfleet)
Documentation=https://etcd.io/docs
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
User=etcd
EnvironmentFile=-/etc/default/etcd
ExecStart=$TARBALL_BIN_DIR/etcd
Restart=on-failure
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target"
  if [[ ! -f "$TARBALL_UNIT" || "$(cat "$TARBALL_UNIT")" != "$unit" ]]; then
    printf '%s\n' "$unit" >"$TARBALL_UNIT"
    systemctl daemon-reload
    changed=1
  fi
}

# --- main ----------------------------------------------------------------------------------------

if [[ "$ETCD_ACTION" == remove ]]; then
  systemctl disable --now etcd.service >&2 2>/dev/null || true
  if [[ "$ETCD_SOURCE" == tarball ]]; then
    rm -f "$TARBALL_BIN_DIR/etcd" "$TARBALL_BIN_DIR/etcdctl" "$TARBALL_UNIT"
    systemctl daemon-reload
  else
    installed=()
    for package in "${packages[@]}"; do
      installed_package_version "$package" >/dev/null && installed+=("$package")
    done
    if ((${#installed[@]} > 0)); then
      log "removing ${installed[*]}"
      if [[ "$family" == apt ]]; then apt_get remove "${installed[@]}"; else rpm_pm remove "${installed[@]}"; fi
    fi
  fi
  print_result changed=1 removed=etcd
  exit 0
fi
[[ "$ETCD_ACTION" == install ]] || die "ETCD_ACTION=\"$ETCD_ACTION\" is not one of: install, remove"

[[ -d /run/systemd/system ]] || die "systemd is not running on this host: dockfleet runs etcd as a systemd service"
log "OS $os_id ($family), source $ETCD_SOURCE${ETCD_VERSION:+ $ETCD_VERSION}"
if [[ "$ETCD_SOURCE" == distro ]]; then
  install_packages
  etcd_path=$(command -v etcd) || die "etcd is not on PATH ($PATH) although ${packages[*]} are installed"
  etcdctl_path=$(command -v etcdctl) || die "etcdctl is not on PATH ($PATH) although ${packages[*]} are installed"
else
  install_tarball
  etcd_path="$TARBALL_BIN_DIR/etcd"
  etcdctl_path="$TARBALL_BIN_DIR/etcdctl"
fi
version=$("$etcd_path" --version | awk '/^etcd Version:/ { print $3 }')
[[ -n "$version" ]] || die "$etcd_path --version did not print a version"
log "etcd $version at $etcd_path, etcdctl at $etcdctl_path"
print_result "changed=$changed" "version=$version" "etcd=$etcd_path" "etcdctl=$etcdctl_path" \
  "source=$ETCD_SOURCE"
