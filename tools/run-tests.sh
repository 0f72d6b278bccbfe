#!/bin/sh
# Runs every test against one build directory and ends with the line
# "N passed, N failed".  Exits non-zero on any failure.
#   C unit tests:   BUILD/test/test_*          (cmocka)
#   busted specs:   spec/**/*_spec.lua, run inside BUILD/luassh
# Set SPEC=path to run only some specs; SKIP_C=1 to skip the C tests.
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
LUASSH_BIN="$ROOT/$BUILD/luassh"
export LUASSH_BIN
export LUASSH_ROOT="$ROOT"
# OpenSSH's test data ships in the shared folder beside the checkout.
if [ -z "${LSH_OPENSSH_TESTDATA:-}" ] &&
    [ -d "$ROOT/../shared/specs/openssh-testdata" ]; then
    LSH_OPENSSH_TESTDATA="$ROOT/../shared/specs/openssh-testdata"
    export LSH_OPENSSH_TESTDATA
fi
passed=0
failed=0
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

if [ "${SKIP_C:-0}" != 1 ]; then
    for t in "$BUILD"/test/test_*; do
        [ -x "$t" ] || continue
        name=$(basename "$t")
        "$t" >"$log/$name.out" 2>&1
        rc=$?
        p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log/$name.out" | tail -1)
        f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log/$name.out" | tail -1)
        p=${p:-0}
        f=${f:-0}
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            f=1 # crashed or aborted before cmocka could count
        fi
        if [ "$f" -ne 0 ]; then
            echo "FAIL $name"
            sed 's/^/    /' "$log/$name.out" | grep -v '^    \[ \(RUN\|       OK\) ' | tail -40
        else
            echo "ok   $name ($p)"
        fi
        passed=$((passed + p))
        failed=$((failed + f))
    done
fi

specs=${SPEC:-spec}
busted --lua="$LUASSH_BIN" -o TAP $specs >"$log/busted.out" 2>&1
rc=$?
p=$(grep -c '^ok ' "$log/busted.out")
f=$(grep -c '^not ok ' "$log/busted.out")
# busted prints its plan ("1..N") last; without it busted died mid-run
# (a crash or a sanitizer abort) and the remaining specs never ran.
if ! grep -q '^1\.\.[0-9]' "$log/busted.out"; then
    f=$((f + 1))
    echo "FAIL busted did not finish (exit $rc); its last output:"
    tail -40 "$log/busted.out" | sed 's/^/    /'
elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
    echo "FAIL busted exited $rc without a failing test:"
    tail -30 "$log/busted.out" | sed 's/^/    /'
fi
if [ "$f" -ne 0 ]; then
    # Show each failure with its diagnostics.
    awk '/^not ok /{show=1; print; next} /^(ok |1\.\.)/{show=0} show{print "    " $0}' "$log/busted.out"
fi
echo "busted: $p passed, $f failed"
passed=$((passed + p))
failed=$((failed + f))

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
