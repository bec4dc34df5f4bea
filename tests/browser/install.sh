#!/usr/bin/env bash
# Installs what tests/test_browser.py needs: Debian's Chromium and playwright-core (which drives
# that Chromium; it never downloads a browser of its own). Idempotent: skips what is there.
# Needs root for apt-get. Exits non-zero when something cannot be installed; .ci/run carries on
# and the browser test then fails with the reason (under CI it never skips).
set -euo pipefail
cd "$(dirname "$0")"

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "browser deps: need root to apt-get install $*" >&2
    return 1
  fi
  if [ -z "${APT_UPDATED:-}" ]; then
    apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ ! -x /usr/bin/chromium ]; then
  echo "browser deps: installing Debian's chromium"
  apt_install chromium
fi
if ! command -v npm >/dev/null; then
  echo "browser deps: installing nodejs and npm"
  apt_install nodejs npm
fi
# package-lock.json pins playwright-core; npm ci only when node_modules is missing or stale
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "browser deps: npm ci (playwright-core)"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "browser deps: $(/usr/bin/chromium --version 2>/dev/null | tail -1), node $(node --version)," \
  "playwright-core $(node -p "require('playwright-core/package.json').version")"
