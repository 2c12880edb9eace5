#!/usr/bin/env bash
# Installs the Docker engine and starts it: apt on Debian and Ubuntu; dnf or yum on CentOS, RHEL,
# Rocky, AlmaLinux, Fedora, Alibaba Cloud Linux and Amazon Linux. Safe to run again: when the
# wanted package is installed it installs nothing. Progress goes to stderr; the last line on
# stdout is the result:
#   DOCKFLEET_RESULT changed=0|1 upgraded=0|1 version=<dockerd version> dockerd=<path> source=<source>
#
# Environment:
#   DOCKER_SOURCE            distro (default): the distribution's package (docker.io; docker on
#                            Amazon Linux) | docker-ce: https://download.docker.com | mirror: a
#                            copy of it at DOCKER_CE_MIRROR
#   DOCKER_CE_MIRROR         base URL laid out like https://download.docker.com, e.g.
#                            https://mirrors.aliyun.com/docker-ce (only with DOCKER_SOURCE=mirror)
#   DOCKER_CE_DEB_KEY        with docker-ce or mirror: Docker's armored signing key for apt and
#   DOCKER_CE_RPM_KEY        for rpm, which dockfleet ships (never fetched from the mirror); the
#                            repository is trusted with this key only
#   ALLOW_HTTP_MIRROR        1 accepts an http:// DOCKER_CE_MIRROR (default 0: https only)
#   DOCKER_VERSION           pin: the package version starts with this ("20.10", "24.0.7");
#                            empty (default) takes the newest and accepts any installed one
#   INSTALL_RECOMMENDS       1 also installs recommended/weak dependencies (default 0: about half
#                            the install time)
#   LOCK_TIMEOUT_SECONDS     how long to wait while another process (cloud-init,
#                            unattended-upgrades) holds the package manager's lock (default 600)
#   APT_LISTS_MAX_AGE_HOURS  apt lists updated less than this long ago are used as they are
#                            (default 6)
#   OS_RELEASE_FILE          where the OS is read from (default /etc/os-release)
#   DOCKER_UPGRADE           1 (`dockfleet upgrade`): with fresh package lists, the engine goes to
#                            the newest version (of the pin, with DOCKER_VERSION) even when one is
#                            installed; the package restarts docker (default 0)
#   DOCKER_START             0 installs and enables docker without starting it, for a caller that
#                            writes daemon.json next and starts it once, with that (default 1)
set -euo pipefail
# shellcheck source=provision/scripts/prelude.sh
if [[ -z "${DOCKFLEET_PRELUDE_LOADED:-}" ]]; then source "$(dirname "${BASH_SOURCE[0]}")/../../../provision/scripts/prelude.sh"; fi
DOCKFLEET_SCRIPT=install-docker

DOCKER_SOURCE="${DOCKER_SOURCE:-distro}"
DOCKER_CE_MIRROR="${DOCKER_CE_MIRROR:-}"
# Without trailing newlines, as $(cat) reads the installed copies back.
DOCKER_CE_DEB_KEY=$(printf '%s' "${DOCKER_CE_DEB_KEY:-}")
DOCKER_CE_RPM_KEY=$(printf '%s' "${DOCKER_CE_RPM_KEY:-}")
ALLOW_HTTP_MIRROR="${ALLOW_HTTP_MIRROR:-0}"
DOCKER_VERSION="${DOCKER_VERSION:-}"
DOCKER_UPGRADE="${DOCKER_UPGRADE:-0}"
INSTALL_RECOMMENDS="${INSTALL_RECOMMENDS:-0}"
LOCK_TIMEOUT_SECONDS="${LOCK_TIMEOUT_SECONDS:-600}"
APT_LISTS_MAX_AGE_HOURS="${APT_LISTS_MAX_AGE_HOURS:-6}"
OS_RELEASE_FILE="${OS_RELEASE_FILE:-/etc/os-release}"
DOCKER_START="${DOCKER_START:-1}"

