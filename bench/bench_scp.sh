#!/bin/sh
# SCP upload and download through luassh's ssh.scp beside OpenSSH's
# `scp -O` (the legacy SCP protocol), in the same run (issue 8).
#
# One OpenSSH sshd on a random loopback port (its own config, host and
# user keys in a temp dir) runs the remote `scp -t` / `scp -f` for both
# clients, so only the client differs.  A file of BENCH_BYTES random bytes
# is uploaded to and downloaded from the same machine (page cache: the
# disk does not count), per cipher:
#   luassh   ssh.scp(src, dst, {...}) in a small script run by luassh;
#   scp -O   OpenSSH's scp, which runs OpenSSH's ssh.
# Every client runs as a child under /usr/bin/time: CPU is the user+sys
# time of the client and its children (scp waits for its ssh).  Each
# client also copies a 0-byte file with the same cipher, and its figures
# (start-up, key exchange, auth) are subtracted, so that they are per byte
# moved:
#   MB/s       = BENCH_BYTES / (wall - wall_0) / 1e6
#   CPU s/GiB  = (cpu - cpu_0) * 2^30 / BENCH_BYTES
#   ratio      = luassh CPU s/GiB / scp -O's (below 1: luassh is cheaper)
# Every copy is compared with the original (cmp) outside the timing.
#
# Environment: BENCH_BYTES (default 1073741824), BENCH_CIPHERS (default
# "aes128-gcm@openssh.com chacha20-poly1305@openssh.com"), BENCH_MAC (for
# non-AEAD ciphers; default hmac-sha2-256-etm@openssh.com).
# Run from the repository root:  sh bench/bench_scp.sh [build-dir]
set -eu

BUILD=${1:-build}
LUASSH=${LUASSH:-$BUILD/luassh}
BYTES=${BENCH_BYTES:-1073741824}
CIPHERS=${BENCH_CIPHERS:-"aes128-gcm@openssh.com chacha20-poly1305@openssh.com"}
MAC=${BENCH_MAC:-hmac-sha2-256-etm@openssh.com}
SSHD=/usr/sbin/sshd
TIME=/usr/bin/time

for tool in "$SSHD" "$TIME" scp ssh-keygen "$LUASSH"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "bench_scp: $tool not found, skipped"
        exit 0
    fi
