#!/usr/bin/env bash
# Sourceable: builds (once) the images of the sample apps from Debian packages, since no registry
# is reachable here: a base from debootstrap --variant=minbase, and one `docker build` per app on
# top of it (provision/images/apps/<app>/Dockerfile), so that the apps share the base layer.
#
#   source bin/lib/docker.sh && ensure_docker
#   source bin/lib/app-images.sh && ensure_app_images     # prints app=tag lines on stdout
#
# Tags are dockfleet/apps-<app>:<content hash>; the hash covers this script, host-image.sh (whose
# mirror and list functions are reused), the base's files and the app's folder, so a change builds
# a new image and an unchanged checkout finds the old one at once. Each built image is also saved
# under $DOCKFLEET_CACHE_DIR/app-images/ and loaded from there when the engine lacks it (a fresh
# engine on the same machine does not build again). `latest` tags follow the newest build.
#
# Environment (besides host-image.sh's DOCKFLEET_DEBIAN_* and DOCKFLEET_CACHE_DIR):
#   DOCKER_CLI            docker client (default: docker; ensure_docker sets it)
#   DOCKFLEET_APPS        apps to build, space-separated (default: counter redis wordpress mariadb)
#   DOCKFLEET_WORK_DIR    where the base root file system is unpacked (default /var/tmp)

# shellcheck source=bin/lib/host-image.sh
source "$(dirname "${BASH_SOURCE[0]}")/host-image.sh"

APP_IMAGE_REPOSITORY_PREFIX="dockfleet/apps-"
APP_IMAGE_NAMES="counter redis wordpress mariadb"
# Bump when a build step below changes in a way its inputs do not show.
APP_IMAGE_FORMAT=1

app_images_log() {
  printf '[app-images] %s\n' "$*" >&2
}

app_images_dir() {
  local lib_dir
  lib_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  printf '%s\n' "${lib_dir%/bin/lib}/provision/images/apps"
}

app_images_script_hash() {
  local lib_dir
  lib_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  cat "$lib_dir/app-images.sh" "$lib_dir/host-image.sh" | sha256sum | cut -d' ' -f1
}

app_images_cache_dir() {
  printf '%s/app-images\n' "$(host_image_cache_dir)"
}

# Inputs of the debootstrap step alone.
app_base_bootstrap_hash() {
  {
    printf 'apps format %s\nsuite %s\nmirror %s\n' \
      "$APP_IMAGE_FORMAT" "$(host_image_suite)" "$(host_image_mirror)"
    read_list_file "$(app_images_dir)/base/packages"
  } | sha256sum | cut -c1-16
}

app_base_image_hash() {
  {
    printf 'format %s\nsuite %s\nmirror %s\nsecurity %s\nscripts %s\n' "$APP_IMAGE_FORMAT" \
      "$(host_image_suite)" "$(host_image_mirror)" "$(host_image_security_mirror)" \
      "$(app_images_script_hash)"
    hash_image_folder "$(app_images_dir)/base"
  } | sha256sum | cut -c1-16
}

app_base_image_tag() {
  printf '%sbase:%s\n' "$APP_IMAGE_REPOSITORY_PREFIX" "$(app_base_image_hash)"
}

app_image_hash() {
  local app="$1"
  {
    printf 'base %s\n' "$(app_base_image_hash)"
    hash_image_folder "$(app_images_dir)/$app"
  } | sha256sum | cut -c1-16
}

# Prints the tag an app's image has (or will have once built), without building anything.
app_image_tag() {
  printf '%s%s:%s\n' "$APP_IMAGE_REPOSITORY_PREFIX" "$1" "$(app_image_hash "$1")"
}

app_image_size() {
  "${DOCKER_CLI:-docker}" image inspect --format '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1 / 1e6}'
}

# Succeeds when the engine has the image, loading it from the cache directory if needed.
app_image_present_or_loaded() {
  local tag="$1" tarball
  local docker_cli="${DOCKER_CLI:-docker}"
  "$docker_cli" image inspect "$tag" >/dev/null 2>&1 && return 0
  tarball="$(app_images_cache_dir)/$(printf '%s' "$tag" | tr '/:' '--').tar"
  [[ -s "$tarball" ]] || return 1
  app_images_log "loading $tag from $tarball"
  "$docker_cli" load --input "$tarball" >/dev/null
}

app_image_save_to_cache() {
  local tag="$1" cache_dir tarball
  cache_dir="$(app_images_cache_dir)"
  mkdir -p "$cache_dir"
  tarball="$cache_dir/$(printf '%s' "$tag" | tr '/:' '--').tar"
  "${DOCKER_CLI:-docker}" save --output "$tarball.partial" "$tag"
  mv "$tarball.partial" "$tarball"
  app_images_log "saved $tag to $tarball"
}

