#!/usr/bin/env bash
# Install what the browser tests (tests/e2e, marker `browser`) need, idempotently:
#   - Debian's chromium package at /usr/bin/chromium (never a Playwright-downloaded browser);
#   - the Python `playwright` package (which carries its own driver) in a virtualenv.
#
# Usage: scripts/install-browser.sh [VENV]    (VENV defaults to .venv)
set -euo pipefail

VENV="${1:-.venv}"
CHROMIUM=/usr/bin/chromium

# The pip package must never fetch a browser build of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export DEBIAN_FRONTEND=noninteractive

if [ -x "$CHROMIUM" ]; then
    echo "chromium: already installed ($("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM"))"
else
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=()
    elif command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo --preserve-env=DEBIAN_FRONTEND)
    else
        echo "error: $CHROMIUM is missing and installing it needs root." >&2
        echo "       Run as root, or install sudo, or run: apt-get install chromium" >&2
        exit 1
    fi
    echo "chromium: installing Debian's package"
    "${SUDO[@]}" apt-get update
    "${SUDO[@]}" apt-get install -y --no-install-recommends chromium
    if [ ! -x "$CHROMIUM" ]; then
        echo "error: apt-get finished but $CHROMIUM is still missing." >&2
        exit 1
    fi
    echo "chromium: installed ($("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM"))"
fi

PYTHON="$VENV/bin/python"
if [ ! -x "$PYTHON" ]; then
    echo "error: no virtualenv at $VENV (expected $PYTHON)." >&2
    exit 1
fi
if "$PYTHON" -c "import playwright.sync_api" >/dev/null 2>&1; then
    echo "playwright: already installed in $VENV"
else
    echo "playwright: installing the Python package into $VENV"
    "$PYTHON" -m pip install --quiet "playwright>=1.45"
fi
