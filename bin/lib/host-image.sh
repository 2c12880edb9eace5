#!/usr/bin/env bash
# Sourceable: builds (once) the image that local host containers boot: Debian + systemd + sshd.
#
#   source bin/lib/docker.sh && ensure_docker
#   source bin/lib/host-image.sh && tag="$(ensure_host_image | tail -n 1)"
#   docker_tag="$(ensure_host_image docker | tail -n 1)"
#
# Variants: base (default), dockfleet/host:<content hash>, where DockerEngine installs Docker
# over SSH; docker, dockfleet/host-docker:<content hash>, the same with the packages listed in
# provision/images/host-docker/packages (Debian's docker.io) installed when the image is built,
# so DockerEngine finds them and only configures Docker (the local driver's `image: docker`).
# The hash covers this script, the package list, the masked units and every file under
# provision/images/host/ (and host-docker/ for that variant), plus the suite and mirrors, so a
# change to any of them builds a new image and an unchanged checkout finds the old one at once.
# `host_image_tag [variant]` prints the tag without building anything.
#
# Environment:
#   DOCKER_CLI                        docker client (default: docker; ensure_docker sets it)
#   DOCKFLEET_DEBIAN_SUITE            default bookworm
#   DOCKFLEET_DEBIAN_MIRROR           default: this machine's mirror from
#                                     /etc/apt/sources.list.d/debian.sources, else deb.debian.org
#   DOCKFLEET_DEBIAN_SECURITY_MIRROR  same, for the -security suite
#   DOCKFLEET_CACHE_DIR               default ${XDG_CACHE_HOME:-$HOME/.cache}/dockfleet: holds the
#                                     debootstrap result so a fresh clone or a changed overlay
#                                     does not bootstrap again
#   DOCKFLEET_WORK_DIR                where root file systems are unpacked (default /var/tmp)

HOST_IMAGE_REPOSITORY="dockfleet/host"
DOCKER_HOST_IMAGE_REPOSITORY="dockfleet/host-docker"
# Bump when the debootstrap step below changes in a way its inputs do not show.
HOST_IMAGE_BOOTSTRAP_FORMAT=1

host_image_log() {
  printf '[host-image] %s\n' "$*" >&2
}

host_image_dir() {
  local lib_dir
  lib_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  printf '%s\n' "${lib_dir%/bin/lib}/provision/images/host"
}

docker_host_image_dir() {
  printf '%s-docker\n' "$(host_image_dir)"
}

# Fails on a variant other than base or docker; prints the image repository of the variant.
host_image_repository() {
  case "${1:-base}" in
    base) printf '%s\n' "$HOST_IMAGE_REPOSITORY" ;;
    docker) printf '%s\n' "$DOCKER_HOST_IMAGE_REPOSITORY" ;;
    *)
      host_image_log "unknown host image variant \"$1\": base or docker"
      return 1
      ;;
  esac
}

host_image_script_path() {
  printf '%s/%s\n' "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)" "$(basename "${BASH_SOURCE[0]}")"
}

host_image_cache_dir() {
  printf '%s\n' "${DOCKFLEET_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dockfleet}"
}

# Prints the URIs of this machine's deb822 stanza that serves suites matching $1 (an awk regex),
# or nothing.
machine_debian_mirror() {
  local suite_pattern="$1"
  local sources=/etc/apt/sources.list.d/debian.sources
  [[ -r "$sources" ]] || return 0
  awk -v pattern="$suite_pattern" '
    /^$/ { if (uris != "" && suites ~ pattern) { found = uris; exit } uris = ""; suites = "" }
    /^URIs:/ { uris = $2 }
    /^Suites:/ { suites = $0 }
    END { if (found == "" && uris != "" && suites ~ pattern) found = uris; if (found != "") print found }
  ' "$sources"
}

host_image_suite() {
  printf '%s\n' "${DOCKFLEET_DEBIAN_SUITE:-bookworm}"
}

host_image_mirror() {
  local mirror="${DOCKFLEET_DEBIAN_MIRROR:-}"
  [[ -n "$mirror" ]] || mirror="$(machine_debian_mirror "Suites: $(host_image_suite)( |$)")"
  printf '%s\n' "${mirror:-http://deb.debian.org/debian}"
}

host_image_security_mirror() {
  local mirror="${DOCKFLEET_DEBIAN_SECURITY_MIRROR:-}"
  [[ -n "$mirror" ]] || mirror="$(machine_debian_mirror "-security")"
  printf '%s\n' "${mirror:-http://deb.debian.org/debian-security}"
}

# Prints the non-comment lines of a list file, one item a line.
read_list_file() {
  sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$1"
}

# Inputs of the debootstrap step alone: a changed overlay reuses the cached bootstrap.
host_image_bootstrap_hash() {
  {
    printf 'format %s\nsuite %s\nmirror %s\n' \
      "$HOST_IMAGE_BOOTSTRAP_FORMAT" "$(host_image_suite)" "$(host_image_mirror)"
    read_list_file "$(host_image_dir)/packages"
  } | sha256sum | cut -c1-16
}