# Prints the path of a tarball holding the minbase root file system, bootstrapping it if missing.
ensure_app_base_rootfs_tarball() {
  local tarball bootstrap_dir packages started
  tarball="$(app_images_cache_dir)/base-rootfs-$(host_image_suite)-$(app_base_bootstrap_hash).tar"
  if [[ -s "$tarball" ]]; then
    app_images_log "reusing the debootstrap result $tarball"
    printf '%s\n' "$tarball"
    return 0
  fi
  packages="$(read_list_file "$(app_images_dir)/base/packages" | paste -sd, -)"
  local -a include=()
  [[ -z "$packages" ]] || include=("--include=$packages")
  bootstrap_dir="$(mktemp -d "${DOCKFLEET_WORK_DIR:-/var/tmp}/dockfleet-apps-bootstrap.XXXXXX")"
  chmod 755 "$bootstrap_dir"
  app_images_log "debootstrap --variant=minbase $(host_image_suite) from $(host_image_mirror) (about a minute)"
  started=$SECONDS
  if ! debootstrap --variant=minbase --components=main "${include[@]}" \
    "$(host_image_suite)" "$bootstrap_dir" "$(host_image_mirror)" >"$bootstrap_dir.log" 2>&1; then
    app_images_log "debootstrap failed; last lines of $bootstrap_dir.log:"
    tail -n 20 "$bootstrap_dir.log" >&2
    rm -rf "$bootstrap_dir"
    return 1
  fi
  app_images_log "debootstrap took $((SECONDS - started))s; caching it as $tarball"
  mkdir -p "$(dirname "$tarball")"
  tar -C "$bootstrap_dir" --numeric-owner -cf "$tarball.partial" .
  mv "$tarball.partial" "$tarball"
  rm -rf "$bootstrap_dir" "$bootstrap_dir.log"
  printf '%s\n' "$tarball"
}

# Prints the tag of the base image, importing it when the engine lacks it.
ensure_app_base_image() (
  set -euo pipefail
  umask 022
  local tag tarball rootfs
  tag="$(app_base_image_tag)"
  if app_image_present_or_loaded "$tag"; then
    printf '%s\n' "$tag"
    return 0
  fi
  tarball="$(ensure_app_base_rootfs_tarball)"
  rootfs="$(mktemp -d "${DOCKFLEET_WORK_DIR:-/var/tmp}/dockfleet-apps-rootfs.XXXXXX")"
  trap 'rm -rf "$rootfs"' EXIT
  tar -C "$rootfs" --numeric-owner -xpf "$tarball"
  chmod 755 "$rootfs"
  app_images_log "adding files from $(app_images_dir)/base/rootfs, dropping docs, translations and downloaded packages"
  cp -R "$(app_images_dir)/base/rootfs/." "$rootfs/"
  rm -f "$rootfs/etc/apt/sources.list"
  render_host_apt_sources >"$rootfs/etc/apt/sources.list.d/debian.sources"
  # What debootstrap installed before the dpkg excludes existed.
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/apt/* "$rootfs"/var/cache/debconf/*-old \
    "$rootfs"/tmp/*
  : >"$rootfs/etc/resolv.conf"
  app_images_log "importing the base as $tag"
  tar -C "$rootfs" --numeric-owner -c . |
    "${DOCKER_CLI:-docker}" import \
      --change 'CMD ["/bin/bash"]' \
      --change 'LABEL dockfleet.io/component=app-image' \
      - "$tag" >/dev/null
  app_image_save_to_cache "$tag"
  app_images_log "base $tag: $(app_image_size "$tag")"
  printf '%s\n' "$tag"
)

# Prints the tag of one app's image, building it (and the base) when missing.
ensure_app_image() (
  set -euo pipefail
  local app="$1" tag base started log_file
  [[ -f "$(app_images_dir)/$app/Dockerfile" ]] || {
    app_images_log "unknown app image \"$app\": expected $(app_images_dir)/$app/Dockerfile (apps: $APP_IMAGE_NAMES)"
    return 1
  }
  tag="$(app_image_tag "$app")"
  if app_image_present_or_loaded "$tag"; then
    "${DOCKER_CLI:-docker}" tag "$tag" "$APP_IMAGE_REPOSITORY_PREFIX$app:latest"
    app_images_log "$tag present ($(app_image_size "$tag"))"
    printf '%s\n' "$tag"
    return 0
  fi
  base="$(ensure_app_base_image)"
  app_images_log "building $tag on $base"
  started=$SECONDS
  # The classic builder: BuildKit would look the local base up in a registry.
  log_file="$(mktemp "${DOCKFLEET_WORK_DIR:-/var/tmp}/dockfleet-apps-build-$app.XXXXXX")"
  if ! DOCKER_BUILDKIT=0 "${DOCKER_CLI:-docker}" build --force-rm \
    --build-arg "BASE_IMAGE=$base" \
    --label dockfleet.io/component=app-image \
    --label "dockfleet.io/content-hash=${tag##*:}" \
    --tag "$tag" --tag "$APP_IMAGE_REPOSITORY_PREFIX$app:latest" \
    "$(app_images_dir)/$app" >"$log_file" 2>&1; then
    app_images_log "docker build of $app failed; last lines of $log_file:"
    tail -n 25 "$log_file" >&2
    return 1
  fi
  rm -f "$log_file"
  app_images_log "built $tag in $((SECONDS - started))s ($(app_image_size "$tag"))"
  app_image_save_to_cache "$tag"
  # One cached tarball per app: older builds of it only take space.
  find "$(app_images_cache_dir)" -maxdepth 1 -name "dockfleet-apps-$app-*.tar" \
    -not -name "$(printf '%s' "$tag" | tr '/:' '--').tar" -delete
  printf '%s\n' "$tag"
)

# Prints app=tag for every app in DOCKFLEET_APPS, building what is missing. Builds run one after
# another under a lock (two callers wait for each other instead of building twice).
ensure_app_images() (
  set -euo pipefail
  local app tag lock_dir
  lock_dir="$(host_image_cache_dir)"
  mkdir -p "$lock_dir"
  exec 9>"$lock_dir/app-images.lock"
  app_images_log "waiting for the build lock $lock_dir/app-images.lock"
  flock 9
  for app in ${DOCKFLEET_APPS:-$APP_IMAGE_NAMES}; do
    tag="$(ensure_app_image "$app")"
    printf '%s=%s\n' "$app" "$tag"
  done
)
