#!/bin/sh
# Differential test of src/ssh/keys/known_hosts.c against `ssh-keygen -F`.
#
#   spec/interop/known_hosts_diff.sh [SEED]
#   env: KH_LINES (default 10000), KH_QUERIES (default 2000), CC (gcc),
#        KH_KEEP (a directory to copy the generated inputs and outputs to)
#
# Generates a random known_hosts file (plain and hashed names, '*' and '?'
# wildcards, negations, [host]:port forms, @cert-authority and @revoked
# markers, comments, blank lines, tabs, and malformed lines of many
# kinds) with keys made by ssh-keygen, and a list of host/port queries.
# For each query, `ssh-keygen -l -F NAME -f FILE` (NAME = host, or
# [host]:port when port != 22) announces every line it selects as
# "# Host NAME found: line N [CA|REVOKED]"; the driver known_hosts_diff.c
# prints the same for our matcher.  The two sets of lines are compared and
# the number of disagreements printed.  Then lines written by
# lsh_known_hosts_format_entry() (plain and hashed, various ports) must
# each be found by `ssh-keygen -F` at their own line number.  The exit
# status is 0 only if there are no disagreements and no misses.
#
# Why -l: plain `ssh-keygen -F` does not decode keys, so it also lists
# lines whose key is broken (bad base64, wrong type), which ssh(1) skips
# when it checks a host key.  With -l it decodes them and skips the same
# lines ssh(1) and we skip.  Lines are compared with their marker, so
# @cert-authority and @revoked selection is checked as well.
#
# Deliberate differences, kept out of the generated input (see the
# IMPLEMENTATION NOTES of known_hosts.c): ssh-keygen accepts only a space
# (not a tab) after a marker, and knows neither ssh-ed448 keys nor keys
# wider than our limits; certificates in known_hosts are rejected by us.
set -eu

SEED=${1:-$(date +%s)}
KH_LINES=${KH_LINES:-10000}
KH_QUERIES=${KH_QUERIES:-2000}
CC=${CC:-gcc}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/khdiff.XXXXXX")
cleanup() {
    if [ -n "${KH_KEEP:-}" ]; then
        rm -rf "$KH_KEEP" && cp -r "$WORK" "$KH_KEEP"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

cd "$ROOT"
$CC -std=c11 -D_GNU_SOURCE -O2 -Isrc -o "$WORK/driver" \
    spec/interop/known_hosts_diff.c \
    src/ssh/keys/known_hosts.c src/ssh/keys/trustfile.c \
    src/ssh/keys/key.c src/ssh/keys/key_dsa.c src/ssh/keys/key_ecdsa.c \
    src/ssh/keys/key_eddsa.c src/ssh/keys/key_rsa.c src/ssh/keys/key_sk.c \
    src/common/pattern.c src/common/buf.c src/common/error.c \
    src/common/mem.c src/common/rd.c -lcrypto

# A handful of real keys, reused on many lines.
for spec in ed25519:a ed25519:b ecdsa-256:c ecdsa-384:d ecdsa-521:e \
            rsa-1024:f rsa-2048:g dsa:h; do
    t=${spec%%:*}
    n=${spec##*:}
    case $t in
    ecdsa-*) ssh-keygen -q -t ecdsa -b "${t#ecdsa-}" -N '' -f "$WORK/k$n" ;;
    rsa-*) ssh-keygen -q -t rsa -b "${t#rsa-}" -N '' -f "$WORK/k$n" ;;
    *) ssh-keygen -q -t "$t" -N '' -f "$WORK/k$n" ;;
    esac
done
# Security-key public keys (no token needed to list them).
cp /work/shared/specs/openssh-testdata/sshsig/ed25519_sk.pub "$WORK/ki.pub" \
    2>/dev/null || true
cp /work/shared/specs/openssh-testdata/sshsig/ecdsa_sk.pub "$WORK/kj.pub" \
    2>/dev/null || true

python3 - "$SEED" "$KH_LINES" "$KH_QUERIES" "$WORK" "$WORK"/k*.pub <<'EOF'
import base64, hashlib, hmac, os, random, sys

seed, nlines, nqueries, work = sys.argv[1], int(sys.argv[2]), \
    int(sys.argv[3]), sys.argv[4]
rng = random.Random(int(seed))
keys = []
for path in sys.argv[5:]:
    t, b = open(path).read().split()[:2]
    keys.append((t, b))

