#!/usr/bin/env bash
# shellcheck shell=bash
#
# Sourceable helper: `source bin/lib/pulumi.sh && ensure_pulumi` puts a Pulumi CLI and a Node.js
# language host on PATH, at the version pinned in tools/pulumi/go.mod (it must match the
# @pulumi/pulumi npm package).
#
# Where they come from, first match wins:
#   1. a `pulumi` already on PATH at that version, with `pulumi-language-nodejs` beside it or on PATH;
#   2. the official installer, only if get.pulumi.com answers within 5 s;
#   3. a build from the Go module proxy (tools/pulumi: the CLI plus dockfleet's own minimal
#      pulumi-language-nodejs) into "${XDG_CACHE_HOME:-$HOME/.cache}/dockfleet/pulumi-<version>/bin",
#      kept outside the checkout so fresh clones reuse it. Each binary is rebuilt when the files
#      it is built from change (a hash of them is stored beside it).
#
# `ensure_pulumi_yaml` (after ensure_pulumi) adds the Pulumi YAML language host,
# pulumi-language-yaml, built from tools/pulumi-yaml into the same folder: for Pulumi YAML programs
# that use dockfleet's component package (provider/). Only what needs it calls it.
#
# Environment:
#   DOCKFLEET_PULUMI_INSTALLER=0  never try the official installer (default: try if reachable)
#   DOCKFLEET_PULUMI_CACHE_DIR     override the cache directory
# Exports: PATH (prepended), PULUMI_SKIP_UPDATE_CHECK=true (unless set), DOCKFLEET_PULUMI_VERSION.

_DOCKFLEET_PULUMI_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

_dockfleet_pulumi_log() {
  printf 'dockfleet: %s\n' "$*" >&2
}

# Prints the CLI version pinned by tools/pulumi/go.mod, e.g. v3.259.0.
_dockfleet_pulumi_pinned_version() {
  awk '$1 == "github.com/pulumi/pulumi/pkg/v3" { print $2; exit }' "$1/go.mod"
}

# Prints a hash of the named files or directories under TOOLS_DIR (paths relative to it).
_dockfleet_pulumi_hash() {
  local tools_dir="$1"
  shift
  (cd "${tools_dir}" && find "$@" -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}

# Succeeds if DIR/pulumi reports VERSION and a pulumi-language-nodejs is in DIR or on PATH.
_dockfleet_pulumi_usable() {
  local dir="$1" version="$2"
  [[ -x "${dir}/pulumi" ]] || return 1
  [[ -x "${dir}/pulumi-language-nodejs" ]] || command -v pulumi-language-nodejs >/dev/null || return 1
  [[ "$(PULUMI_SKIP_UPDATE_CHECK=true "${dir}/pulumi" version 2>/dev/null)" == "${version}" ]]
}

_dockfleet_pulumi_use() {
  local dir="$1" version="$2"
  case ":${PATH}:" in
    *":${dir}:"*) ;;
    *) export PATH="${dir}:${PATH}" ;;
  esac
  export DOCKFLEET_PULUMI_VERSION="${version}"
  export PULUMI_SKIP_UPDATE_CHECK="${PULUMI_SKIP_UPDATE_CHECK:-true}"
}

# Runs the official installer into ROOT (it puts the binaries in ROOT/bin). Fails fast if offline.
_dockfleet_pulumi_install_official() {
  local root="$1" version="$2"
  [[ "${DOCKFLEET_PULUMI_INSTALLER:-1}" != 0 ]] || return 1
  command -v curl >/dev/null || return 1
  curl -fsS -o /dev/null --max-time 5 https://get.pulumi.com/ 2>/dev/null || return 1
  _dockfleet_pulumi_log "installing the Pulumi CLI ${version} with the official installer into ${root}"
  curl -fsSL --max-time 300 https://get.pulumi.com/ |
    sh -s -- --version "${version#v}" --install-root "${root}" --no-edit-path >&2
}

