#!/usr/bin/env bash
# The mini-program kit's suite: node's own test runner for the kit and the legacy page (fake wx, and the real API
# through dev), and the simulator in headless Chromium. Installs what is missing: Debian's chromium and a CJK
# font (the page is in Chinese), and the pinned npm packages (package-lock.json; no browser download).
set -euo pipefail
cd "$(dirname "$0")/../miniprogram"
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
fc-list 2>/dev/null | grep -qi 'wqy\|noto.*cjk' || need+=(fonts-wqy-zenhei)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${need[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; }
fi
npm ci --no-audit --no-fund --loglevel=error
npm test
