#!/usr/bin/env bash
# Installs the Docker engine and starts it: apt on Debian and Ubuntu; dnf or yum on CentOS, RHEL,
# Rocky, AlmaLinux, Fedora, Alibaba Cloud Linux and Amazon Linux. Safe to run again: when the
# wanted package is installed it installs nothing. Progress goes to stderr; the last line on
# stdout is the result:
#   DOCKFLEET_RESULT changed=0|1 version=<dockerd version> dockerd=<path> source=<source>
#
# Environment:
#   DOCKER_SOURCE            distro (default): the distribution's package (docker.io; docker on
#                            Amazon Linux) | docker-ce: https://download.docker.com | mirror: a
#                            copy of it at DOCKER_CE_MIRROR
#   DOCKER_CE_MIRROR         base URL laid out like https://download.docker.com, e.g.
#                            https://mirrors.aliyun.com/docker-ce (only with DOCKER_SOURCE=mirror)
#   DOCKER_VERSION           pin: the package version starts with this ("20.10", "24.0.7");
#                            empty (default) takes the newest and accepts any installed one
#   INSTALL_RECOMMENDS       1 also installs recommended/weak dependencies (default 0: about half
#                            the install time)
#   LOCK_TIMEOUT_SECONDS     how long to wait while another process (cloud-init,
#                            unattended-upgrades) holds the package manager's lock (default 600)
#   APT_LISTS_MAX_AGE_HOURS  apt lists updated less than this long ago are used as they are
#                            (default 6)
#   OS_RELEASE_FILE          where the OS is read from (default /etc/os-release)
#   DOCKER_START             0 installs and enables docker without starting it, for a caller that
#                            writes daemon.json next and starts it once, with that (default 1)
set -euo pipefail

DOCKER_SOURCE="${DOCKER_SOURCE:-distro}"
DOCKER_CE_MIRROR="${DOCKER_CE_MIRROR:-}"
DOCKER_VERSION="${DOCKER_VERSION:-}"
INSTALL_RECOMMENDS="${INSTALL_RECOMMENDS:-0}"
LOCK_TIMEOUT_SECONDS="${LOCK_TIMEOUT_SECONDS:-600}"
APT_LISTS_MAX_AGE_HOURS="${APT_LISTS_MAX_AGE_HOURS:-6}"
OS_RELEASE_FILE="${OS_RELEASE_FILE:-/etc/os-release}"
DOCKER_START="${DOCKER_START:-1}"

readonly DOCKER_CE_OFFICIAL="https://download.docker.com"
readonly APT_KEYRING=/etc/apt/keyrings/docker.asc
readonly APT_SOURCE_LIST=/etc/apt/sources.list.d/docker.list
readonly YUM_REPO_FILE=/etc/yum.repos.d/docker-ce.repo
readonly APT_UPDATE_STAMP=/var/lib/dockfleet/apt-lists-updated

changed=0
apt_lists_updated_this_run=0

log() { printf 'install-docker: %s\n' "$*" >&2; }
die() {
  printf 'install-docker: error: %s\n' "$*" >&2
  exit 1
}

# --- what to install -------------------------------------------------------------------------

[[ -r "$OS_RELEASE_FILE" ]] || die "cannot read $OS_RELEASE_FILE to tell the OS; this script needs a systemd-era Linux"
# shellcheck disable=SC1090 # the OS description is a shell fragment by definition
. "$OS_RELEASE_FILE"
os_id="${ID:-}"
os_version="${VERSION_ID:-}"
os_codename="${VERSION_CODENAME:-${UBUNTU_CODENAME:-}}"

case "$os_id" in
  debian | ubuntu) family=apt ;;
  centos | rhel | rocky | almalinux | fedora | alinux | amzn) family=rpm ;;
  *) die "OS ID=\"$os_id\" from $OS_RELEASE_FILE is not supported; supported: debian, ubuntu, centos, rhel, rocky, almalinux, fedora, alinux, amzn" ;;
