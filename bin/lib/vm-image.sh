#!/usr/bin/env bash
# Sourceable: builds (once) the disk image, kernel and initrd that the qemu driver's VMs boot.
#
#   source bin/lib/vm-image.sh && dir="$(ensure_vm_image | tail -n 1)"
#
# The image starts from the host image's cached debootstrap (same package list, suite, mirrors and
# sshd settings: bin/lib/host-image.sh), adds a kernel and initrd (provision/images/vm/packages)
# and the VM overlay (provision/images/vm/rootfs: the seed reader, fstab), and is written as an
# ext4 file system in a qcow2 file, without loop devices or a running VM. The result lives in
# <cache>/vm-images/<content hash>/ (disk.qcow2, vmlinuz, initrd.img); the hash covers this
# script, host-image.sh's inputs and every file under provision/images/vm/.
#
# Needs debootstrap, e2fsprogs and qemu-utils (bin/lib/setup.sh's ensure_vm_setup installs them).
# Environment: those of host-image.sh, and DOCKFLEET_VM_DISK_SIZE (virtual size, default 10G).

# shellcheck source=bin/lib/host-image.sh
source "$(dirname "${BASH_SOURCE[0]}")/host-image.sh"

vm_image_log() {
  printf '[vm-image] %s\n' "$*" >&2
}

vm_image_dir() {
  printf '%s\n' "$(dirname "$(host_image_dir)")/vm"
}

vm_image_content_hash() {
  local image_dir file
  image_dir="$(vm_image_dir)"
  {
    printf 'host %s\nsize %s\n' "$(host_image_content_hash)" "${DOCKFLEET_VM_DISK_SIZE:-10G}"
    sha256sum <"${BASH_SOURCE[0]}"
    while IFS= read -r file; do
      if [[ -x "$image_dir/$file" ]]; then printf '%s x ' "$file"; else printf '%s - ' "$file"; fi
      sha256sum <"$image_dir/$file"
    done < <(cd "$image_dir" && find . \( -type f -o -type l \) -print | LC_ALL=C sort)
  } | sha256sum | cut -c1-16
}

# Prints the folder the image of this checkout is (or would be) in.
vm_image_path() {
  printf '%s/vm-images/%s\n' "$(host_image_cache_dir)" "$(vm_image_content_hash)"
}

# Turns the bootstrapped root file system into a VM: host settings, kernel, seed reader, no
# baked identity.
customize_vm_rootfs() {
  local rootfs="$1" packages
  vm_image_log "adding files from $(host_image_dir)/rootfs and $(vm_image_dir)/rootfs"
  cp -R "$(host_image_dir)/rootfs/." "$rootfs/"
  cp -R "$(vm_image_dir)/rootfs/." "$rootfs/"
  rm -f "$rootfs/etc/apt/sources.list"
  render_host_apt_sources >"$rootfs/etc/apt/sources.list.d/debian.sources"
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"

  packages="$(read_list_file "$(vm_image_dir)/packages" | paste -sd' ' -)"
  vm_image_log "installing $packages into the image"
  mount -t proc proc "$rootfs/proc"
  mount --rbind /dev "$rootfs/dev"
  mount --make-rslave "$rootfs/dev"
  rm -rf "$rootfs"/var/lib/apt/lists/*
  chroot "$rootfs" apt-get update -qq >&2
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive chroot "$rootfs" apt-get install -y -qq --no-install-recommends $packages >&2
  chroot "$rootfs" apt-get clean
  chroot "$rootfs" systemctl enable -q dockfleet-seed.service systemd-networkd.service
  while IFS= read -r unit; do
    ln -sfn /dev/null "$rootfs/etc/systemd/system/$unit"
  done < <(read_list_file "$(vm_image_dir)/masked-units")
  umount -R "$rootfs/dev"
  umount "$rootfs/proc"

  vm_image_log "removing baked identity: SSH host keys, machine-id"
  rm -f "$rootfs"/etc/ssh/ssh_host_*
  : >"$rootfs/etc/machine-id"
  printf 'dockfleet-vm\n' >"$rootfs/etc/hostname"
  : >"$rootfs/etc/resolv.conf"
  rm -rf "$rootfs"/var/log/apt/* "$rootfs"/var/cache/debconf/*-old "$rootfs"/tmp/*
}

# Prints (last line of stdout) the folder holding disk.qcow2, vmlinuz and initrd.img, building them
# when missing. Runs in a subshell so its traps and shell options do not leak into the caller.
ensure_vm_image() (
  set -euo pipefail
  umask 022
  local target cache_dir tarball work started
  target="$(vm_image_path)"
  if [[ -s "$target/disk.qcow2" ]]; then
    vm_image_log "image $target present"
    printf '%s\n' "$target"
    return 0
  fi
  cache_dir="$(host_image_cache_dir)"
  mkdir -p "$cache_dir"
  exec 9>"$cache_dir/vm-image.lock"
  vm_image_log "image $target missing: building it (waiting for the build lock $cache_dir/vm-image.lock)"
  flock 9
  if [[ -s "$target/disk.qcow2" ]]; then
    printf '%s\n' "$target"
    return 0
  fi
  started=$SECONDS
  tarball="$(ensure_host_rootfs_tarball)"
  work="$(mktemp -d "${DOCKFLEET_WORK_DIR:-/var/tmp}/dockfleet-vm-image.XXXXXX")"
  trap 'umount -R "$work/rootfs/dev" 2>/dev/null || true; umount "$work/rootfs/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
  mkdir -p "$work/rootfs" "$work/out"
  tar -C "$work/rootfs" --numeric-owner -xpf "$tarball"
  chmod 755 "$work/rootfs"
  customize_vm_rootfs "$work/rootfs"

  cp "$work/rootfs"/boot/vmlinuz-* "$work/out/vmlinuz"
  cp "$work/rootfs"/boot/initrd.img-* "$work/out/initrd.img"
  vm_image_log "writing the root file system as ext4 into $target/disk.qcow2"
  mkfs.ext4 -q -L dockfleet-root -d "$work/rootfs" "$work/disk.raw" "${DOCKFLEET_VM_DISK_SIZE:-10G}"
  qemu-img convert -f raw -O qcow2 "$work/disk.raw" "$work/out/disk.qcow2"
  mkdir -p "$(dirname "$target")"
  rm -rf "$target.partial"
  mv "$work/out" "$target.partial"
  mv "$target.partial" "$target"
  vm_image_log "built $target in $((SECONDS - started))s ($(du -sh "$target" | cut -f1))"
  printf '%s\n' "$target"
)
