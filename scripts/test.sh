#!/usr/bin/env bash
# Runs every test exactly as CI does. Sets up what the tests need first:
#  - a Python virtualenv (.venv) with CCF's own `ccf` package, the independent checker of
#    our ledger and receipt formats (read_ledger.py, ccf.receipt), and real clients
#    (requests, httpx, web3.py with eth-account);
#  - the npm packages of the Ethereum client tests (ethers, solc, OpenZeppelin, anvil);
#  - cargo-nextest.
# Tests that need a tool fail (never skip) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

CCF_VERSION="6.0.28"
PY_PACKAGES=("ccf==$CCF_VERSION" "requests==2.32.*" "httpx==0.28.*" "web3==7.*" "eth-account==0.13.*")
if ! .venv/bin/python -c "import ccf, requests, httpx, web3, eth_account, importlib.metadata as m; assert m.version('ccf') == '$CCF_VERSION'" 2>/dev/null; then
  echo "==> creating .venv with ${PY_PACKAGES[*]}"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet "${PY_PACKAGES[@]}"
fi
command -v curl >/dev/null || { echo "curl is required by the end-to-end tests" >&2; exit 1; }
# CCF's submit_recovery_share.sh (run by the recovery tests) needs jq and openssl.
for tool in jq openssl; do
  if ! command -v "$tool" >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "==> installing $tool"
      apt-get install -y -qq "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$tool"; }
    fi
    command -v "$tool" >/dev/null || { echo "$tool is required by the recovery tests (CCF's submit_recovery_share.sh)" >&2; exit 1; }
  fi
done

# npm packages of the Ethereum client tests (ethers, solc, OpenZeppelin, anvil), pinned by
# crates/consort/tests/js/package-lock.json.
command -v node >/dev/null && command -v npm >/dev/null \
  || { echo "Node.js 20+ with npm is required by the Ethereum client tests" >&2; exit 1; }
JS=crates/consort/tests/js
if ! cmp -s "$JS/package-lock.json" "$JS/node_modules/.package-lock.json.installed"; then
  echo "==> npm ci in $JS"
  (cd "$JS" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$JS/package-lock.json" "$JS/node_modules/.package-lock.json.installed"
fi
export CONSORT_PYTHON="$PWD/.venv/bin/python"

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "==> installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo nextest"
cargo nextest run --workspace --locked --no-fail-fast "$@"