readonly DOCKER_CE_OFFICIAL="https://download.docker.com"
readonly APT_KEYRING=/etc/apt/keyrings/docker.asc
readonly APT_SOURCE_LIST=/etc/apt/sources.list.d/docker.list
readonly YUM_REPO_FILE=/etc/yum.repos.d/docker-ce.repo
readonly RPM_KEY_FILE=/etc/pki/rpm-gpg/dockfleet-docker-ce.asc

changed=0
apt_lists_updated_this_run=0

# --- what to install -------------------------------------------------------------------------

read_os_release
[[ -n "$family" ]] || die "OS ID=\"$os_id\" from $OS_RELEASE_FILE is not supported; supported: debian, ubuntu, centos, rhel, rocky, almalinux, fedora, alinux, amzn"

case "$DOCKER_SOURCE" in
  distro) repo_base="" ;;
  docker-ce) repo_base="$DOCKER_CE_OFFICIAL" ;;
  mirror)
    [[ -n "$DOCKER_CE_MIRROR" ]] || die "DOCKER_SOURCE=mirror needs DOCKER_CE_MIRROR, the base URL of a download.docker.com copy (e.g. https://mirrors.aliyun.com/docker-ce)"
    [[ "$DOCKER_CE_MIRROR" =~ ^https?://[^[:space:]]+$ ]] || die "DOCKER_CE_MIRROR=\"$DOCKER_CE_MIRROR\" is not an http(s) URL; give the base URL, e.g. https://mirrors.aliyun.com/docker-ce"
    [[ "$DOCKER_CE_MIRROR" != http://* || "$ALLOW_HTTP_MIRROR" == 1 ]] || die "DOCKER_CE_MIRROR=\"$DOCKER_CE_MIRROR\" is plain http: use https, or set ALLOW_HTTP_MIRROR=1 (dockfleet:engine.allowInsecureHttpMirror) to accept it knowingly"
    repo_base="${DOCKER_CE_MIRROR%/}"
    ;;
  *) die "DOCKER_SOURCE=\"$DOCKER_SOURCE\" is not one of: distro, docker-ce, mirror" ;;
esac
if [[ -n "$repo_base" ]]; then
  [[ "$family" != apt || "$DOCKER_CE_DEB_KEY" == *"BEGIN PGP PUBLIC KEY BLOCK"* ]] || die "DOCKER_CE_DEB_KEY must hold Docker's armored signing key (dockfleet passes the one it ships): the key is never taken from the mirror"
  [[ "$family" != rpm || "$DOCKER_CE_RPM_KEY" == *"BEGIN PGP PUBLIC KEY BLOCK"* ]] || die "DOCKER_CE_RPM_KEY must hold Docker's armored signing key (dockfleet passes the one it ships): the key is never taken from the mirror"
fi
[[ "$INSTALL_RECOMMENDS" == 0 || "$INSTALL_RECOMMENDS" == 1 ]] || die "INSTALL_RECOMMENDS=\"$INSTALL_RECOMMENDS\" must be 0 or 1"
[[ "$LOCK_TIMEOUT_SECONDS" =~ ^[0-9]+$ ]] || die "LOCK_TIMEOUT_SECONDS=\"$LOCK_TIMEOUT_SECONDS\" must be a whole number of seconds"
[[ "$APT_LISTS_MAX_AGE_HOURS" =~ ^[0-9]+$ ]] || die "APT_LISTS_MAX_AGE_HOURS=\"$APT_LISTS_MAX_AGE_HOURS\" must be a whole number of hours"

if [[ "$DOCKER_SOURCE" == distro ]]; then
  case "$os_id" in
    debian | ubuntu) packages=(docker.io) ;;
    amzn) packages=(docker) ;;
    *) die "on $os_id the distribution has no Docker Engine package (its podman-docker/moby packages are not Docker); set DOCKER_SOURCE=docker-ce, or DOCKER_SOURCE=mirror with DOCKER_CE_MIRROR" ;;
  esac
else
  [[ "$os_id" != amzn ]] || die "Docker publishes no docker-ce packages for Amazon Linux; use DOCKER_SOURCE=distro there (Amazon's own docker package)"
  packages=(docker-ce docker-ce-cli containerd.io)
fi
engine_package="${packages[0]}"

