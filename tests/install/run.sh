#!/usr/bin/env bash
# run.sh BUILD_DIR C_COMPILER [CMAKE] - installs a build into a temporary prefix and uses it as a
# program outside the project would (CTest's `install` test, tests/CMakeLists.txt):
#   1. the files: sutra.h, libsutra.so with its SONAME links, libsutra.a, sutra.pc, the CMake
#      package, the CLI;
#   2. libsutra.so exports exactly the calls include/sutra.h declares with SUTRA_API (or
#      SUTRA_EXPERIMENTAL): the list comes from the installed header, so a new call needs no
#      second list here;
#   3. embed_check.c built with `pkg-config --cflags --libs sutra` (run against the installed
#      libsutra.so through LD_LIBRARY_PATH), with `pkg-config --static` (libsutra.a, its
#      dependencies from Requires.private / Libs.private), and with find_package(Sutra) in the
#      project tests/install/CMakeLists.txt (Sutra::sutra, which finds libsutra.so through the
#      run path CMake gives it, and Sutra::sutra_static); each embeds with the default model;
#   4. the installed CLI runs and reports the same version.
# Exits non-zero at the first failure, saying which.
set -euo pipefail
build=$(cd "$1" && pwd)
cc=$2
cmake=${3:-cmake}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "install check: FAIL: $*" >&2; exit 1; }

prefix=$tmp/prefix
"$cmake" --install "$build" --prefix "$prefix" > "$tmp/install.log" || { cat "$tmp/install.log"; fail "cmake --install"; }

# 1. the files
header=$prefix/include/sutra.h
[ -f "$header" ] || fail "no include/sutra.h"
version_part() { sed -n "s/^#define SUTRA_VERSION_$1 \([0-9]*\)$/\1/p" "$header"; }
major=$(version_part MAJOR) minor=$(version_part MINOR) patch=$(version_part PATCH)
version=$major.$minor.$patch
pc=$(find "$prefix" -name sutra.pc)
[ -n "$pc" ] || fail "no sutra.pc"
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")
for f in libsutra.so libsutra.so.$major libsutra.so.$version libsutra.a cmake/Sutra/SutraConfig.cmake \
         cmake/Sutra/SutraConfigVersion.cmake cmake/Sutra/SutraTargets.cmake cmake/Sutra/SutraStaticTargets.cmake; do
  [ -e "$libdir/$f" ] || fail "no $libdir/$f"
done
[ -L "$libdir/libsutra.so" ] && [ -L "$libdir/libsutra.so.$major" ] || fail "libsutra.so and libsutra.so.$major are not links"
[ -x "$prefix/bin/sutra" ] || fail "no bin/sutra"
soname=$(objdump -p "$libdir/libsutra.so.$version" | awk '$1 == "SONAME" {print $2}')
[ "$soname" = "libsutra.so.$major" ] || fail "SONAME is '$soname', not libsutra.so.$major"

# 2. the exported symbols against the header's SUTRA_API declarations (comments and macros
# resolved by the preprocessor; SUTRA_EXPERIMENTAL is SUTRA_API)
"$cc" -E -P -DSUTRA_API=SUTRA_EXPORTED_MARK "$header" | tr '\n' ' ' | grep -o 'SUTRA_EXPORTED_MARK[^;(]*(' |
  sed -E 's/\($//; s/.*[ *]//' | sort > "$tmp/declared"
nm -D --defined-only "$libdir/libsutra.so" | awk '{print $NF}' | sed 's/@.*//' | sort > "$tmp/exported"
[ "$(wc -l < "$tmp/declared")" -gt 20 ] || fail "found only $(wc -l < "$tmp/declared") SUTRA_API declarations in sutra.h"
if ! diff "$tmp/declared" "$tmp/exported" > "$tmp/symbols.diff"; then
  echo "'<' declared with SUTRA_API but not exported, '>' exported but not declared:" >&2
  cat "$tmp/symbols.diff" >&2
  fail "libsutra.so's exports differ from sutra.h"
fi
echo "install check: libsutra.so ($soname) exports the $(wc -l < "$tmp/exported") calls sutra.h declares"

# 3a. pkg-config, shared: the installed libsutra.so must be the one the program loads
export PKG_CONFIG_PATH=$pcdir
[ "$(pkg-config --modversion sutra)" = "$version" ] || fail "sutra.pc says $(pkg-config --modversion sutra), sutra.h $version"
# shellcheck disable=SC2046
"$cc" -std=c11 -o "$tmp/check_pc" "$here/embed_check.c" $(pkg-config --cflags --libs sutra) -lm
loaded=$(LD_LIBRARY_PATH=$libdir ldd "$tmp/check_pc" | awk '$1 == "libsutra.so.'"$major"'" {print $3}')
[ "$loaded" = "$libdir/libsutra.so.$major" ] || fail "check_pc loads '$loaded', not $libdir/libsutra.so.$major"
LD_LIBRARY_PATH=$libdir "$tmp/check_pc" "pkg-config, libsutra.so"

# 3b. pkg-config --static: libsutra.a itself (-l:libsutra.a, since -lsutra takes the .so) and
# everything it needs, from sutra.pc alone
static_libs=$(pkg-config --static --libs sutra | sed -E 's/(^| )-lsutra( |$)/\1-l:libsutra.a\2/')
# shellcheck disable=SC2086
"$cc" -std=c11 -o "$tmp/check_static" "$here/embed_check.c" $(pkg-config --cflags sutra) $static_libs -lm
if ldd "$tmp/check_static" | grep -q libsutra; then fail "check_static loads libsutra.so"; fi
"$tmp/check_static" "pkg-config --static, libsutra.a"

# 3c. find_package(Sutra): Sutra::sutra and Sutra::sutra_static, no LD_LIBRARY_PATH
"$cmake" -S "$here" -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_BUILD_TYPE=Release -DSUTRA_VERSION="$major.$minor" > "$tmp/cmake.log" 2>&1 ||
  { cat "$tmp/cmake.log"; fail "configuring a project with find_package(Sutra $major.$minor)"; }
"$cmake" --build "$tmp/cmake" > "$tmp/cmake-build.log" 2>&1 || { cat "$tmp/cmake-build.log"; fail "building it"; }
"$tmp/cmake/embed_check_shared" "find_package, Sutra::sutra"
"$tmp/cmake/embed_check_static" "find_package, Sutra::sutra_static"

# 4. the installed CLI
"$prefix/bin/sutra" info | grep -q "\"sutra_version\": \"$version\"" || fail "bin/sutra info does not say $version"
echo "install check: passed (prefix $prefix)"