esac

case "$DOCKER_SOURCE" in
  distro) repo_base="" ;;
  docker-ce) repo_base="$DOCKER_CE_OFFICIAL" ;;
  mirror)
    [[ -n "$DOCKER_CE_MIRROR" ]] || die "DOCKER_SOURCE=mirror needs DOCKER_CE_MIRROR, the base URL of a download.docker.com copy (e.g. https://mirrors.aliyun.com/docker-ce)"
    [[ "$DOCKER_CE_MIRROR" =~ ^https?://[^[:space:]]+$ ]] || die "DOCKER_CE_MIRROR=\"$DOCKER_CE_MIRROR\" is not an http(s) URL; give the base URL, e.g. https://mirrors.aliyun.com/docker-ce"
    repo_base="${DOCKER_CE_MIRROR%/}"
    ;;
  *) die "DOCKER_SOURCE=\"$DOCKER_SOURCE\" is not one of: distro, docker-ce, mirror" ;;
esac
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

# --- waiting for other package managers ------------------------------------------------------

# Prints the PID holding a POSIX (fcntl) lock on $1, as dpkg and rpm take them; fails when free.
# Reads /proc/locks, so it needs neither fuser nor lsof on a minimal image.
posix_lock_holder() {
  local path=$1 dev inode major minor
  [[ -e "$path" ]] || return 1
  read -r dev inode < <(stat -L -c '%d %i' "$path")
  major=$(((dev >> 8) & 0xfff))
  minor=$(((dev & 0xff) | ((dev >> 12) & 0xfff00)))
  # Lines look like "3: POSIX  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; waiters have "->" first.
  awk -v want="$(printf '%02x:%02x:%s' "$major" "$minor" "$inode")" '
    { off = ($2 == "->") ? 1 : 0 }
    $(2 + off) == "POSIX" && $(6 + off) == want { print $(5 + off); found = 1; exit }
    END { exit !found }' /proc/locks
}

# Prints the PID in a dnf/yum pid-lock file when that process still runs; fails otherwise.
pid_file_holder() {
  local pid
  [[ -r "$1" ]] || return 1
  pid=$(tr -dc '0-9' <"$1")
  [[ -n "$pid" && "$pid" != "$$" && -d "/proc/$pid" ]] || return 1
  printf '%s\n' "$pid"
}

describe_pid() {
  local comm
  comm=$(cat "/proc/$1/comm" 2>/dev/null) || comm="?"
  printf '%s (pid %s)' "$comm" "$1"
}

# Waits, at most LOCK_TIMEOUT_SECONDS and saying so every 10 s, until no lock in the given list
# is held. Arguments are "posix:<path>" or "pidfile:<path>".
wait_for_package_locks() {
  local deadline=$((SECONDS + LOCK_TIMEOUT_SECONDS)) next_message=$SECONDS spec holder busy
  while true; do
    busy=""
    for spec in "$@"; do
      case "$spec" in
        posix:*) holder=$(posix_lock_holder "${spec#posix:}") || continue ;;
        pidfile:*) holder=$(pid_file_holder "${spec#pidfile:}") || continue ;;
      esac
      busy="${spec#*:} held by $(describe_pid "$holder")"
      break
    done
    [[ -n "$busy" ]] || return 0
    if ((SECONDS >= deadline)); then
      die "gave up after ${LOCK_TIMEOUT_SECONDS}s waiting for $busy; let it finish (cloud-init, unattended-upgrades) and run again, or raise LOCK_TIMEOUT_SECONDS"
    fi
    if ((SECONDS >= next_message)); then
      log "waiting for $busy ($((deadline - SECONDS))s left)"
      next_message=$((SECONDS + 10))
    fi
    sleep 1
  done
}

# --- apt ---------------------------------------------------------------------------------------

