#!/bin/sh
# Regenerates the key file fixtures of spec/c/test_keyfile.c and
# spec/c/test_cert.c with OpenSSH's ssh-keygen (these were made with
# OpenSSH 9.2p1 / OpenSSL 3.0).  Run from this directory.  The expected
# fingerprints and certificate fields recorded in the tests must be
# updated after a regeneration (ssh-keygen -l -f / -L -f print them).
# Passphrase of every encrypted file: luassh-test.  KDF rounds: -a 2
# (kept low so that the tests stay fast).
set -eu
PW=luassh-test
rm -f ./*_key* ./*_ossl* ./ca_* ./*-cert.pub
kg() { ssh-keygen -q -C "$1@luassh" "$@"; }

# One key per type, unencrypted (openssh-key-v1, cipher "none") and
# encrypted with the default cipher aes256-ctr.
for t in ed25519 ecdsa256 ecdsa384 ecdsa521 rsa dsa; do
    case $t in
    ecdsa*) args="-t ecdsa -b ${t#ecdsa}" ;;
    rsa) args="-t rsa -b 2048" ;;
    *) args="-t $t" ;;
    esac
    ssh-keygen -q -C "$t@luassh" $args -N "" -f "${t}_key"
    cp "${t}_key" "${t}_key_pw"
    ssh-keygen -q -p -a 2 -N "$PW" -P "" -f "${t}_key_pw"
    rm -f "${t}_key_pw.pub"
done

# The same Ed25519 key under every cipher ssh-keygen -Z accepts.
for c in aes128-ctr aes192-ctr aes256-ctr aes128-cbc aes192-cbc aes256-cbc \
         3des-cbc aes128-gcm@openssh.com aes256-gcm@openssh.com \
         chacha20-poly1305@openssh.com; do
    f="ed25519_key_${c%@openssh.com}"
    cp ed25519_key "$f"
    ssh-keygen -q -p -a 2 -Z "$c" -N "$PW" -P "" -f "$f"
done

# PEM (PKCS#1 / SEC1 / "DSA PRIVATE KEY") and PKCS#8, plain and encrypted.
for t in ecdsa256 ecdsa384 ecdsa521 rsa dsa; do
    for m in PEM PKCS8; do
        lm=$(echo "$m" | tr 'A-Z' 'a-z')
        cp "${t}_key" "${t}_key.$lm"
        ssh-keygen -q -p -m "$m" -N "" -P "" -f "${t}_key.$lm"
        cp "${t}_key" "${t}_key_pw.$lm"
        ssh-keygen -q -p -m "$m" -N "$PW" -P "" -f "${t}_key_pw.$lm"
    done
done
# DER forms, converted by the OpenSSL CLI from the PEM files above.
openssl rsa -in rsa_key.pem -outform DER -out rsa_key.pkcs1.der 2>/dev/null
openssl ec -in ecdsa256_key.pem -outform DER -out ecdsa256_key.sec1.der 2>/dev/null
# ssh-keygen 9.2 writes EdDSA keys only as openssh-key-v1: these come from
# the OpenSSL CLI (ssh-keygen knows no Ed448 at all).
for t in ed25519 ed448; do
    openssl genpkey -algorithm "$t" -out "${t}_ossl.pkcs8"
    openssl pkcs8 -topk8 -in "${t}_ossl.pkcs8" -passout "pass:$PW" \
        -v2 aes-256-cbc -out "${t}_ossl_pw.pkcs8"
    openssl pkey -in "${t}_ossl.pkcs8" -pubout -out "${t}_ossl.pub.pkcs8"
done
openssl pkey -in ed25519_ossl.pkcs8 -outform DER -out ed25519_ossl.pkcs8.der
openssl pkcs8 -topk8 -in rsa_key.pkcs8 -outform DER -passout "pass:$PW" \
    -v2 aes-256-cbc -out rsa_key_pw.pkcs8.der

# Public key exports.
for t in ed25519 ecdsa256 ecdsa384 ecdsa521 rsa dsa; do
    ssh-keygen -e -m RFC4716 -f "${t}_key.pub" > "${t}_key.pub.rfc"
    case $t in ed25519) continue ;; esac # PKCS8: not in ssh-keygen 9.2
    ssh-keygen -e -m PKCS8 -f "${t}_key.pub" > "${t}_key.pub.pkcs8"
done
ssh-keygen -e -m PEM -f rsa_key.pub > rsa_key.pub.pkcs1
openssl pkey -pubin -in rsa_key.pub.pkcs8 -outform DER -out rsa_key.pub.der

# Certificates.  CAs: ca_ed25519, ca_rsa, ca_ecdsa (unencrypted).
ssh-keygen -q -t ed25519 -N "" -C ca-ed25519 -f ca_ed25519
ssh-keygen -q -t rsa -b 2048 -N "" -C ca-rsa -f ca_rsa
ssh-keygen -q -t ecdsa -b 384 -N "" -C ca-ecdsa -f ca_ecdsa
V=20200101000000:20400101000000
cp ed25519_key.pub user_ed25519.pub
ssh-keygen -q -s ca_ed25519 -I user-ed25519 -n alice,bob -V "$V" -z 42 \
    -O force-command=/bin/true -O source-address=10.0.0.0/8,192.168.1.1 \
    -O no-pty user_ed25519.pub
cp ecdsa256_key.pub host_ecdsa256.pub
ssh-keygen -q -s ca_rsa -t rsa-sha2-256 -h -I host-ecdsa \
    -n host.example.com,10.1.2.3 -V "$V" -z 7 host_ecdsa256.pub
cp rsa_key.pub user_rsa_sha1.pub
ssh-keygen -q -s ca_rsa -t ssh-rsa -I user-rsa-sha1 -n carol user_rsa_sha1.pub
cp rsa_key.pub user_rsa.pub
ssh-keygen -q -s ca_ecdsa -I user-rsa -n dave -V 20210101:20220101 \
    -O clear -O permit-pty -O verify-required user_rsa.pub
cp ecdsa384_key.pub anyprinc_ecdsa384.pub
ssh-keygen -q -s ca_rsa -I any-principal anyprinc_ecdsa384.pub
cp ecdsa521_key.pub user_ecdsa521.pub
ssh-keygen -q -s ca_ed25519 -I "key id with spaces" -n root \
    -O extension:custom@luassh=value -O critical:unknown@luassh=x \
    user_ecdsa521.pub
cp dsa_key.pub user_dsa.pub
ssh-keygen -q -s ca_ed25519 -I user-dsa -n erin user_dsa.pub
for f in user_*.pub host_*.pub anyprinc_*.pub; do
    case $f in *-cert.pub) ;; *) rm -f "$f" ;; esac
done