# --- apt ---------------------------------------------------------------------------------------
# apt_get, apt_lists_are_fresh and apt_update_lists come from provision/scripts/prelude.sh.

apt_update() {
  apt_update_lists
  apt_lists_updated_this_run=1
}

ensure_apt_lists() {
  if ! apt_lists_are_fresh; then
    apt_update
  else
    log "apt package lists are less than ${APT_LISTS_MAX_AGE_HOURS}h old: not updating them"
  fi
}

apt_candidate() {
  apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" { print $2 }'
}

# Prints the newest available version of package $1 that matches DOCKER_VERSION.
apt_pinned_version() {
  local version
  while read -r version; do
    if [[ "${version#*:}" == "$DOCKER_VERSION"* ]]; then
      printf '%s\n' "$version"
      return 0
    fi
  done < <(apt-cache madison "$1" | awk -F'|' '{ gsub(/ /, "", $2); print $2 }')
  return 1
}

ensure_docker_ce_apt_repo() {
  local arch line
  arch=$(dpkg --print-architecture)
  [[ -n "$os_codename" ]] || die "$OS_RELEASE_FILE has no VERSION_CODENAME, which the docker-ce apt repository needs"
  line="deb [arch=$arch signed-by=$APT_KEYRING] $repo_base/linux/$os_id $os_codename stable"
  if [[ -f "$APT_KEYRING" && "$(cat "$APT_KEYRING")" == "$DOCKER_CE_DEB_KEY" &&
    -f "$APT_SOURCE_LIST" && "$(cat "$APT_SOURCE_LIST")" == "$line" ]]; then
    return 0
  fi
  if [[ "$repo_base" == https://* && ! -e /etc/ssl/certs/ca-certificates.crt ]]; then
    ensure_apt_lists
    log "installing ca-certificates to reach $repo_base"
    apt_get install --no-install-recommends ca-certificates
  fi
  log "adding the docker-ce apt repository $repo_base/linux/$os_id ($os_codename), trusted with Docker's key only"
  install -d -m 0755 /etc/apt/keyrings
  printf '%s\n' "$DOCKER_CE_DEB_KEY" >"$APT_KEYRING.tmp"
  chmod 0644 "$APT_KEYRING.tmp"
  mv "$APT_KEYRING.tmp" "$APT_KEYRING"
  printf '%s\n' "$line" >"$APT_SOURCE_LIST"
  changed=1
  apt_update
}

install_with_apt() {
  local install_args=() package version
  [[ "$INSTALL_RECOMMENDS" == 1 ]] || install_args+=(--no-install-recommends)
  ensure_apt_lists
  if [[ -z "$(apt_candidate "$engine_package")" || "$(apt_candidate "$engine_package")" == "(none)" ]] &&
    ((!apt_lists_updated_this_run)); then
    apt_update
  fi
  if [[ -n "$DOCKER_VERSION" ]]; then
    install_args+=(--allow-downgrades)
    for package in "${packages[@]}"; do
      if [[ "$package" == containerd.io ]]; then
        install_args+=("$package")
        continue
      fi
      if ! version=$(apt_pinned_version "$package"); then
        ((apt_lists_updated_this_run)) || apt_update
        version=$(apt_pinned_version "$package") ||
          die "no $package version starting with \"$DOCKER_VERSION\" is available; available: $(apt-cache madison "$package" | awk -F'|' '{ gsub(/ /, "", $2); printf "%s ", $2 }')"
      fi
      install_args+=("$package=$version")
    done
  else
    install_args+=("${packages[@]}")
  fi
  log "running: apt-get install ${install_args[*]}"
  if [[ "$DOCKER_START" == 0 && ! -e /usr/sbin/policy-rc.d ]]; then
    # The package would start dockerd only for the caller to restart it with its configuration.
    printf '%s' "$POLICY_RC_D" >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    apt_get install "${install_args[@]}"
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  else
    apt_get install "${install_args[@]}"
  fi
}

installed_version_apt() {
  local status
  status=$(dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null) || return 1
  [[ "$status" == "install ok installed "* ]] || return 1
  printf '%s\n' "${status#install ok installed }"
}

# --- dnf / yum ---------------------------------------------------------------------------------

# rpm_pm and rpm_package_manager come from provision/scripts/prelude.sh.

ensure_docker_ce_rpm_repo() {
  local distro_dir releasever content
  case "$os_id" in
    fedora) distro_dir=fedora releasever="\$releasever" ;;
    rhel) distro_dir=rhel releasever="${os_version%%.*}" ;;
    # Alibaba Cloud Linux 3 is built from RHEL 8 (2 from 7): its own $releasever matches no repo.
    alinux) distro_dir=centos releasever=$((${os_version%%.*} == 2 ? 7 : 8)) ;;
    *) distro_dir=centos releasever="${os_version%%.*}" ;;
  esac
  content="[docker-ce-stable]
