#!/bin/sh
# Builds every libFuzzer target in spec/fuzz/ with clang (ASan + UBSan)
# and runs each for FUZZ_SECONDS (default 60).  Corpora persist in
# build-fuzz/corpus/<target>.  Exits non-zero if any target finds a crash.
set -eu
SECONDS_EACH=${FUZZ_SECONDS:-60}
OUT=build-fuzz
CC=${FUZZ_CC:-clang}
FLAGS="-std=c11 -D_GNU_SOURCE -DLSH_TESTING -g -O1 -fsanitize=fuzzer-no-link,address,undefined -Isrc"
LIBS="$(pkg-config --libs libcrypto zlib) -lm"
mkdir -p "$OUT/obj" "$OUT/corpus"
objs=""
for src in $(find src/common src/crypto src/ssh -name '*.c' | sort); do
    obj="$OUT/obj/$(echo "$src" | tr / _).o"
    if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ]; then
        $CC $FLAGS -c "$src" -o "$obj"
    fi
    objs="$objs $obj"
done
status=0
targets=${FUZZ_TARGETS:-$(ls spec/fuzz/fuzz_*.c)}
for t in $targets; do
    name=$(basename "$t" .c)
    $CC $FLAGS -fsanitize=fuzzer "$t" $objs $LIBS -o "$OUT/$name"
    mkdir -p "$OUT/corpus/$name"
    echo "== $name (${SECONDS_EACH}s)"
    if ! "$OUT/$name" -max_total_time="$SECONDS_EACH" -max_len=70000 \
            -print_final_stats=0 "$OUT/corpus/$name" 2>"$OUT/$name.log"; then
        echo "FAIL $name: see $OUT/$name.log"
        tail -30 "$OUT/$name.log"
        status=1
    else
        grep -E '^(#[0-9]+\s+DONE|Done)' "$OUT/$name.log" | tail -1 || true
    fi
done
exit $status