# Builds whatever is stale in BIN_DIR from TOOLS_DIR. Run under a lock: tests may call it in parallel.
_dockfleet_pulumi_build() {
  local tools_dir="$1" bin_dir="$2" version="$3"
  local cli_key host_key sdk_dir ldflags
  cli_key="${version}-$(_dockfleet_pulumi_hash "${tools_dir}" go.mod go.sum tools.go)"
  host_key="${version}-$(_dockfleet_pulumi_hash "${tools_dir}" go.mod go.sum language-host)"
  ldflags="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=${version}"

  if [[ "$(cat "${bin_dir}/.pulumi.key" 2>/dev/null)" != "${cli_key}" ]]; then
    _dockfleet_pulumi_log "building the Pulumi CLI ${version} from the Go module proxy (first time only, ~5 min on 2 cores)"
    (cd "${tools_dir}" && go build -trimpath -ldflags "${ldflags}" -o "${bin_dir}/.pulumi.tmp" \
      github.com/pulumi/pulumi/pkg/v3/cmd/pulumi) || return 1
    mv -f "${bin_dir}/.pulumi.tmp" "${bin_dir}/pulumi" || return 1
    printf '%s\n' "${cli_key}" >"${bin_dir}/.pulumi.key"
  fi

  if [[ "$(cat "${bin_dir}/.pulumi-language-nodejs.key" 2>/dev/null)" != "${host_key}" ]]; then
    _dockfleet_pulumi_log "building pulumi-language-nodejs (dockfleet's minimal Node.js language host, under a minute)"
    (cd "${tools_dir}" && go build -trimpath -ldflags "${ldflags}" \
      -o "${bin_dir}/.pulumi-language-nodejs.tmp" ./language-host) || return 1
    mv -f "${bin_dir}/.pulumi-language-nodejs.tmp" "${bin_dir}/pulumi-language-nodejs" || return 1
    printf '%s\n' "${host_key}" >"${bin_dir}/.pulumi-language-nodejs.key"
  fi

  if [[ ! -x "${bin_dir}/pulumi-resource-pulumi-nodejs" ]]; then
    _dockfleet_pulumi_log "copying pulumi-resource-pulumi-nodejs (dynamic providers) from github.com/pulumi/pulumi/sdk/v3@${version}"
    sdk_dir="$(cd "${tools_dir}" && go mod download -json "github.com/pulumi/pulumi/sdk/v3@${version}" |
      sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')" || return 1
    install -m 0755 "${sdk_dir}/nodejs/dist/pulumi-resource-pulumi-nodejs" "${bin_dir}/pulumi-resource-pulumi-nodejs"
  fi
}

# ensure_pulumi: make `pulumi` (and its Node.js language host) at the pinned version available on PATH.
ensure_pulumi() {
  local repo_root tools_dir version cache_dir bin_dir on_path key_cli key_host
  repo_root="${DOCKFLEET_ROOT:-$(cd "${_DOCKFLEET_PULUMI_LIB_DIR}/../.." && pwd)}"
  tools_dir="${repo_root}/tools/pulumi"
  version="$(_dockfleet_pulumi_pinned_version "${tools_dir}")"
  if [[ -z "${version}" ]]; then
    _dockfleet_pulumi_log "error: no github.com/pulumi/pulumi/pkg/v3 version in ${tools_dir}/go.mod; restore that file from git"
    return 1
  fi
  cache_dir="${DOCKFLEET_PULUMI_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME}/.cache}/dockfleet/pulumi-${version}}"
  bin_dir="${cache_dir}/bin"

  # 1. Our own build, when both binaries match the current sources (the usual case, no Go needed).
  if [[ -x "${bin_dir}/pulumi" && -x "${bin_dir}/pulumi-language-nodejs" && -x "${bin_dir}/pulumi-resource-pulumi-nodejs" ]]; then
    key_cli="$(cat "${bin_dir}/.pulumi.key" 2>/dev/null)"
    key_host="$(cat "${bin_dir}/.pulumi-language-nodejs.key" 2>/dev/null)"
    if [[ "${key_cli}" == "${version}-$(_dockfleet_pulumi_hash "${tools_dir}" go.mod go.sum tools.go)" &&
      "${key_host}" == "${version}-$(_dockfleet_pulumi_hash "${tools_dir}" go.mod go.sum language-host)" ]]; then
      _dockfleet_pulumi_use "${bin_dir}" "${version}"
      return 0
    fi
  fi

  # 2. A pulumi already on PATH (not a stale build of ours) or from an earlier official install.
  on_path="$(command -v pulumi 2>/dev/null || true)"
  if [[ -n "${on_path}" && "$(dirname "${on_path}")" != "${bin_dir}" ]] &&
    _dockfleet_pulumi_usable "$(dirname "${on_path}")" "${version}"; then
    _dockfleet_pulumi_use "$(dirname "${on_path}")" "${version}"
    return 0
  fi
  if _dockfleet_pulumi_usable "${cache_dir}/official/bin" "${version}"; then
    _dockfleet_pulumi_use "${cache_dir}/official/bin" "${version}"
    return 0
  fi

  # 3. The official installer, when reachable.
  if _dockfleet_pulumi_install_official "${cache_dir}/official" "${version}" &&
    _dockfleet_pulumi_usable "${cache_dir}/official/bin" "${version}"; then
    _dockfleet_pulumi_use "${cache_dir}/official/bin" "${version}"
    return 0
  fi

  # 4. Build from the Go module proxy.
  if ! command -v go >/dev/null; then
    _dockfleet_pulumi_log "error: the Pulumi CLI ${version} is not on PATH, get.pulumi.com is unreachable, and Go is not installed to build it; install Go >= 1.25 (https://go.dev/dl/) or put pulumi ${version} and pulumi-language-nodejs on PATH"
    return 1
  fi
  mkdir -p "${bin_dir}"
  # The lock makes parallel callers wait for one build instead of racing it.
  if ! (
    flock 9
    _dockfleet_pulumi_build "${tools_dir}" "${bin_dir}" "${version}"
  ) 9>"${cache_dir}/.build.lock"; then
    _dockfleet_pulumi_log "error: building the Pulumi CLI ${version} in ${tools_dir} failed (see the go output above); check that proxy.golang.org is reachable (GOPROXY=$(go env GOPROXY))"
    return 1
  fi
  _dockfleet_pulumi_use "${bin_dir}" "${version}"
  _dockfleet_pulumi_log "Pulumi CLI ${version} ready in ${bin_dir}"
}

