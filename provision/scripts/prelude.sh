# shellcheck shell=bash
# The helpers every remote script shares, kept here once so the six scripts cannot drift apart.
# readScript (provision/dynamic/remote-step.ts) sends this text ahead of each script through the
# same `bash -s`, so a host needs nothing of dockfleet on disk; a script run from a checkout
# sources it instead (the guard at its top). Only functions and constants: the script that
# follows sets its own shell options and its parameters.
#
# What the script sets before it calls these:
#   DOCKFLEET_SCRIPT         its name, the prefix of its messages ("install-docker")
#   LOCK_TIMEOUT_SECONDS     package_manager, apt_get, rpm_pm: how long a lock may keep them waiting
#   APT_LISTS_MAX_AGE_HOURS  apt_lists_are_fresh
#   OS_RELEASE_FILE          read_os_release

# shellcheck disable=SC2034 # read by the guard at the top of each script
DOCKFLEET_PRELUDE_LOADED=1

# --- output --------------------------------------------------------------------------------------

# stdout is reserved for the result line, so that a package manager's chatter cannot be mistaken
# for it: progress goes to stderr, named after the script since a step's output interleaves
# with others.
log() { printf '%s: %s\n' "${DOCKFLEET_SCRIPT:-dockfleet}" "$*" >&2; }
die() {
  printf '%s: error: %s\n' "${DOCKFLEET_SCRIPT:-dockfleet}" "$*" >&2
  exit 1
}

# The result runScript reads: the last stdout line that starts with DOCKFLEET_RESULT.
# Usage: print_result changed=1 version=24.0.7
print_result() { printf 'DOCKFLEET_RESULT %s\n' "$*"; }

# --- the OS ----------------------------------------------------------------------------------------

# Sets os_id, os_version and os_codename from OS_RELEASE_FILE (tests point it at a stand-in to
# play another distribution), and family to apt or rpm; family is empty for an OS without either,
# and the caller, which knows what it supports there, says so.
# shellcheck disable=SC2034 # os_* and family are for the caller
read_os_release() {
  [[ -r "$OS_RELEASE_FILE" ]] || die "cannot read $OS_RELEASE_FILE to tell the OS; this script needs a systemd-era Linux"
  # shellcheck disable=SC1090 # the OS description is a shell fragment by definition
  . "$OS_RELEASE_FILE"
  os_id="${ID:-}"
  os_version="${VERSION_ID:-}"
  os_codename="${VERSION_CODENAME:-${UBUNTU_CODENAME:-}}"
  case "$os_id" in
    debian | ubuntu) family=apt ;;
    centos | rhel | rocky | almalinux | fedora | alinux | amzn) family=rpm ;;
    *) family="" ;;
  esac
}

# --- waiting for the package manager's lock ----------------------------------------------------

# On a fresh machine cloud-init or unattended-upgrades are often installing packages just as
# dockfleet arrives, and apt's lists and archive locks (dnf's too) fail at once instead of
# waiting. So every package manager run waits for the locks first, naming who holds them, and
# runs again when a lock taken between that check and its own start made it fail.

readonly APT_LOCKS=(posix:/var/lib/dpkg/lock-frontend posix:/var/lib/dpkg/lock
  posix:/var/lib/apt/lists/lock posix:/var/cache/apt/archives/lock)
readonly RPM_LOCKS=(pidfile:/var/run/yum.pid pidfile:/var/lib/dnf/rpmdb_lock.pid
  pidfile:/var/cache/dnf/metadata_lock.pid pidfile:/var/cache/dnf/download_lock.pid
  posix:/var/lib/rpm/.rpm.lock)

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