done
case $LUASSH in /*) ;; *) LUASSH=$PWD/$LUASSH ;; esac

W=$(mktemp -d)
PIDFILE=$W/sshd.pid
cleanup() {
    if [ -f "$PIDFILE" ]; then kill "$(cat "$PIDFILE")" 2>/dev/null || true; fi
    rm -rf "$W"
}
trap cleanup EXIT INT TERM

ssh-keygen -q -N '' -t ed25519 -f "$W/host_key"
ssh-keygen -q -N '' -t ed25519 -f "$W/user_key"
cp "$W/user_key.pub" "$W/authorized_keys"
mkdir -p /run/sshd 2>/dev/null || true

# sshd on a free port.
started=0
for attempt in 1 2 3 4 5 6 7 8 9 10; do
    PORT=$(awk 'BEGIN { srand(); print 20000 + int(rand() * 40000) }')
    cat > "$W/sshd_config" <<EOF
Port $PORT
ListenAddress 127.0.0.1
HostKey $W/host_key
PidFile $PIDFILE
AuthorizedKeysFile $W/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
Compression no
Ciphers aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes256-ctr
MACs hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256
SetEnv SHLVL=1
LogLevel ERROR
EOF
    rm -f "$W/sshd.log"
    "$SSHD" -D -E "$W/sshd.log" -f "$W/sshd_config" &
    for i in $(seq 50); do
        if [ -f "$PIDFILE" ]; then started=1; break; fi
        if ! kill -0 $! 2>/dev/null; then break; fi
        sleep 0.05
    done
    [ "$started" = 1 ] && break
done
if [ "$started" != 1 ]; then
    echo "bench_scp: could not start sshd"; cat "$W/sshd.log" 2>/dev/null
    exit 1
fi
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$W/host_key.pub")" > "$W/known_hosts"

cat > "$W/client.lua" <<'EOF'
-- client.lua cipher mac port key known_hosts src dst
local ssh = require "luassh"
local cipher, mac, port, key, kh, src, dst = table.unpack(arg, 1, 7)
ssh.scp(src, dst, {
  port = tonumber(port), username = "root", client_keys = {key},
  known_hosts = kh, encryption_algs = {cipher}, mac_algs = {mac},
  compression_algs = false, server_host_key_algs = {"ssh-ed25519"},
  agent_path = false, config = false,
})
EOF

head -c "$BYTES" /dev/urandom > "$W/data"
: > "$W/empty"
mkdir "$W/out"

# run <client> <cipher> <src> <dst>: runs one copy under time(1), leaves
# "wall cpu" in $W/t.
run() {
    client=$1; cipher=$2; src=$3; dst=$4
    rm -f "$W/out/f"
    if [ "$client" = luassh ]; then
        "$TIME" -f "%e %U %S" -o "$W/time" "$LUASSH" "$W/client.lua" \
            "$cipher" "$MAC" "$PORT" "$W/user_key" "$W/known_hosts" \
            "$src" "$dst" || { echo "luassh scp failed"; exit 1; }
    else
        "$TIME" -f "%e %U %S" -o "$W/time" scp -O -q -F /dev/null \
            -o BatchMode=yes -o StrictHostKeyChecking=yes \
            -o UserKnownHostsFile="$W/known_hosts" -o IdentitiesOnly=yes \
            -o IdentityAgent=none -o HostKeyAlgorithms=ssh-ed25519 \
            -o Compression=no -o MACs="$MAC" -c "$cipher" \
            -i "$W/user_key" -P "$PORT" "$src" "$dst" \
            || { echo "scp -O failed"; exit 1; }
    fi
    awk '{ printf "%s %.3f\n", $1, $2 + $3 }' "$W/time" > "$W/t"
}

# measure <client> <cipher> <direction>: prints "MB/s cpu_s_per_GiB".
measure() {
    client=$1; cipher=$2; dir=$3
    remote=root@127.0.0.1
    if [ "$dir" = upload ]; then
        run "$client" "$cipher" "$W/empty" "$remote:$W/out/f"
        base=$(cat "$W/t")
        run "$client" "$cipher" "$W/data" "$remote:$W/out/f"
    else
        run "$client" "$cipher" "$remote:$W/empty" "$W/out/f"
        base=$(cat "$W/t")
        run "$client" "$cipher" "$remote:$W/data" "$W/out/f"
    fi
    full=$(cat "$W/t")
    cmp -s "$W/data" "$W/out/f" || { echo "$client $dir: copy differs"; exit 1; }
    echo "$base $full" | awk -v b="$BYTES" '{
        wall = $3 - $1; cpu = $4 - $2
        if (wall <= 0) wall = 0.001
        if (cpu < 0) cpu = 0
        printf "%.1f %.3f\n", b / wall / 1e6, cpu * 1073741824 / b }'
}

echo "SCP of $BYTES bytes over loopback; OpenSSH sshd on port $PORT" \
     "runs the remote scp for both clients"
printf '%-30s %-9s %-7s %9s %10s %8s\n' cipher direction client MB/s \
       "CPU s/GiB" ratio
for cipher in $CIPHERS; do
    for dir in upload download; do
        l=$(measure luassh "$cipher" "$dir")
        o=$(measure openssh "$cipher" "$dir")
        echo "$l $o" | awk -v c="$cipher" -v d="$dir" '{
            r = ($4 > 0) ? $2 / $4 : 0
            printf "%-30s %-9s %-7s %9.1f %10.3f %8.2f\n", c, d, "luassh", $1, $2, r
            printf "%-30s %-9s %-7s %9.1f %10.3f\n", "", d, "scp -O", $3, $4 }'
    done
done