names = ([f"host{i}.example.com" for i in range(60)] +
         [f"web-{i}.corp.example.org" for i in range(30)] +
         ["localhost", "gw", "db1", "db2", "git.example.net", "a", "ab"] +
         [f"10.{rng.randrange(3)}.{rng.randrange(4)}.{rng.randrange(256)}"
          for _ in range(40)] +
         [f"2001:db8::{rng.randrange(4096):x}" for _ in range(20)] +
         [f"fe80::{rng.randrange(16):x}:1" for _ in range(5)])
ports = [22] * 6 + [2222, 8022, 10022, 443, 65535]


def with_port(n, p):
    return n if p == 22 else f"[{n}]:{p}"


def upper_some(s):
    return "".join(c.upper() if rng.random() < 0.3 else c for c in s)


def wildcard(s):
    r = rng.random()
    if r < 0.3 and len(s) > 1:
        cs = list(s)
        for _ in range(rng.randint(1, 2)):
            cs[rng.randrange(len(cs))] = "?"
        return "".join(cs)
    if r < 0.5:
        i = rng.randrange(len(s) + 1)
        j = rng.randrange(i, len(s) + 1)
        return s[:i] + "*" + s[j:]
    # Mostly narrow wildcards: the name pool is small, and every line a
    # query selects costs ssh-keygen -l a key decode.
    if r < 0.7:
        return "*" + s[rng.randrange(max(len(s) // 3, 1)):]
    if r < 0.99:
        return s[:rng.randrange(len(s) * 2 // 3, len(s) + 1)] + "*"
    return rng.choice(["*.example.com", "10.0.*", "10.?.?.*", "2001:db8::*",
                       "[*]:2222", "[*.example.com]:*", "host?.example.com",
                       "*host1*", "web-*", "*", "?", "??", "*:*"])


def pattern():
    s = with_port(rng.choice(names), rng.choice(ports))
    r = rng.random()
    if r < 0.5:
        p = s
    elif r < 0.85:
        p = wildcard(s)
    else:
        p = upper_some(s)
    if rng.random() < 0.15:
        p = "!" + p
    return p


def hashed(name):
    salt = os.urandom(20) if rng.random() < 0.5 else \
        bytes(rng.randrange(256) for _ in range(20))
    mac = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return "|1|%s|%s" % (base64.b64encode(salt).decode(),
                         base64.b64encode(mac).decode())


def ws():
    return rng.choice([" ", " ", " ", "\t", "  ", " \t"])


def broken(hosts, t, b):
    r = rng.randrange(11)
    if r == 0:      # bad base64 character
        i = rng.randrange(len(b))
        return f"{hosts} {t} {b[:i]}!{b[i + 1:]}"
    if r == 1:      # missing padding / truncated text
        return f"{hosts} {t} {b[:-1]}"
    if r == 2:
        return f"{hosts} ssh-foo {b}"
    if r == 3:      # key type not matching the blob
        other = rng.choice([k for k in keys if k[0] != t])
        return f"{hosts} {other[0]} {b}"
    if r == 4:
        return f"{hosts} {t}"
    if r == 5:
        return f"@{rng.choice(['foo', 'revoke', 'cert_authority', 'CA'])} " \
               f"{hosts} {t} {b}"
    if r == 6:      # truncated blob, re-encoded
        raw = base64.b64decode(b)
        return f"{hosts} {t} {base64.b64encode(raw[:-5]).decode()}"
    if r == 7:      # salt of the wrong length
        return f"|1|c2FsdA==|{base64.b64encode(b'x' * 20).decode()} {t} {b}"
    if r == 8:
        return f"{hosts} #comment {t} {b}"
    if r == 9:      # two markers
        return f"@revoked @cert-authority {hosts} {t} {b}"
    return hosts


out = []
for _ in range(nlines):
    r = rng.random()
    if r < 0.03:
        out.append("# " + upper_some("comment " + rng.choice(names)))
        continue
    if r < 0.05:
        out.append(rng.choice(["", " ", "\t"]))
        continue
    # Mostly short keys: every ssh-keygen call reads the whole file.
    t, b = rng.choice(keys + [k for k in keys if len(k[1]) < 200] * 3)
    if rng.random() < 0.2:
        hosts = hashed(with_port(rng.choice(names), rng.choice(ports)))
    else:
        hosts = ",".join(pattern() for _ in range(rng.choice([1, 1, 2, 3, 4])))
        if rng.random() < 0.02:
            hosts += rng.choice([",", ",,x"])
    if r < 0.09:
        out.append(broken(hosts, t, b))
        continue
    line = hosts + ws() + t + ws() + b
    if rng.random() < 0.5:
        line += ws() + rng.choice(["user@host", "a comment", "#x", "k" * 30])
    m = rng.random()
    if m < 0.05:
        line = "@cert-authority " + line
    elif m < 0.10:
        line = "@revoked " + line
    if rng.random() < 0.05:
        line = ws() + line
    out.append(line)
with open(os.path.join(work, "known_hosts"), "w") as f:
    f.write("\n".join(out) + "\n")

qs = set()
while len(qs) < nqueries:
    r = rng.random()
    if r < 0.75:
        n = rng.choice(names)
    elif r < 0.85:
        n = upper_some(rng.choice(names))
    else:
        n = rng.choice([f"host{rng.randrange(1000)}.example.com",
                        f"x{rng.randrange(1000)}.example.org",
                        f"10.{rng.randrange(4)}.{rng.randrange(4)}.1",
                        f"2001:db8::{rng.randrange(100000):x}",
                        "unknown.invalid", "h", "webx"])
    qs.add((n, rng.choice(ports)))
with open(os.path.join(work, "queries"), "w") as f:
    for n, p in sorted(qs):
        f.write(f"{n} {p}\n")

# Requests for lsh_known_hosts_format_entry(): distinct names, any case
# (it lowercases them), plain or hashed.
fmt = rng.sample(sorted({(n, rng.choice(ports)) for n in names}), 100)
with open(os.path.join(work, "format_requests"), "w") as f:
    for n, p in fmt:
        f.write(f"{upper_some(n)} {p} {rng.randrange(2)}\n")
EOF

start=$(date +%s)
# ssh-keygen: one process per query, in two shards run side by side, each
# shard writing its own file so that outputs never interleave.
split -n l/2 "$WORK/queries" "$WORK/shard."
for s in "$WORK"/shard.*; do
    (
        while read -r h p; do
            if [ "$p" = 22 ]; then n=$h; else n="[$h]:$p"; fi
            ssh-keygen -l -F "$n" -f "$WORK/known_hosts" 2>/dev/null || true
        done <"$s" | grep '^# Host ' >"$s.out" || true
    ) &
done
wait
cat "$WORK"/shard.*.out | sort >"$WORK/theirs"
"$WORK/driver" "$WORK/known_hosts" "$WORK/queries" 2>"$WORK/driver.err" |
    sort >"$WORK/ours"
end=$(date +%s)

lines=$(wc -l <"$WORK/known_hosts")
queries=$(wc -l <"$WORK/queries")
found=$(wc -l <"$WORK/theirs")
only_theirs=$(comm -23 "$WORK/theirs" "$WORK/ours" | wc -l)
only_ours=$(comm -13 "$WORK/theirs" "$WORK/ours" | wc -l)
disagree=$((only_theirs + only_ours))
echo "seed $SEED: $lines lines ($(cat "$WORK/driver.err")), $queries queries"
echo "ssh-keygen -F reported $found line matches; $only_theirs only by" \
    "ssh-keygen, $only_ours only by us; $((end - start)) s"
echo "disagreements: $disagree"

# Lines we write must be found by ssh-keygen -F, each at its own line.
"$WORK/driver" --format "$WORK/ka.pub" "$WORK/format_requests" \
    >"$WORK/formatted"
misses=0
i=0
while read -r h p hashed; do
    i=$((i + 1))
    h=$(printf '%s' "$h" | tr 'A-Z' 'a-z')
    if [ "$p" = 22 ]; then n=$h; else n="[$h]:$p"; fi
    got=$(ssh-keygen -F "$n" -f "$WORK/formatted" 2>/dev/null |
        sed -n 's/^# Host .* found: line \([0-9]*\).*/\1/p' | tr '\n' ' ')
    if [ "$got" != "$i " ]; then
        echo "format: $n (hashed=$hashed) line $i: ssh-keygen found '$got'"
        misses=$((misses + 1))
    fi
done <"$WORK/format_requests"
echo "formatted lines: $i, not found by ssh-keygen -F: $misses"
if [ "$disagree" -ne 0 ] || [ "$misses" -ne 0 ]; then
    comm -3 "$WORK/theirs" "$WORK/ours" | head -20
    mkdir -p /tmp/khdiff-failed
    cp "$WORK/known_hosts" "$WORK/queries" "$WORK/theirs" "$WORK/ours" \
        /tmp/khdiff-failed/
    echo "inputs kept in /tmp/khdiff-failed"
    exit 1
fi