# Waits until no lock in the list is held, saying so every 10 s; dies at DEADLINE (a $SECONDS
# value). Usage: wait_for_package_locks DEADLINE SPEC..., a SPEC "posix:<path>" or "pidfile:<path>".
wait_for_package_locks() {
  local deadline=$1 next_message=$SECONDS spec holder busy
  shift
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

# --- an interrupted dpkg ---------------------------------------------------------------------------

# An install cut short (a dropped connection, a reboot, a killed apt) leaves packages unpacked
# but not configured, and dpkg then refuses every later install ("dpkg was interrupted, you must
# manually run 'dpkg --configure -a'"). dpkg says so through `dpkg --audit` and through the
# journal it keeps in its updates folder while it works.
dpkg_was_interrupted() {
  command -v dpkg >/dev/null || return 1
  compgen -G '/var/lib/dpkg/updates/[0-9]*' >/dev/null && return 0
  [[ -n "$(dpkg --audit 2>/dev/null)" ]]
}

# Finishes what an interrupted dpkg left, as apt asks to, keeping the host's config files.
# package_manager runs it before each apt command, once the locks are free; "now" when dpkg
# refused the last command for it, whatever the audit says.
# Usage: repair_interrupted_dpkg [now]
repair_interrupted_dpkg() {
  [[ "${1:-}" == now ]] || dpkg_was_interrupted || return 0
  log "dpkg was interrupted earlier (it reports unfinished packages): running dpkg --configure -a"
  DEBIAN_FRONTEND=noninteractive package_manager apt dpkg --force-confdef --force-confold --configure -a
}

# Runs a package manager command (an executable, not a function: it runs in a pipeline) with
# all its output on stderr, once apt's or rpm's locks are free (and, for apt, dpkg repaired
# from an earlier interruption); when it still fails on a lock or on dpkg's interruption, waits
# and runs it again; any other failure ends the script. All within LOCK_TIMEOUT_SECONDS.
# Usage: package_manager apt|rpm COMMAND [ARG...]
package_manager() {
  local deadline=$((SECONDS + LOCK_TIMEOUT_SECONDS)) family=$1 locks errors repair="" interrupted
  case "$family" in
    apt) locks=("${APT_LOCKS[@]}") ;;
    rpm) locks=("${RPM_LOCKS[@]}") ;;
    *) die "package_manager: \"$1\" is not apt or rpm" ;;
  esac
  shift
  while true; do
    wait_for_package_locks "$deadline" "${locks[@]}"
    # dpkg itself is the repair: only other commands wait for it.
    if [[ "$family" == apt && "$1" != dpkg ]]; then repair_interrupted_dpkg "$repair"; fi
    errors=$(mktemp)
    # stderr is both shown and kept, to tell a lock from other failures; a pipe, unlike a process
    # substitution, has tee done writing before the grep reads.
    if { "$@" 2>&1 1>&3 3>&- | tee "$errors" >&2; } 3>&2; then
      rm -f "$errors"
      return 0
    fi
    if ! grep -Eqi 'could not get lock|unable to acquire|lock.*(held|busy)|waiting for process|dpkg was interrupted' "$errors" ||
      ((SECONDS >= deadline)); then
      rm -f "$errors"
      die "$* failed; see its output above"
    fi
    interrupted=0
    if grep -qi 'dpkg was interrupted' "$errors"; then interrupted=1; fi
    rm -f "$errors"
    if ((interrupted)); then
      [[ -z "$repair" ]] || die "$* still finds dpkg interrupted after dpkg --configure -a; see its output above"
      repair=now
      log "dpkg was interrupted: repairing it, then trying again"
    else
      log "the package manager is busy (another install holds its lock): trying again in 5 s ($((deadline - SECONDS)) s left)"
      sleep 5
    fi
  done
}

# apt-get without questions: a changed config file keeps the host's version. DPkg::Lock::Timeout
# makes apt itself wait for dpkg's lock should it be taken after package_manager's check.
# Dpkg::Use-Pty=0 keeps dpkg in the step's process group (with a pty, apt starts it in a session
# of its own), so that a step past its time bound stops dpkg too, not only apt-get.
apt_get() {
  DEBIAN_FRONTEND=noninteractive package_manager apt apt-get -q -y \
    -o "DPkg::Lock::Timeout=$LOCK_TIMEOUT_SECONDS" -o Dpkg::Use-Pty=0 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

rpm_package_manager() {
  if command -v dnf >/dev/null; then echo dnf; else echo yum; fi
}

rpm_pm() {
  package_manager rpm "$(rpm_package_manager)" -y "$@"
}

# --- apt package lists ---------------------------------------------------------------------------

# Shared by every script that installs with apt: a fresh `apt-get update` by one counts for all.
readonly APT_UPDATE_STAMP=/var/lib/dockfleet/apt-lists-updated

# Whether the apt lists were updated less than APT_LISTS_MAX_AGE_HOURS ago, by dockfleet, by apt's
# daily timer, or by anyone (the lists folder changes when an update brings new lists).
apt_lists_are_fresh() {
  local max_age_minutes=$((APT_LISTS_MAX_AGE_HOURS * 60)) stamp
  compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null || return 1
  for stamp in "$APT_UPDATE_STAMP" /var/lib/apt/periodic/update-success-stamp /var/lib/apt/lists; do
    [[ -e "$stamp" && -n "$(find "$stamp" -maxdepth 0 -mmin "-$max_age_minutes" 2>/dev/null)" ]] && return 0
  done
  return 1
}

apt_update_lists() {
  log "updating apt package lists"
  apt_get update
  mkdir -p "$(dirname "$APT_UPDATE_STAMP")"
  touch "$APT_UPDATE_STAMP"
}