name=Docker CE Stable - \$basearch
baseurl=$repo_base/linux/$distro_dir/$releasever/\$basearch/stable
enabled=1
gpgcheck=1
gpgkey=file://$RPM_KEY_FILE"
  if [[ -f "$YUM_REPO_FILE" && "$(cat "$YUM_REPO_FILE")" == "$content" &&
    -f "$RPM_KEY_FILE" && "$(cat "$RPM_KEY_FILE")" == "$DOCKER_CE_RPM_KEY" ]]; then
    return 0
  fi
  log "adding the docker-ce rpm repository $repo_base/linux/$distro_dir/$releasever, trusted with Docker's key only"
  install -d -m 0755 "$(dirname "$RPM_KEY_FILE")"
  printf '%s\n' "$DOCKER_CE_RPM_KEY" >"$RPM_KEY_FILE"
  printf '%s\n' "$content" >"$YUM_REPO_FILE"
  changed=1
}

# Prints the newest available version-release of package $1 that matches DOCKER_VERSION.
rpm_pinned_version() {
  local version
  while read -r version; do
    version="${version#*:}"
    if [[ "$version" == "$DOCKER_VERSION"* ]]; then
      printf '%s\n' "$version"
      return 0
    fi
  done < <("$(rpm_package_manager)" -q list --showduplicates "$1" 2>/dev/null |
    awk -v name="$1" 'index($1, name ".") == 1 { print $2 }' | sort -rV)
  return 1
}

install_with_rpm() {
  local install_args=() package version
  [[ "$INSTALL_RECOMMENDS" == 1 ]] || install_args+=(--setopt=install_weak_deps=False)
  if [[ "$os_id" == amzn ]] && command -v amazon-linux-extras >/dev/null; then
    log "enabling the docker topic of amazon-linux-extras"
    amazon-linux-extras enable docker >&2
  fi
  for package in "${packages[@]}"; do
    if [[ -n "$DOCKER_VERSION" && "$package" != containerd.io ]]; then
      version=$(rpm_pinned_version "$package") ||
        die "no $package version starting with \"$DOCKER_VERSION\" is available; list them with: $(rpm_package_manager) list --showduplicates $package"
      install_args+=("$package-$version")
    else
      install_args+=("$package")
    fi
  done
  local action=install
  # `install` leaves an installed package as it is; `upgrade` takes the newest.
  [[ "$DOCKER_UPGRADE" == 1 && -z "$DOCKER_VERSION" ]] && action=upgrade
  log "running: $(rpm_package_manager) $action ${install_args[*]}"
  rpm_pm "$action" "${install_args[@]}"
}

installed_version_rpm() {
  rpm -q --qf '%{VERSION}-%{RELEASE}\n' "$1" 2>/dev/null
}

# --- main ------------------------------------------------------------------------------------

# What this script puts in /usr/sbin/policy-rc.d during an install that must not start dockerd.
readonly POLICY_RC_D=$'#!/bin/sh\n# dockfleet install-docker: no service starts during the install\nexit 101\n'

# A run killed mid-install (its time bound, a killed `up`) never removed its policy-rc.d, which
# would keep every service on the host from starting: remove ours (or the unmarked one of older
# dockfleets), never anyone else's.
remove_stale_policy_rc_d() {
  local content
  content=$(cat /usr/sbin/policy-rc.d 2>/dev/null) || return 0
  if [[ "$content"$'\n' == "$POLICY_RC_D" || "$content" == $'#!/bin/sh\nexit 101' ]]; then
    log "removing the /usr/sbin/policy-rc.d an interrupted install left"
    rm -f /usr/sbin/policy-rc.d
  fi
}