# ensure_pulumi_yaml: put pulumi-language-yaml (github.com/pulumi/pulumi-yaml, at the version
# tools/pulumi-yaml/go.mod pins) beside the Pulumi CLI that ensure_pulumi chose, building it from
# the Go module proxy when missing or built from other sources (a hash of them is stored beside it).
# The real one comes with the official CLI: a CLI that has it beside itself is left alone.
ensure_pulumi_yaml() {
  local repo_root tools_dir version pulumi_cli bin_dir key
  repo_root="${DOCKFLEET_ROOT:-$(cd "${_DOCKFLEET_PULUMI_LIB_DIR}/../.." && pwd)}"
  tools_dir="${repo_root}/tools/pulumi-yaml"
  if ! pulumi_cli="$(command -v pulumi)"; then
    _dockfleet_pulumi_log "error: ensure_pulumi_yaml needs the Pulumi CLI on PATH: run ensure_pulumi first"
    return 1
  fi
  bin_dir="$(dirname "${pulumi_cli}")"
  [[ -x "${bin_dir}/pulumi-language-yaml" && ! -f "${bin_dir}/.pulumi-language-yaml.key" ]] && return 0
  version="$(awk '$1 == "require" && $2 == "github.com/pulumi/pulumi-yaml" { print $3; exit }' "${tools_dir}/go.mod")"
  key="${version}-$(_dockfleet_pulumi_hash "${tools_dir}" go.mod go.sum tools.go)"
  [[ "$(cat "${bin_dir}/.pulumi-language-yaml.key" 2>/dev/null)" == "${key}" ]] && return 0
  if ! command -v go >/dev/null; then
    _dockfleet_pulumi_log "error: pulumi-language-yaml is not beside ${bin_dir}/pulumi and Go is not installed to build it"
    return 1
  fi
  if ! (
    flock 9
    [[ "$(cat "${bin_dir}/.pulumi-language-yaml.key" 2>/dev/null)" == "${key}" ]] && exit 0
    _dockfleet_pulumi_log "building pulumi-language-yaml ${version} from the Go module proxy (first time only)"
    (cd "${tools_dir}" && go build -trimpath \
      -ldflags "-s -w -X github.com/pulumi/pulumi-yaml/pkg/version.Version=${version}" \
      -o "${bin_dir}/.pulumi-language-yaml.tmp" github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml) &&
      mv -f "${bin_dir}/.pulumi-language-yaml.tmp" "${bin_dir}/pulumi-language-yaml" &&
      printf '%s\n' "${key}" >"${bin_dir}/.pulumi-language-yaml.key"
  ) 9>"${bin_dir}/.pulumi-language-yaml.lock"; then
    _dockfleet_pulumi_log "error: building pulumi-language-yaml in ${tools_dir} failed (see the go output above)"
    return 1
  fi
}

