#!/bin/sh
# Key files and certificates against OpenSSH's ssh-keygen, both ways.
#
#  - keys we write (every type ssh-keygen knows, formats openssh /
#    pkcs1-pem / pkcs8-pem, plain and encrypted, every openssh cipher)
#    must be read by `ssh-keygen -y` and give our public key, and
#    `ssh-keygen -l` must agree with our fingerprint;
#  - public keys we write as rfc4716 / pkcs8-pem / pkcs1-pem must come
#    back unchanged through `ssh-keygen -i`;
#  - certificates we sign must be accepted by `ssh-keygen -L` (which
#    checks the CA signature) and show our fields;
#  - keys, exports and certificates ssh-keygen makes must load here with
#    ssh-keygen's fingerprints and fields.
#
# Builds spec/interop/keygen_driver.c against src/ with $CC (default cc)
# and prints one "ok" / "not ok" line per check; exits non-zero on any
# failure, 77 when ssh-keygen is missing.  Usage: sh keygen_roundtrip.sh
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CC=${CC:-cc}
PW=luassh-test
if ! command -v ssh-keygen >/dev/null 2>&1; then
    echo "ssh-keygen not found: skipped"
    exit 77
fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
umask 077

KEYS_SRC=""
for f in key key_dsa key_ecdsa key_eddsa key_rsa key_sk keyfile \
         keyfile_openssh keyfile_pkcs keyfile_pub cert; do
    KEYS_SRC="$KEYS_SRC $ROOT/src/ssh/keys/$f.c"
