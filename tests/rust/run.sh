#!/usr/bin/env bash
# run.sh BUILD_DIR [CMAKE] - the Rust crate (bindings/rust) as a Rust program gets it: this build
# installed into a temporary prefix, the crate built against it through pkg-config
# (PKG_CONFIG_PATH) with `cargo test --offline` (no crates are fetched: it has no dependencies),
# which runs the design note's example (tests/design_note.rs), the layout check against sutra.h
# (tests/layout.rs) and the doc example's compile. CTest's `rust_crate` (tests/CMakeLists.txt).
# Exit 77 (skip) only when there is no cargo at all.
set -euo pipefail
build=$(cd "$1" && pwd)
cmake=${2:-cmake}
repo=$(cd "$(dirname "$0")/../.." && pwd)
[ -x "$HOME/.cargo/bin/cargo" ] && PATH="$PATH:$HOME/.cargo/bin"
command -v cargo > /dev/null 2>&1 || { echo "rust crate: SKIP: no cargo (scripts/install-deps.sh installs it)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$cmake" --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log" || { cat "$tmp/install.log"; exit 1; }
pc=$(dirname "$(find "$tmp/prefix" -name sutra.pc)")
export PKG_CONFIG_PATH="$pc${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
# the crate's build output stays in this build's folder (not the source tree), rebuilt per prefix
export CARGO_TARGET_DIR="$build/rust-target"
cargo --version
cargo test --offline --quiet --manifest-path "$repo/bindings/rust/Cargo.toml" -- --test-threads 1
cargo build --offline --quiet --manifest-path "$repo/bindings/rust/Cargo.toml" --example embed
"$CARGO_TARGET_DIR/debug/examples/embed" "A man is playing a guitar." | grep -q "(384 dims)"
echo "rust crate: ok"