# Paths relative to folder $1, in a fixed order, with content and executable bit (not the full
# mode: a checkout's modes follow the umask of whoever cloned it).
hash_image_folder() {
  local image_dir=$1 file
  while IFS= read -r file; do
    if [[ -x "$image_dir/$file" ]]; then printf '%s x ' "$file"; else printf '%s - ' "$file"; fi
    sha256sum <"$image_dir/$file"
  done < <(cd "$image_dir" && find . \( -type f -o -type l \) -print | LC_ALL=C sort)
}

# Usage: host_image_content_hash [base|docker]
host_image_content_hash() {
  {
    printf 'suite %s\nmirror %s\nsecurity %s\n' \
      "$(host_image_suite)" "$(host_image_mirror)" "$(host_image_security_mirror)"
    sha256sum <"$(host_image_script_path)"
    hash_image_folder "$(host_image_dir)"
    if [[ "${1:-base}" == docker ]]; then
      printf 'variant docker\n'
      hash_image_folder "$(docker_host_image_dir)"
    fi
  } | sha256sum | cut -c1-16
}

# Usage: host_image_tag [base|docker]
host_image_tag() {
  local repository
  repository="$(host_image_repository "${1:-base}")" || return 1
  printf '%s:%s\n' "$repository" "$(host_image_content_hash "${1:-base}")"
}

# Prints the path of a tarball holding the debootstrap result, bootstrapping it when missing.
ensure_host_rootfs_tarball() {
  local cache_dir tarball bootstrap_dir packages started
  cache_dir="$(host_image_cache_dir)"
  tarball="$cache_dir/host-rootfs-$(host_image_suite)-$(host_image_bootstrap_hash).tar"
  if [[ -s "$tarball" ]]; then
    host_image_log "reusing the debootstrap result $tarball"
    printf '%s\n' "$tarball"
    return 0
  fi
  if ! command -v debootstrap >/dev/null 2>&1; then
    host_image_log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >&2 ||
      { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >&2; }
  fi
  packages="$(read_list_file "$(host_image_dir)/packages" | paste -sd, -)"
  bootstrap_dir="$(mktemp -d "${DOCKFLEET_WORK_DIR:-/var/tmp}/dockfleet-bootstrap.XXXXXX")"
  chmod 755 "$bootstrap_dir"
  host_image_log "debootstrap --variant=minbase $(host_image_suite) from $(host_image_mirror) into $bootstrap_dir (about a minute)"
  started=$SECONDS
  if ! debootstrap --variant=minbase --components=main --include="$packages" \
    "$(host_image_suite)" "$bootstrap_dir" "$(host_image_mirror)" >"$bootstrap_dir.log" 2>&1; then
    host_image_log "debootstrap failed; last lines of $bootstrap_dir.log:"
    tail -n 20 "$bootstrap_dir.log" >&2
    rm -rf "$bootstrap_dir"
    return 1
  fi
  host_image_log "debootstrap took $((SECONDS - started))s; caching it as $tarball"
  mkdir -p "$cache_dir"
  tar -C "$bootstrap_dir" --numeric-owner -cf "$tarball.partial" .
  mv "$tarball.partial" "$tarball"
  rm -rf "$bootstrap_dir" "$bootstrap_dir.log"
  printf '%s\n' "$tarball"
}

# Writes the deb822 sources the host containers use: the same mirrors as the image was built from.
render_host_apt_sources() {
  local suite mirror security_mirror
  suite="$(host_image_suite)"
  mirror="$(host_image_mirror)"
  security_mirror="$(host_image_security_mirror)"
  cat <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security_mirror
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
}

# The docker variant: the engine packages installed from the same mirror, none of their services
# started (policy-rc.d) or enabled. Disabled, dockerd's first start is the one DockerEngine makes
# with its daemon.json and TLS in place (install-docker.sh enables docker.service), as on the
# install path; enabled, every host would start dockerd with the defaults at boot only to have
# it restarted seconds later.
install_engine_into_rootfs() {
  local rootfs="$1" packages
  packages="$(read_list_file "$(docker_host_image_dir)/packages" | paste -sd' ' -)"
  host_image_log "installing $packages into the image (no recommends, services disabled)"
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
  # shellcheck disable=SC2086 # one word per package
  chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends $packages >&2
  chroot "$rootfs" systemctl disable docker.service docker.socket containerd.service >&2
  rm -f "$rootfs/usr/sbin/policy-rc.d"
}

