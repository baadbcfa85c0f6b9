#!/usr/bin/env bash
# Installs the CUTLASS headers (include/cutlass, include/cute; header-only, nothing to build) into
# $SUTRA_CUTLASS_DIR (default ~/.cache/sutra/cutlass-4.2.0), from the PyPI wheel nvidia-cutlass,
# which carries them under cutlass_library/source/include. The CUDA backend's Hopper matrix
# product with the exact-GELU epilogue (src/backend/cuda/gemm_sm90_*.cu) is compiled only when
# they are there. The wheel is pinned by version and sha256; nothing is installed into Python.
# Idempotent: when the headers are in place it only checks a stamp file and exits.
set -euo pipefail
version=4.2.0.0
sha256=f9599ada45c7bcb6bf53f7d3f0a7d154183e53451c01bfa59eecd37dd4a693f6
dest="${SUTRA_CUTLASS_DIR:-$HOME/.cache/sutra/cutlass-4.2.0}"
stamp="$dest/.sutra-cutlass-$version"
if [ -f "$stamp" ] && [ -f "$dest/include/cutlass/cutlass.h" ] && [ -f "$dest/include/cute/tensor.hpp" ]; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetching CUTLASS $version headers (PyPI: nvidia-cutlass) into $dest"
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "nvidia-cutlass==$version"
whl="$tmp/nvidia_cutlass-$version-py3-none-any.whl"
got=$(sha256sum "$whl" | cut -d' ' -f1)
if [ "$got" != "$sha256" ]; then
  echo "fetch-cutlass: sha256 mismatch for $(basename "$whl"): got $got, want $sha256" >&2
  exit 1
fi
unzip -q "$whl" 'cutlass_library/source/include/cutlass/*' 'cutlass_library/source/include/cute/*' -d "$tmp/x"
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.partial"
mkdir -p "$dest.partial"
mv "$tmp/x/cutlass_library/source/include" "$dest.partial/include"
touch "$dest.partial/.sutra-cutlass-$version"
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "installed $dest/include"
