#!/usr/bin/env bash
# The test command (README and CI): lint, type-check and run the test suite against a real
# PostgreSQL server that the test run starts itself (tests/support/postgres.py).
# Works on a fresh Debian 12 machine as root: installs what is missing with apt-get and pip.
# Extra arguments go to pytest, e.g. `scripts/test.sh -k postgres -x`.
# Set HONED_TEST_POSTGRES_URL=postgresql+psycopg://user:pass@host:port/db to use an existing
# server instead of a throwaway cluster.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "scripts/test.sh: need root (or sudo) to run: $*" >&2
        return 1
    fi
}

apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then
        as_root apt-get update -q
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

# Python with venv (Debian splits venv/ensurepip into python3-venv).
if [ ! -x .venv/bin/python ]; then
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' 2>/dev/null
    then
        apt_install python3 python3-venv
    fi
    echo "==> creating .venv"
    python3 -m venv .venv
fi

echo "==> pip install -e '.[test]'"
.venv/bin/pip install -q -e '.[test]'

# PostgreSQL server binaries (the tests start their own throwaway cluster from them; the
# system cluster is neither needed nor started here).
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    echo "==> installing PostgreSQL server binaries"
    apt_install postgresql
fi

# Debian's Chromium for the dashboard's browser tests (Playwright drives it; Playwright's own
# browser download is not used).
if [ ! -x /usr/bin/chromium ]; then
    echo "==> installing chromium"
    apt_install chromium
fi

failed=()
step() {
    local name=$1
    shift
    echo "==> $name"
    if ! "$@"; then
        failed+=("$name")
    fi
}

step "ruff check" .venv/bin/ruff check .
step "ruff format --check" .venv/bin/ruff format --check .
step "mypy" .venv/bin/mypy
# The layers of the design and who may import torch ([tool.importlinter] in pyproject.toml).
step "import contracts" .venv/bin/lint-imports --no-cache
# Two processes, each taking a whole test file at a time (a file's module fixtures, its
# servers and clusters, start once): most tests wait on servers and subprocesses, so this
# takes about three quarters of the time of one process (docs/decisions.md: The test suite
# in two processes). HONED_TEST_PROCESSES=0 runs it in this process (pdb, -s).
step "pytest" .venv/bin/pytest -n "${HONED_TEST_PROCESSES:-2}" --dist loadfile "$@"

if [ "${#failed[@]}" -ne 0 ]; then
    echo "==> FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "==> all checks passed"