# The quick test before a slow `pulumi stack export`: fails when the local file backend holds no
# state of STACK, or state without PATTERN (zgrep); succeeds otherwise, and always for other
# backends, whose state only an export shows.
_dockfleet_state_may_contain() {
  local stack="$1" pattern="$2" file
  local files=()
  [[ "${PULUMI_BACKEND_URL:-}" == file://* ]] || return 0
  for file in "${PULUMI_BACKEND_URL#file://}"/.pulumi/stacks/*/"$stack".json{,.gz}; do
    [[ -f "$file" ]] && files+=("$file")
  done
  ((${#files[@]} > 0)) && zgrep -q -- "$pattern" "${files[@]}"
}

# Brings state written before 2026-12-03 up to date: its dynamic providers named the absolute path
# of the checkout that ran `up`, so refresh and destroy failed from any other folder (or after the
# code moved). cli/migrate-state.ts rewrites them; the export before the change is kept beside the
# state as <stack>.before-migration.json (0600). Quick when there is nothing to do: a local
# backend's stack file is searched first. Needs PULUMI_BACKEND_URL (use_local_pulumi_backend).
migrate_stack_state() {
  local stack="$1" export_file count
  # No state yet, or none that names an absolute path (the JSON text escapes the quote).
  _dockfleet_state_may_contain "$stack" 'moduleFile: \\"/' || return 0
  export_file="$(mktemp)"
  if ! pulumi stack export --stack "$stack" --file "$export_file" 2>/dev/null; then
    rm -f "$export_file" # no such stack yet
    return 0
  fi
  count="$(npx --no-install tsx "${DOCKFLEET_ROOT:?}/cli/migrate-state.ts" "$export_file")"
  if [[ "$count" != 0 ]]; then
    (umask 077 && pulumi stack export --stack "$stack" --file "${DOCKFLEET_ROOT}/.dockfleet/${stack}.before-migration.json")
    pulumi stack import --stack "$stack" --file "$export_file" >/dev/null
    _dockfleet_pulumi_log "stack ${stack}: ${count} provider reference(s) from an older dockfleet made location-independent"
  fi
  rm -f "$export_file"
}

# Whether process $1 is a live pulumi: a killed one may linger as a zombie until it is reaped,
# and a zombie keeps its name.
_dockfleet_pulumi_runs() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ "$stat" == *"(pulumi) "[!Z]* ]]
}

# Removes the lock a killed pulumi (SIGKILL, a second Ctrl-C, a lost CI runner) left on a stack
# of the local file backend, with `pulumi cancel`: only when every lock of the stack was taken by
# a pulumi process of this machine that no longer runs. A live one is left alone, and pulumi
# says who holds it. Other backends: pulumi's own message names `pulumi cancel`.
remove_stale_stack_lock() {
  local stack="$1" lock pid host stale=() live=0
  [[ "${PULUMI_BACKEND_URL:-}" == file://* ]] || return 0
  for lock in "${PULUMI_BACKEND_URL#file://}"/.pulumi/locks/*/*/"$stack"/*.json; do
    [[ -f "$lock" ]] || continue
    pid="$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$lock")"
    host="$(sed -n 's/.*"hostname":"\([^"]*\)".*/\1/p' "$lock")"
    if [[ "$host" == "$(hostname)" && -n "$pid" ]] && ! _dockfleet_pulumi_runs "$pid"; then
      stale+=("pid $pid")
    else
      live=1
    fi
  done
  if ((${#stale[@]} > 0 && live == 0)); then
    _dockfleet_pulumi_log "stack ${stack}: removing the lock of a pulumi that was killed (${stale[*]}, no longer running)"
    pulumi cancel --stack "$stack" --yes >/dev/null
  fi
}

# Makes the state that a killed `pulumi up` left fit for the next one: its lock
# (remove_stale_stack_lock), and pending operations (creates Pulumi never saw finish), cleared
# with `pulumi refresh --clear-pending-creates` when each is a dockfleet step that is safe to run
# again (components/stack/pending-operations.ts), so that this `up` runs them again; otherwise it
# says what to check and the exact commands, and fails. Quick when there is nothing to do: a local
# backend's state file is searched first.
recover_interrupted_up() {
  local stack="$1" export_file action
  remove_stale_stack_lock "$stack"
  _dockfleet_state_may_contain "$stack" '"pending_operations"' || return 0
  export_file="$(mktemp)"
  if ! pulumi stack export --stack "$stack" --file "$export_file" 2>/dev/null; then
    rm -f "$export_file" # no such stack yet
    return 0
  fi
  action="$(npx --no-install tsx "${DOCKFLEET_ROOT:?}/cli/pending-operations.ts" "$stack" "$export_file")"
  rm -f "$export_file"
  case "$action" in
    none) ;;
    clear) pulumi refresh --stack "$stack" --clear-pending-creates --yes --skip-preview --non-interactive >/dev/null ;;
    *) return 1 ;;
  esac
}