installed_engine_version() {
  if [[ "$family" == apt ]]; then installed_version_apt "$engine_package"; else installed_version_rpm "$engine_package"; fi
}

log "OS $os_id ${os_version:-?} ($family), source $DOCKER_SOURCE${repo_base:+ ($repo_base)}, package $engine_package${DOCKER_VERSION:+ $DOCKER_VERSION*}"

# DOCKER_ACTION=remove undoes the install (dockfleet's removeOnDestroy): the engine package goes,
# images and volumes under /var/lib/docker stay, as apt's and dnf's remove leave them.
if [[ "${DOCKER_ACTION:-install}" == remove ]]; then
  if installed=$(installed_engine_version); then
    log "removing $engine_package $installed"
    systemctl stop docker.service docker.socket 2>/dev/null || true
    if [[ "$family" == apt ]]; then apt_get remove "$engine_package"; else rpm_pm remove "$engine_package"; fi
    print_result changed=1 "removed=$engine_package"
  else
    log "$engine_package is not installed: nothing to remove"
    print_result changed=0
  fi
  exit 0
fi

remove_stale_policy_rc_d
[[ "$family" != apt ]] || repair_interrupted_dpkg

if [[ -n "$repo_base" ]]; then
  if [[ "$family" == apt ]]; then ensure_docker_ce_apt_repo; else ensure_docker_ce_rpm_repo; fi
fi

upgraded=0
if [[ "$DOCKER_UPGRADE" == 1 ]]; then
  before=$(installed_engine_version || echo none)
  log "upgrading $engine_package (now $before) to the newest${DOCKER_VERSION:+ $DOCKER_VERSION*} version"
  if [[ "$family" == apt ]]; then
    ((apt_lists_updated_this_run)) || apt_update
    install_with_apt
  else
    install_with_rpm
  fi
  installed=$(installed_engine_version) || die "$engine_package is not installed after the upgrade; see the package manager's output above"
  if [[ "$installed" == "$before" ]]; then
    log "$engine_package $installed is already the newest version"
  else
    log "upgraded $engine_package from $before to $installed"
    upgraded=1
    changed=1
  fi
elif installed=$(installed_engine_version) && [[ "${installed#*:}" == "$DOCKER_VERSION"* ]]; then
  log "docker already installed: $engine_package $installed"
else
  if [[ -n "${installed:-}" ]]; then
    log "$engine_package $installed is installed but DOCKER_VERSION=$DOCKER_VERSION is wanted"
  fi
  if [[ "$family" == apt ]]; then install_with_apt; else install_with_rpm; fi
  installed=$(installed_engine_version) || die "$engine_package is still not installed after the package manager succeeded; see its output above"
  log "installed $engine_package $installed"
  changed=1
fi

if ! command -v systemctl >/dev/null || [[ ! -d /run/systemd/system ]]; then
  die "systemd is not running on this host, so the docker service cannot be enabled; dockfleet needs a systemd host"
fi
if ! systemctl is-enabled --quiet docker.service 2>/dev/null; then
  log "enabling docker.service"
  systemctl enable docker.service >&2
  changed=1
fi
if [[ "$DOCKER_START" == 1 ]] && ! systemctl is-active --quiet docker.service; then
  log "starting docker.service"
  systemctl start docker.service ||
    die "docker.service did not start; see: journalctl -u docker.service -n 50"
  changed=1
fi

dockerd_path=$(command -v dockerd) || die "dockerd is not on PATH ($PATH) although $engine_package is installed"
docker_version=$("$dockerd_path" --version | awk '{ sub(/,$/, "", $3); print $3 }')
log "docker $docker_version is installed ($dockerd_path)"
print_result "changed=$changed" "upgraded=$upgraded" "version=$docker_version" "dockerd=$dockerd_path" "source=$DOCKER_SOURCE"
