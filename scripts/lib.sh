# Shared set-up for scripts/serve and scripts/test: installs whatever is
# missing, so that a fresh machine needs nothing but this repository.
# Sourced, not run.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
export PATH="$HOME/.cargo/bin:$TOOLS/npm/node_modules/.bin:$PATH"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_apt PKG...: installs the Debian packages that are not installed yet.
ensure_apt() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# The wasm-bindgen version the page is built with: the one Cargo.lock pins.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

ensure_web_tools() {
  if ! command -v cargo >/dev/null; then
    echo "cargo not found: install Rust with rustup first (https://rustup.rs)" >&2
    exit 1
  fi
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if ! trunk --version 2>/dev/null | grep -q '^trunk 0\.21\.'; then
    say "installing trunk 0.21 (0.22 needs a newer rustc)"
    cargo install trunk --version '~0.21' --locked
  fi
  local wbg
  wbg="$(wasm_bindgen_version)"
  if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $wbg"; then
    say "installing wasm-bindgen-cli $wbg (the Cargo.lock version)"
    # Without --locked: the registry lacks one of its locked dependency versions.
    cargo install wasm-bindgen-cli --version "$wbg"
  fi
  if ! "$TOOLS/npm/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q 'version 132'; then
    command -v npm >/dev/null || ensure_apt nodejs npm
    say "installing wasm-opt from npm's binaryen@132 (Debian's wasm-opt 108 breaks the output)"
    mkdir -p "$TOOLS/npm"
    (cd "$TOOLS/npm" && npm install --no-audit --no-fund --silent binaryen@132 >/dev/null)
  fi
}

# Chromium + its driver for the browser tests, Mesa's Vulkan (lavapipe) for
# the native GPU tests.
ensure_test_tools() {
  ensure_web_tools
  ensure_apt chromium chromium-driver mesa-vulkan-drivers
  # axe-core for the browser tests' accessibility audit (tests/browser/views.rs
  # injects axe.min.js through WebDriver; the page's CSP does not apply there).
  if ! grep -qs '"version": "4\.14\.' "$TOOLS/npm/node_modules/axe-core/package.json"; then
    command -v npm >/dev/null || ensure_apt nodejs npm
    say "installing axe-core 4.14 from npm"
    mkdir -p "$TOOLS/npm"
    (cd "$TOOLS/npm" && npm install --no-audit --no-fund --silent axe-core@4.14 >/dev/null)
  fi
  # numpy for the benchmark tooling's tests (tests/benchmarks.rs): pip for
  # the python3 on PATH, or Debian's package where pip may not install.
  if ! python3 -c 'import numpy' 2>/dev/null; then
    command -v python3 >/dev/null || ensure_apt python3
    say "installing numpy for python3"
    python3 -m pip install --quiet numpy 2>/dev/null || ensure_apt python3-numpy
  fi
}
