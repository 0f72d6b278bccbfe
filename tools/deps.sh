#!/bin/sh
# Installs the Debian packages luassh needs to build and test, and nothing
# when they are all present.  Works as root or through sudo.
set -eu

PKGS="lua5.4 liblua5.4-dev libuv1-dev libssl-dev zlib1g-dev libfido2-dev
libedit-dev libcrypt-dev pkg-config lua-busted libcmocka-dev make gcc
openssh-server openssh-client openssh-sftp-server
python3 python3-paramiko python3-asyncssh bc tmux putty-tools dropbear-bin
curl"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing"
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "deps: need root or sudo to install:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
