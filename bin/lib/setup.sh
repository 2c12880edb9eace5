#!/usr/bin/env bash
# Sourceable: run_setup installs what dockfleet needs, nothing twice, and exports what the other
# commands use: PATH with the Pulumi CLI, DOCKER_CLI, DOCKFLEET_HOST_IMAGE (and, with
# ensure_docker_host_image, DOCKFLEET_DOCKER_HOST_IMAGE).
# shellcheck source=bin/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=bin/lib/docker.sh
source "$DOCKFLEET_ROOT/bin/lib/docker.sh"
# shellcheck source=bin/lib/pulumi.sh
source "$DOCKFLEET_ROOT/bin/lib/pulumi.sh"
# shellcheck source=bin/lib/host-image.sh
source "$DOCKFLEET_ROOT/bin/lib/host-image.sh"
# shellcheck source=bin/lib/vm-image.sh
source "$DOCKFLEET_ROOT/bin/lib/vm-image.sh"
# shellcheck source=bin/lib/app-images.sh
source "$DOCKFLEET_ROOT/bin/lib/app-images.sh"

run_setup() {
  local started=$SECONDS
  step "checking Debian packages"
  # etcd-client: etcdctl, to use the environment's etcd cluster from here (and the tests do).
  ensure_apt_packages debootstrap openssh-client openssh-server shellcheck busybox-static \
    skopeo docker-registry apache2-utils etcd-client tinyproxy-bin
  step "checking npm packages"
  ensure_node_modules
  step "checking the Pulumi CLI"
  ensure_pulumi
  step "checking the Docker engine"
  ensure_docker
  ensure_host_container_limits
  step "checking the local host image"
  DOCKFLEET_HOST_IMAGE="$(ensure_host_image | tail -n 1)"
  export DOCKFLEET_HOST_IMAGE
  step "checking the sample apps' images and Prometheus's (the Monitoring component)"
  DOCKFLEET_APPS="${DOCKFLEET_APPS:-$APP_IMAGE_NAMES prometheus}" ensure_app_images >/dev/null
  step "set-up done in $((SECONDS - started)) s (pulumi $(pulumi version), host image $DOCKFLEET_HOST_IMAGE)"
}

# Headless Chromium (Debian's chromium), for the monitoring test's screenshot of Prometheus's UI:
# installed on demand only, since it is large.
ensure_chromium() {
  command -v chromium >/dev/null || ensure_apt_packages chromium
}

# The local driver's `image: docker` (Docker preinstalled), for the stacks that ask for it: built
# once, about a minute; exports DOCKFLEET_DOCKER_HOST_IMAGE.
ensure_docker_host_image() {
  step "checking the local host image with Docker preinstalled"
  DOCKFLEET_DOCKER_HOST_IMAGE="$(ensure_host_image docker | tail -n 1)"
  export DOCKFLEET_DOCKER_HOST_IMAGE
}

# Whether stacks/Pulumi.<stack>.yaml has a line matching an extended regular expression.
# Usage: stack_file_matches STACK REGEX
stack_file_matches() {
  grep -Eq "$2" "$DOCKFLEET_ROOT/stacks/Pulumi.$1.yaml" 2>/dev/null
}

# Whether stacks/Pulumi.<stack>.yaml asks for the local driver's image with Docker preinstalled.
stack_uses_docker_host_image() {
  stack_file_matches "$1" '^[[:space:]]+image:[[:space:]]*"?docker"?[[:space:]]*(#.*)?$'
}

# The qemu driver's needs (bin/up runs it for a stack whose driver is qemu): QEMU, qemu-img, an ISO
# writer for the seed, and the VM image; exports DOCKFLEET_VM_IMAGE (the image's folder).
ensure_vm_setup() {
  step "checking Debian packages for the qemu driver"
  ensure_apt_packages qemu-system-x86 qemu-utils genisoimage e2fsprogs debootstrap iptables
  step "checking the VM image (bin/lib/vm-image.sh)"
  DOCKFLEET_VM_IMAGE="$(ensure_vm_image | tail -n 1)"
  export DOCKFLEET_VM_IMAGE
}
