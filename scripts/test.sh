#!/usr/bin/env bash
# Installs what the tests need and runs them: the README's test command, and
# exactly what CI runs (.ci/run). Extra arguments go to pytest.
#
# - a virtual environment in .venv with requirements-test.txt;
# - the formatter's and the linter's checks (ruff, configured in
#   pyproject.toml): an unformatted file or a lint finding fails the run;
# - Debian's chromium for the browser tests, when it is missing and apt-get
#   can install it (as root or through sudo); elsewhere the browser tests
#   are skipped, except under CI=true where they fail instead.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r requirements-test.txt

if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else sudo="skip"; fi
  if [ "$sudo" != "skip" ]; then
    echo "installing Debian's chromium for the browser tests"
    $sudo apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  fi
fi

echo "ruff: format and lint checks"
.venv/bin/ruff format --check --quiet .
.venv/bin/ruff check --quiet .

exec .venv/bin/python -m pytest "$@"
