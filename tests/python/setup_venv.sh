#!/usr/bin/env bash
# The Python package as a user installs it: a fresh virtual environment at $1, `pip install` of the
# repository ($2) into it (scikit-build-core builds libsutra.so with CMake), then the test tools:
# pytest, and Ray Data with pyarrow for python/tests/test_ray.py. CTest's setup fixture for the
# python_* tests (tests/CMakeLists.txt). Versions pinned; PyPI only.
set -euo pipefail
venv="$1"
repo="$2"
rm -rf "$venv"
python3 -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)
"${pip[@]}" install "$repo"
"${pip[@]}" install "pytest==8.4.2" "ray[data]==2.60.0" "pyarrow==22.0.0"
"$venv/bin/python" -c "import sutra, ray, pyarrow; print('python package:', sutra.__version__, 'library', sutra.library_version(), 'ray', ray.__version__)"