# Turns a bootstrapped root file system into a host: overlay files, no baked identity
# (host keys, machine-id), masked units, fresh apt lists; with variant docker, the engine too.
# Usage: customize_host_rootfs ROOTFS [base|docker]
customize_host_rootfs() {
  local rootfs="$1" variant="${2:-base}" image_dir unit
  image_dir="$(host_image_dir)"

  host_image_log "adding files from $image_dir/rootfs"
  # Modes come from the checkout masked by ensure_host_image's umask 022: root-owned, not
  # group-writable, executables stay executable.
  cp -R "$image_dir/rootfs/." "$rootfs/"

  host_image_log "removing baked identity: SSH host keys, machine-id"
  rm -f "$rootfs"/etc/ssh/ssh_host_*
  : >"$rootfs/etc/machine-id"
  rm -f "$rootfs/var/lib/dbus/machine-id"
  ln -s /etc/machine-id "$rootfs/var/lib/dbus/machine-id"
  printf 'dockfleet-host\n' >"$rootfs/etc/hostname"

  host_image_log "masking units that have no place in a container"
  while IFS= read -r unit; do
    ln -sfn /dev/null "$rootfs/etc/systemd/system/$unit"
  done < <(read_list_file "$image_dir/masked-units")
  ln -sfn /lib/systemd/system/multi-user.target "$rootfs/etc/systemd/system/default.target"

  host_image_log "writing apt sources ($(host_image_mirror)) and fetching package lists"
  rm -f "$rootfs/etc/apt/sources.list"
  render_host_apt_sources >"$rootfs/etc/apt/sources.list.d/debian.sources"
  # apt inside the chroot resolves the mirror with the machine's resolver.
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  # debootstrap leaves its uncompressed lists behind; fetch compressed ones (apt.conf.d above).
  rm -rf "$rootfs"/var/lib/apt/lists/*
  chroot "$rootfs" apt-get update -qq >&2
  if [[ "$variant" == docker ]]; then install_engine_into_rootfs "$rootfs"; fi
  chroot "$rootfs" apt-get clean
  # apt's binary package cache, which clean removed: otherwise each host's first apt run builds
  # it from the compressed lists (0.6 CPU-s; srcpkgcache.bin, never used, is off in apt.conf.d).
  chroot "$rootfs" apt-cache gencaches >/dev/null
  # Docker mounts its own resolv.conf over this one in every container.
  : >"$rootfs/etc/resolv.conf"
  rm -rf "$rootfs"/var/log/apt/* "$rootfs"/var/cache/debconf/*-old "$rootfs"/tmp/*
}

# Docker 20.10's import refuses STOPSIGNAL, so the run arguments carry --stop-signal=SIGRTMIN+3
# (systemd's signal for a clean shutdown) instead of the image.
# Prints (last line of stdout) the tag of the host image, building it when the engine lacks it.
# Runs in a subshell so its traps and shell options do not leak into the caller.
# Usage: ensure_host_image [base|docker]
ensure_host_image() (
  set -euo pipefail
  umask 022
  local variant="${1:-base}" docker_cli tag hash cache_dir tarball rootfs started
  docker_cli="${DOCKER_CLI:-docker}"
  tag="$(host_image_tag "$variant")"
  hash="${tag##*:}"
  if "$docker_cli" image inspect "$tag" >/dev/null 2>&1; then
    host_image_log "image $tag present"
    printf '%s\n' "$tag"
    return 0
  fi

  # Two builds at once (parallel tests, setup and CI) wait for each other instead of racing.
  cache_dir="$(host_image_cache_dir)"
  mkdir -p "$cache_dir"
  exec 9>"$cache_dir/host-image.lock"
  host_image_log "image $tag missing: building it (waiting for the build lock $cache_dir/host-image.lock)"
  flock 9
  if "$docker_cli" image inspect "$tag" >/dev/null 2>&1; then
    host_image_log "image $tag was built meanwhile"
    printf '%s\n' "$tag"
    return 0
  fi

  started=$SECONDS
  tarball="$(ensure_host_rootfs_tarball)"
  rootfs="$(mktemp -d "${DOCKFLEET_WORK_DIR:-/var/tmp}/dockfleet-host-rootfs.XXXXXX")"
  trap 'rm -rf "$rootfs"' EXIT
  tar -C "$rootfs" --numeric-owner -xpf "$tarball"
  # mktemp's 0700 would become the mode of / in every container (and keeps apt's _apt user out).
  chmod 755 "$rootfs"
  customize_host_rootfs "$rootfs" "$variant"

  host_image_log "importing $rootfs as $tag"
  tar -C "$rootfs" --numeric-owner -c . |
    "$docker_cli" import \
      --change 'CMD ["/sbin/init"]' \
      --change 'ENV container=docker' \
      --change 'LABEL dockfleet.io/component=host-image' \
      --change "LABEL dockfleet.io/content-hash=$hash" \
      - "$tag" >/dev/null
  host_image_log "built $tag in $((SECONDS - started))s ($("$docker_cli" image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1 / 1e6}'))"
  printf '%s\n' "$tag"
)
