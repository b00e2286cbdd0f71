#!/usr/bin/env bash
# The tests' Python: a virtual environment at $REPO/.venv with tests/python/requirements.txt
# (stock grpcio and its tools, cryptography, a nats-server binary), used by the tests that
# connect as a data team would (tests/python/stock_grpcio.py).
# Idempotent: does nothing while the venv exists, works and was made from the same
# requirements.txt and the same Python; otherwise makes it anew. PYTHON picks the
# interpreter (default python3, 3.10 or newer).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="$repo/.venv"
requirements="$repo/tests/python/requirements.txt"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "setup: $python is missing or older than 3.10 (set PYTHON=...)" >&2
  exit 1
fi
# Debian's python3 has no venv module (ensurepip) until python3-venv is installed.
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  source "$(dirname "$0")/install-packages.sh"
  install_packages python3-venv
fi

# What the venv was made from: the requirements and the interpreter's version and path.
want="$( { sha256sum <"$requirements"; "$python" -c 'import sys; print(sys.version, sys.executable)'; } | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$venv/bin/python" -c '' 2>/dev/null; then
  echo "setup: Python venv present at $venv"
  exit 0
fi

echo "setup: making the Python venv at $venv"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --no-cache-dir --disable-pip-version-check -r "$requirements"
echo "$want" >"$stamp"
echo "setup: Python venv at $venv ($("$venv/bin/python" --version), $("$venv/bin/nats-server" --version) at $venv/bin/nats-server)"
