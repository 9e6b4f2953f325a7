#!/usr/bin/env bash
# Runs every test Settee has, on a fresh machine: lint, unit and integration
# tests (cargo), then the black-box compatibility suites with real clients
# (their packages are installed from PyPI / npm into compat-suite/.venv).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt / clippy"
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings

echo "== cargo test (unit, property and integration tests)"
cargo test --locked

echo "== compat-suite: Python couchdb client"
cargo build --locked --bin settee
export SETTEE_BIN="$PWD/target/debug/settee"
VENV=compat-suite/.venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r compat-suite/python/requirements.txt
"$VENV/bin/python" -m pytest compat-suite/python -q

echo "== compat-suite: PouchDB replication (node)"
(cd compat-suite/node && npm ci --no-audit --no-fund --loglevel=error && node --test test/)

echo "== compat-suite: nano"
(cd compat-suite/nano && npm ci --no-audit --no-fund --loglevel=error && node --test test/)

echo "== compat-suite: Fauxton (/_utils) in headless Chromium"
if [ -z "${CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium for the browser test"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; then
      echo "chromium could not be installed: the browser test will be skipped"
    fi
  else
    echo "no chromium, and apt-get needs root: the browser test will be skipped"
  fi
fi
(cd compat-suite/fauxton && npm ci --no-audit --no-fund --loglevel=error && node --test test/)

echo "== compat-suite: couchbackup / couchrestore (the CouchDB part needs COUCHDB_URL)"
(cd compat-suite/backup && npm ci --no-audit --no-fund --loglevel=error && node --test test/)
