#!/usr/bin/env bash
# Creates or refreshes everything the workspace needs on a fresh machine of this kind:
# the Python venv (.venv) with the project, its server, scale and test extras and (for
# make test) its compat extra, Debian's Chromium for the browser tests, Debian's
# redis-server for the scale-out tests, and wscat from npm for the third-party client
# tests.  Idempotent: each step is skipped when its stamp
# says it is already done for the current inputs.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
want_system=${1:-all}   # "python" = venv only (enough to run the workspace)

stamp_of() { sha256sum "$@" | sha256sum | cut -c1-16; }

py_stamp=".venv/.installed-$(stamp_of pyproject.toml)"
if [ ! -x .venv/bin/python ]; then
    echo "[bootstrap] creating .venv"
    "$PY" -m venv .venv
fi
if [ ! -f "$py_stamp" ]; then
    echo "[bootstrap] installing the project and its server, scale, test and native extras into .venv"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[server,scale,test,native]'
    rm -f .venv/.installed-*
    touch "$py_stamp"
fi

# The account core compiled with mypyc into .native/ (skipped when current; a failed
# build is reported and the same modules run as plain Python).  mypyc needs a C compiler.
if ! command -v cc >/dev/null 2>&1 && ! command -v gcc >/dev/null 2>&1; then
    echo "[bootstrap] installing Debian's gcc for the compiled account core"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq gcc libc6-dev >/dev/null || true
fi
.venv/bin/python scripts/build_native.py || echo "[bootstrap] continuing with the plain-Python account core"

[ "$want_system" = "python" ] && exit 0

# The real Binance client libraries tests/compat/ drive against the simulator (make test).
compat_stamp=".venv/.compat-$(stamp_of pyproject.toml)"
if [ ! -f "$compat_stamp" ]; then
    echo "[bootstrap] installing the compat extra (ccxt, python-binance, binance-connector, cryptofeed)"
    .venv/bin/python -m pip install --quiet -e '.[server,scale,test,native,compat]'
    rm -f .venv/.compat-*
    touch "$compat_stamp"
fi

if ! command -v chromium >/dev/null 2>&1; then
    echo "[bootstrap] installing Debian's chromium for the browser tests"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

if ! command -v redis-server >/dev/null 2>&1; then
    # The scale-out tests start their own redis-server (a free port, a temporary
    # folder); the single-process workspace never needs it.
    echo "[bootstrap] installing Debian's redis-server for the scale-out tests"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi

node_stamp="node_modules/.installed-$(stamp_of package.json package-lock.json 2>/dev/null || stamp_of package.json)"
if [ ! -f "$node_stamp" ]; then
    echo "[bootstrap] installing npm test tools (wscat)"
    if [ -f package-lock.json ]; then npm ci --silent --no-audit --no-fund; else npm install --silent --no-audit --no-fund; fi
    rm -f node_modules/.installed-*
    touch "$node_stamp"
fi
