# Shared helpers for scripts/*. Sourced, not executed.
# shellcheck shell=bash

# Repo root, whatever the caller's working directory.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The layout is fixed: the server embeds target/site/pkg, and the scripts and end2end
# use target/{debug,release}/userdeck. A CARGO_TARGET_DIR from the environment would
# put the binaries elsewhere, so the scripts ignore it.
unset CARGO_TARGET_DIR

# cargo-installed tools (wasm-bindgen) live here; CI shells may not have it on PATH.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

if [[ -t 1 ]]; then
  _B=$'\e[1m' _G=$'\e[32m' _Y=$'\e[33m' _R=$'\e[31m' _N=$'\e[0m'
else
  _B='' _G='' _Y='' _R='' _N=''
fi
say()  { printf '%s==>%s %s\n' "$_B" "$_N" "$*"; }
ok()   { printf '%s  ok%s %s\n' "$_G" "$_N" "$*"; }
warn() { printf '%swarning:%s %s\n' "$_Y" "$_N" "$*" >&2; }
die()  { printf '%serror:%s %s\n' "$_R" "$_N" "$*" >&2; exit 1; }

# The wasm-bindgen version pinned in Cargo.lock (the CLI must match it exactly).
lock_wasm_bindgen_version() {
  awk '
    /^\[\[package\]\]/ { name = "" }
    /^name = / { name = $3; gsub(/"/, "", name) }
    /^version = / && name == "wasm-bindgen" { v = $3; gsub(/"/, "", v); print v; exit }
  ' "$ROOT/Cargo.lock"
}

# Version of the wasm-bindgen CLI on PATH, or nothing.
installed_wasm_bindgen_version() {
  command -v wasm-bindgen >/dev/null 2>&1 || return 0
  wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true
}

# Seconds since the epoch with milliseconds, and a formatter for durations.
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { d = b - a; if (d >= 60) printf "%dm%04.1fs", d / 60, d - int(d / 60) * 60; else printf "%.1fs", d }'; }

human_size() { numfmt --to=iec-i --suffix=B --format='%.1f' "$1" 2>/dev/null || echo "$1 B"; }
