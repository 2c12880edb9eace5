#!/usr/bin/env bash
# Sourceable: what every bin/ command shares: progress lines, the project root, npm packages,
# Debian packages, and the Pulumi environment (local backend, passphrase, no update checks).

DOCKFLEET_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export DOCKFLEET_ROOT

step() {
  printf '\033[1m==> %s\033[0m\n' "$*" >&2
}

# Installs Debian packages that are missing (apt-get update once, only when something is).
ensure_apt_packages() {
  local -a missing=()
  local package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$package")
  done
  if ((${#missing[@]} > 0)); then
    step "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# npm ci when package-lock.json changed since the last install (a stamp in node_modules).
ensure_node_modules() {
  local stamp="$DOCKFLEET_ROOT/node_modules/.dockfleet-lock-hash"
  local wanted
  wanted="$(sha256sum "$DOCKFLEET_ROOT/package-lock.json" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    return 0
  fi
  step "installing npm packages (npm ci)"
  (cd "$DOCKFLEET_ROOT" && npm ci --no-audit --no-fund --loglevel=error)
  printf '%s\n' "$wanted" >"$stamp"
}

# The local file backend and a passphrase for secrets, unless the caller chose others.
# The passphrase is generated once per checkout into .dockfleet/passphrase (mode 0600).
# Also makes every Node.js process Pulumi starts (the dynamic-provider process too, which the
# program's nodeargs do not reach) defer the SDK modules dockfleet never uses: see
# provision/dynamic/defer-sdk-modules.cjs.
use_local_pulumi_backend() {
  export PULUMI_SKIP_UPDATE_CHECK=true
  export PULUMI_DIY_BACKEND_URL_NO_WARN=true
  local defer="--require \"$DOCKFLEET_ROOT/provision/dynamic/defer-sdk-modules.cjs\""
  case " ${NODE_OPTIONS:-} " in
    *" $defer "*) ;;
    *) export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }$defer" ;;
  esac
  if [[ -z "${PULUMI_BACKEND_URL:-}" ]]; then
    mkdir -p "$DOCKFLEET_ROOT/.dockfleet/state"
    export PULUMI_BACKEND_URL="file://$DOCKFLEET_ROOT/.dockfleet/state"
  fi
  if [[ -z "${PULUMI_CONFIG_PASSPHRASE:-}" && -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]]; then
    local file="$DOCKFLEET_ROOT/.dockfleet/passphrase"
    if [[ ! -s "$file" ]]; then
      mkdir -p "$DOCKFLEET_ROOT/.dockfleet"
      (umask 077 && head -c 32 /dev/urandom | base64 >"$file")
    fi
    export PULUMI_CONFIG_PASSPHRASE_FILE="$file"
  fi
}