done
# shellcheck disable=SC2086
if ! $CC -std=c11 -D_GNU_SOURCE -O1 -I"$ROOT/src" \
        "$ROOT/spec/interop/keygen_driver.c" $KEYS_SRC \
        "$ROOT"/src/crypto/*.c "$ROOT"/src/common/*.c -lcrypto \
        -o "$W/drv" 2>"$W/cc.log"; then
    echo "not ok - build keygen_driver"
    cat "$W/cc.log"
    exit 1
fi
DRV="$W/drv"
pass=0
fail=0

ok() {
    pass=$((pass + 1))
    echo "ok $((pass + fail)) - $1"
}
notok() {
    fail=$((fail + 1))
    echo "not ok $((pass + fail)) - $1"
    [ -s "$W/err" ] && sed 's/^/#   /' "$W/err" | head -5
}
# check DESC CMD...: ok if the command succeeds.
check() {
    _desc=$1
    shift
    if "$@" >"$W/out" 2>"$W/err"; then ok "$_desc"; else notok "$_desc"; fi
}
# same DESC A B: ok if the strings are equal and not empty.
same() {
    if [ -n "$2" ] && [ "$2" = "$3" ]; then
        ok "$1"
    else
        printf 'got "%s"\nwant "%s"\n' "$2" "$3" >"$W/err"
        notok "$1"
    fi
}
# blob of an OpenSSH one-line key file (type and base64).
blob() { awk '{print $1, $2; exit}' "$1"; }
# SHA256:... fingerprint ssh-keygen -l prints.
kgfp() { ssh-keygen -l -f "$1" 2>/dev/null | awk '{print $2; exit}'; }
ourfp() { "$DRV" fp "$@" 2>/dev/null | awk '{print $2}'; }
# -P for ssh-keygen: the passphrase or "" for none.
kgpass() { [ "$1" = - ] && echo "" || echo "$1"; }

cd "$W" || exit 2

echo "# our private keys -> ssh-keygen"
for t in ed25519 ecdsa256 ecdsa384 ecdsa521 rsa; do
    for fmt in openssh pkcs1-pem pkcs8-pem; do
        # ssh-keygen 9.x reads Ed25519 only from openssh-key-v1 files.
        case "$t.$fmt" in ed25519.pkcs*) continue ;; esac
        for p in - "$PW"; do
            k="k_${t}_${fmt}_$( [ "$p" = - ] && echo plain || echo enc)"
            d="$t $fmt $( [ "$p" = - ] && echo unencrypted || echo encrypted)"
            if ! "$DRV" gen "$t" "$k" "$fmt" "$p" >/dev/null 2>"$W/err"; then
                notok "$d: export"
                continue
            fi
            y=$(ssh-keygen -y -P "$(kgpass "$p")" -f "$k" 2>"$W/err" |
                awk '{print $1, $2}')
            same "$d: ssh-keygen -y gives our public key" "$y" "$(blob "$k.pub")"
            same "$d: ssh-keygen -l fingerprint" "$(kgfp "$k.pub")" \
                "$(ourfp "$k" "$p")"
        done
    done
done

echo "# our openssh-key-v1 ciphers -> ssh-keygen"
for c in aes128-ctr aes192-ctr aes256-ctr aes128-cbc aes192-cbc aes256-cbc \
         3des-cbc aes128-gcm@openssh.com aes256-gcm@openssh.com \
         chacha20-poly1305@openssh.com; do
    k="c_$c"
    if ! "$DRV" gen ed25519 "$k" openssh "$PW" "$c" >/dev/null 2>"$W/err"; then
        notok "cipher $c: export"
        continue
    fi
    y=$(ssh-keygen -y -P "$PW" -f "$k" 2>"$W/err" | awk '{print $1, $2}')
    same "cipher $c: ssh-keygen -y" "$y" "$(blob "$k.pub")"
    # ...and ssh-keygen's rewrite of it with a new passphrase reads back.
    cp "$k" "$k.re"
    check "cipher $c: ssh-keygen -p re-encrypts it" \
        ssh-keygen -q -p -a 2 -P "$PW" -N other -f "$k.re"
    # (ssh-keygen -p prints the comment on stdout; check keeps it.)
    same "cipher $c: our read of ssh-keygen's rewrite" \
        "$(ourfp "$k.re" other)" "$(kgfp "$k.pub")"
done

echo "# our public key exports -> ssh-keygen -i"
for t in ed25519 ecdsa256 ecdsa384 ecdsa521 rsa; do
    "$DRV" gen "$t" "p_$t" openssh >/dev/null 2>&1
    for fmt in rfc4716:RFC4716 pkcs8-pem:PKCS8 pkcs1-pem:PEM; do
        ours=${fmt%%:*}
        theirs=${fmt#*:}
        case "$t.$ours" in
        ed25519.pkcs*) continue ;; # ssh-keygen 9.x: no Ed25519 PKCS8
        rsa.*) ;;
        *.pkcs1-pem) continue ;;   # PKCS#1 is RSA only
        esac
        if ! "$DRV" pub "p_$t" "p_$t.$ours" "$ours" 2>"$W/err"; then
            notok "$t public $ours: export"
            continue
        fi
        i=$(ssh-keygen -i -m "$theirs" -f "p_$t.$ours" 2>"$W/err" |
            awk '{print $1, $2}')
        same "$t public $ours: ssh-keygen -i -m $theirs" "$i" \
            "$(blob "p_$t.pub")"
    done
done

echo "# our PKCS exports ssh-keygen cannot read -> openssl pkey"
# (DER, and the EdDSA keys OpenSSH 9.x reads only as openssh-key-v1)
if command -v openssl >/dev/null 2>&1; then
    for t in ed25519 ed448 ecdsa256 ecdsa384 ecdsa521 rsa; do
        "$DRV" gen "$t" "o_$t" openssh >/dev/null 2>&1
        "$DRV" pub "o_$t" "o_$t.spki" pkcs8-pem 2>/dev/null
        want=$(openssl pkey -pubin -in "o_$t.spki" -outform DER 2>/dev/null |
            od -An -tx1 | tr -d ' \n')
        for fmt in pkcs8-pem pkcs8-der pkcs1-pem pkcs1-der; do
            case "$t.$fmt" in ed*.pkcs1-*) continue ;; esac
            inform=PEM
            case $fmt in *-der) inform=DER ;; esac
            for p in - "$PW"; do
                case "$fmt.$p" in pkcs1-der."$PW") continue ;; esac
                f="o_$t.$fmt.$( [ "$p" = - ] && echo plain || echo enc)"
                d="$t $fmt$( [ "$p" = - ] || echo " encrypted"): openssl pkey"
                if ! "$DRV" convert "o_$t" - "$f" "$fmt" "$p" \
                        2>"$W/err"; then
                    notok "$d: export"
                    continue
                fi
                got=$(openssl pkey -inform "$inform" -in "$f" \
                    -passin "pass:$PW" -pubout -outform DER 2>"$W/err" |
                    od -An -tx1 | tr -d ' \n')
                same "$d reads our key" "$got" "$want"
            done
        done
        if [ "$t" = rsa ]; then
            "$DRV" pub "o_$t" "o_$t.pkcs1der" pkcs1-der 2>/dev/null
            got=$(openssl rsa -RSAPublicKey_in -inform DER -in "o_$t.pkcs1der" \
                -pubout -outform DER 2>"$W/err" | od -An -tx1 | tr -d ' \n')
            same "$t public pkcs1-der: openssl rsa" "$got" "$want"
        fi
        "$DRV" pub "o_$t" "o_$t.spkider" pkcs8-der 2>/dev/null
        got=$(openssl pkey -pubin -inform DER -in "o_$t.spkider" -outform DER \
            2>"$W/err" | od -An -tx1 | tr -d ' \n')
        same "$t public pkcs8-der: openssl pkey" "$got" "$want"
    done
fi

echo "# our certificates -> ssh-keygen -L"
ssh-keygen -q -t ed25519 -N "" -f ca_ed25519
ssh-keygen -q -t ecdsa -b 384 -N "" -f ca_ecdsa
ssh-keygen -q -t rsa -b 2048 -N "" -f ca_rsa
ssh-keygen -q -t ecdsa -b 256 -N "" -f subj
for ca in ca_ed25519:- ca_ecdsa:- ca_rsa:- ca_rsa:rsa-sha2-256 \
          ca_rsa:rsa-sha2-512 ca_rsa:ssh-rsa; do
    key=${ca%%:*}
    alg=${ca#*:}
    d="cert by $key ($alg)"
    if ! "$DRV" cert "$key" subj.pub cert-cert.pub user "id $key $alg" \
            alice,bob 1577836800 2208988800 "$alg" \
            crit:force-command=/bin/true crit:source-address=10.0.0.0/8 \
            >/dev/null 2>"$W/err"; then
        notok "$d: create"
        continue
    fi
    check "$d: ssh-keygen -L accepts it" ssh-keygen -L -f cert-cert.pub
    L="$W/out"
    same "$d: key id" "$(sed -n 's/^ *Key ID: //p' "$L")" "\"id $key $alg\""
    same "$d: principals" "$(sed -n '/Principals:/,/Critical/p' "$L" |
        sed -n '2,3p' | tr -d ' \t' | tr '\n' ,)" "alice,bob,"
    same "$d: force-command" \
        "$(sed -n 's/^ *force-command //p' "$L")" "/bin/true"
    same "$d: source-address" \
        "$(sed -n 's/^ *source-address //p' "$L")" "10.0.0.0/8"
    same "$d: validity" "$(TZ=UTC0 ssh-keygen -L -f cert-cert.pub |
        sed -n 's/^ *Valid: //p')" \
        "from 2020-01-01T00:00:00 to 2040-01-01T00:00:00"
    want=$alg
    [ "$want" = - ] && case $key in
        ca_rsa) want=rsa-sha2-512 ;;
        ca_ecdsa) want=ecdsa-sha2-nistp384 ;;
        *) want=ssh-ed25519 ;;
        esac
    same "$d: signature algorithm" \
        "$(sed -n 's/.*(using \(.*\))$/\1/p' "$L")" "$want"
    same "$d: certificate fingerprint" "$(kgfp cert-cert.pub)" \
        "$(kgfp subj.pub)"
done
for t in ed25519 ecdsa521 rsa; do
    "$DRV" gen "$t" "subj_$t" openssh >/dev/null 2>&1
    if "$DRV" cert ca_ecdsa "subj_$t.pub" "st-cert.pub" user "s-$t" u1 0 \
            forever - >/dev/null 2>"$W/err"; then
        check "cert for a $t key: ssh-keygen -L accepts it" \
            ssh-keygen -L -f st-cert.pub
        same "cert for a $t key: fingerprint" "$(kgfp st-cert.pub)" \
            "$(kgfp "subj_$t.pub")"
    else
        notok "cert for a $t key: create"
    fi
done
if "$DRV" cert ca_ed25519 subj.pub host-cert.pub host h1 host.example.com \
        0 forever - >/dev/null 2>"$W/err"; then
    check "host cert: ssh-keygen -L accepts it" ssh-keygen -L -f host-cert.pub
    same "host cert: type and no extensions" \
        "$(grep -c 'host certificate\|Extensions: (none)' "$W/out")" 2
    same "host cert: forever" "$(sed -n 's/^ *Valid: //p' "$W/out")" forever
else
    notok "host cert: create"
fi

echo "# ssh-keygen's keys -> us"
for t in ed25519 ecdsa:256 ecdsa:384 ecdsa:521 rsa:2048 dsa:1024; do
    ty=${t%%:*}
    bits=${t#*:}
    [ "$bits" = "$t" ] && bits=""
    n="s_${ty}${bits}"
    ssh-keygen -q -t "$ty" ${bits:+-b "$bits"} -N "" -C "$n" -f "$n"
    same "ssh-keygen $ty$bits unencrypted: fingerprint" "$(ourfp "$n")" \
        "$(kgfp "$n.pub")"
    cp "$n" "$n.enc"
    ssh-keygen -q -p -a 2 -P "" -N "$PW" -f "$n.enc" >/dev/null
    same "ssh-keygen $ty$bits encrypted: fingerprint" \
        "$(ourfp "$n.enc" "$PW")" "$(kgfp "$n.pub")"
    if [ "$ty" != ed25519 ]; then
        for m in PEM PKCS8; do
            for p in "" "$PW"; do
                f="$n.$m${p:+.enc}"
                cp "$n" "$f"
                ssh-keygen -q -p -m "$m" -P "" -N "$p" -f "$f" >/dev/null
                same "ssh-keygen $ty$bits -m $m${p:+ encrypted}: fingerprint" \
                    "$(ourfp "$f" "${p:--}")" "$(kgfp "$n.pub")"
            done
        done
    fi
    for m in RFC4716 PKCS8 PEM; do
        case "$ty.$m" in
        ed25519.PKCS8 | ed25519.PEM | ecdsa.PEM | dsa.PEM) continue ;;
        esac
        ssh-keygen -e -m "$m" -f "$n.pub" >"$n.pub.$m" 2>/dev/null
        same "ssh-keygen -e -m $m $ty$bits: fingerprint" \
            "$("$DRV" pubfp "$n.pub.$m" 2>"$W/err" | awk '{print $2}')" \
            "$(kgfp "$n.pub")"
    done
done

echo "# ssh-keygen's certificates -> us"
for ca in ca_ed25519 ca_ecdsa ca_rsa; do
    cp subj.pub s.pub
    ssh-keygen -q -s "$ca" -I "kid-$ca" -n carol,dave -z 77 \
        -V 20200101000000:20400101000000 -O no-pty \
        -O force-command=/usr/bin/id s.pub 2>/dev/null
    check "ssh-keygen cert by $ca: certshow" "$DRV" certshow s-cert.pub
    S="$W/out"
    same "ssh-keygen cert by $ca: signature" \
        "$(sed -n 's/^signature: //p' "$S")" ok
    same "ssh-keygen cert by $ca: key" "$(sed -n 's/^key: //p' "$S")" \
        "$(kgfp subj.pub)"
    same "ssh-keygen cert by $ca: fields" \
        "$(sed -n 's/^\(id\|serial\|principals\|critical\): //p' "$S" |
            tr '\n' '|')" "kid-$ca|77|carol dave|force-command=/usr/bin/id|"
    same "ssh-keygen cert by $ca: extensions (no-pty)" \
        "$(sed -n 's/^extensions: //p' "$S")" \
        "permit-X11-forwarding permit-agent-forwarding permit-port-forwarding permit-user-rc"
    check "ssh-keygen cert by $ca: validates for dave" \
        "$DRV" certcheck s-cert.pub user dave 1700000000
    if "$DRV" certcheck s-cert.pub user eve 1700000000 2>/dev/null; then
        notok "ssh-keygen cert by $ca: refuses eve"
    else
        ok "ssh-keygen cert by $ca: refuses eve"
    fi
    if "$DRV" certcheck s-cert.pub user dave 2300000000 2>/dev/null; then
        notok "ssh-keygen cert by $ca: refuses after expiry"
    else
        ok "ssh-keygen cert by $ca: refuses after expiry"
    fi
done

echo "# $pass passed, $fail failed"
[ "$fail" -eq 0 ]
