#!/bin/sh
# Builds and runs every benchmark in bench/.  Each prints its own table of
# luassh figures beside the reference measured in the same run.
set -eu
BUILD=${1:-build}
CC=${CC:-cc}
CFLAGS="-std=c11 -D_GNU_SOURCE -O2 -g -Isrc"
LIBS="$(pkg-config --libs libcrypto zlib) -lm"
mkdir -p "$BUILD/bench"
found=0
for b in bench/bench_*.c; do
    [ -f "$b" ] || continue
    found=1
    name=$(basename "$b" .c)
    $CC $CFLAGS "$b" "$BUILD/libluassh_core.a" $LIBS -o "$BUILD/bench/$name"
    echo "== $name"
    "$BUILD/bench/$name"
done
for b in bench/bench_*.lua; do
    [ -f "$b" ] || continue
    case $b in *_lib.lua) continue ;; esac # modules the benches require
    found=1
    echo "== $(basename "$b" .lua)"
    "$BUILD/luassh" "$b"
done
for b in bench/bench_*.sh; do
    [ -f "$b" ] || continue
    found=1
    echo "== $(basename "$b" .sh)"
    sh "$b" "$BUILD"
done
[ "$found" = 1 ] || echo "no benchmarks yet"
