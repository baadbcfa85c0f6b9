#!/usr/bin/env bash
# Installs the Debian packages Sutra builds and tests with, only those that are missing.
# Idempotent: a second run installs nothing and needs no network.
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libopenblas-openmp-dev libutf8proc-dev libcjson-dev libmicrohttpd-dev libzip-dev
      libcurl4-openssl-dev libssl-dev
      curl wrk unzip python3)
# the Rust crate's tests (bindings/rust) need cargo: Debian's, unless a Rust toolchain is there already
command -v cargo > /dev/null 2>&1 || [ -x "$HOME/.cargo/bin/cargo" ] || pkgs+=(cargo)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