apt_get() {
  wait_for_package_locks posix:/var/lib/dpkg/lock-frontend posix:/var/lib/dpkg/lock \
    posix:/var/lib/apt/lists/lock posix:/var/cache/apt/archives/lock
  # The lock timeout covers a lock taken between our check and apt's own attempt.
  DEBIAN_FRONTEND=noninteractive apt-get -q -y \
    -o "DPkg::Lock::Timeout=$LOCK_TIMEOUT_SECONDS" \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >&2
}

apt_lists_are_fresh() {
  local max_age_minutes=$((APT_LISTS_MAX_AGE_HOURS * 60)) stamp
  compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null || return 1
  for stamp in "$APT_UPDATE_STAMP" /var/lib/apt/periodic/update-success-stamp /var/lib/apt/lists; do
    [[ -e "$stamp" && -n "$(find "$stamp" -maxdepth 0 -mmin "-$max_age_minutes" 2>/dev/null)" ]] && return 0
  done
  return 1
}

apt_update() {
  log "updating apt package lists"
  apt_get update
  mkdir -p "$(dirname "$APT_UPDATE_STAMP")"
  touch "$APT_UPDATE_STAMP"
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
  if [[ -s "$APT_KEYRING" && -f "$APT_SOURCE_LIST" && "$(cat "$APT_SOURCE_LIST")" == "$line" ]]; then
    return 0
  fi
  if ! command -v curl >/dev/null || [[ ! -e /etc/ssl/certs/ca-certificates.crt ]]; then
    ensure_apt_lists
    log "installing curl and ca-certificates to fetch the repository key"
    apt_get install --no-install-recommends curl ca-certificates
  fi
  log "adding the docker-ce apt repository $repo_base/linux/$os_id ($os_codename)"
  install -d -m 0755 /etc/apt/keyrings
  if ! curl -fsSL --retry 3 "$repo_base/linux/$os_id/gpg" -o "$APT_KEYRING.tmp"; then
    rm -f "$APT_KEYRING.tmp"
    die "could not download $repo_base/linux/$os_id/gpg; check DOCKER_CE_MIRROR and the host's network"
  fi
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
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
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

rpm_package_manager() {
  if command -v dnf >/dev/null; then echo dnf; else echo yum; fi
}

rpm_pm() {
  local pid_locks=(pidfile:/var/run/yum.pid pidfile:/var/lib/dnf/rpmdb_lock.pid
    pidfile:/var/cache/dnf/metadata_lock.pid pidfile:/var/cache/dnf/download_lock.pid)
  wait_for_package_locks "${pid_locks[@]}" posix:/var/lib/rpm/.rpm.lock
  "$(rpm_package_manager)" -y "$@" >&2
}

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
gpgkey=$repo_base/linux/$distro_dir/gpg"
  if [[ -f "$YUM_REPO_FILE" && "$(cat "$YUM_REPO_FILE")" == "$content" ]]; then
    return 0
  fi
  log "adding the docker-ce rpm repository $repo_base/linux/$distro_dir/$releasever"
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
  log "running: $(rpm_package_manager) install ${install_args[*]}"
  rpm_pm install "${install_args[@]}"
}

installed_version_rpm() {
  rpm -q --qf '%{VERSION}-%{RELEASE}\n' "$1" 2>/dev/null
}

# --- main ------------------------------------------------------------------------------------

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
    printf 'DOCKFLEET_RESULT changed=1 removed=%s\n' "$engine_package"
  else
    log "$engine_package is not installed: nothing to remove"
    printf 'DOCKFLEET_RESULT changed=0\n'
  fi
  exit 0
fi

if [[ -n "$repo_base" ]]; then
  if [[ "$family" == apt ]]; then ensure_docker_ce_apt_repo; else ensure_docker_ce_rpm_repo; fi
fi

if installed=$(installed_engine_version) && [[ "${installed#*:}" == "$DOCKER_VERSION"* ]]; then
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
printf 'DOCKFLEET_RESULT changed=%s version=%s dockerd=%s source=%s\n' \
  "$changed" "$docker_version" "$dockerd_path" "$DOCKER_SOURCE"
