#!/usr/bin/env bash
# Makes the Python environment the server tests run in: a virtual environment at $SUTRA_VENV
# (default ~/.cache/sutra/venv) holding the official `openai` client, numpy and huggingface_hub
# (the hub tests' reference client), pinned.
# Idempotent: an environment that already imports both is left alone (no network then).
set -euo pipefail
venv="${SUTRA_VENV:-$HOME/.cache/sutra/venv}"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import openai, numpy, huggingface_hub" > /dev/null 2>&1; then
  exit 0
fi
echo "making the test Python environment in $venv (openai, numpy from PyPI)"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "openai==2.8.1" "numpy==2.3.5" "huggingface_hub==2.4.0"
