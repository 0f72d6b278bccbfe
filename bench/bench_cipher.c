/*
 * Throughput of the binary packet layer against the bare OpenSSL
 * primitives it is built on.
 *
 * For each cipher/MAC pair: encode + decode of 32 KiB payload packets
 * (lsh_pkt_encode into a buffer, lsh_pkt_decode out of it, the payload
 * buffer emptied after each packet), for about `seconds` each.  The same
 * loop then runs the raw EVP work for one packet in each direction on a
 * 32 KiB buffer: for AEAD ciphers EVP AES-GCM / ChaCha20-Poly1305 with a
 * fresh IV, 4 bytes of AAD and a tag; for the others the EVP cipher plus
 * HMAC (EVP_MAC, pre-keyed) over the buffer.  Throughput counts payload
 * bytes: MB/s = 32768 * packets / seconds / 1e6.  ratio = luassh / OpenSSL.
 * The two sides run alternately in ten slices per row, to even out load.
 *
 * Usage: bench_cipher [seconds-per-row] [name-filter]
 * Build: gcc -O2 -Isrc bench/bench_cipher.c \
 *            src/ssh/transport/{packet,cipher,mac,comp}.c src/common/[a-z]*.c \
 *            -lcrypto -lz
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "common/buf.h"
#include "ssh/transport/packet.h"

#define PAYLOAD 32768
#define SLICES 10
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

typedef struct pair {
    const char *cipher, *mac;
    const char *evp_cipher; /* OpenSSL name of the primitive */
    const char *digest;     /* HMAC digest, NULL for AEAD */
    int aead;
} pair;

static const pair pairs[] = {
    {"chacha20-poly1305@openssh.com", NULL, "ChaCha20-Poly1305", NULL, 1},
    {"aes128-gcm@openssh.com", NULL, "AES-128-GCM", NULL, 1},
    {"aes256-gcm@openssh.com", NULL, "AES-256-GCM", NULL, 1},
    {"aes128-ctr", "hmac-sha2-256-etm@openssh.com", "AES-128-CTR", "SHA256", 0},
    {"aes128-ctr", "hmac-sha2-256", "AES-128-CTR", "SHA256", 0},
    {"aes128-ctr", "hmac-sha2-512-etm@openssh.com", "AES-128-CTR", "SHA512", 0},
    {"aes128-ctr", "hmac-sha2-512", "AES-128-CTR", "SHA512", 0},
    {"aes128-ctr", "hmac-sha1-etm@openssh.com", "AES-128-CTR", "SHA1", 0},
    {"aes128-ctr", "hmac-sha1", "AES-128-CTR", "SHA1", 0},
    {"aes192-ctr", "hmac-sha2-256-etm@openssh.com", "AES-192-CTR", "SHA256", 0},
    {"aes256-ctr", "hmac-sha2-256-etm@openssh.com", "AES-256-CTR", "SHA256", 0},
    {"aes256-ctr", "hmac-sha2-512-etm@openssh.com", "AES-256-CTR", "SHA512", 0},
    {"aes128-cbc", "hmac-sha2-256-etm@openssh.com", "AES-128-CBC", "SHA256", 0},
    {"aes128-cbc", "hmac-sha2-256", "AES-128-CBC", "SHA256", 0},
    {"aes256-cbc", "hmac-sha2-512-etm@openssh.com", "AES-256-CBC", "SHA512", 0},
    {"3des-cbc", "hmac-sha1", "DES-EDE3-CBC", "SHA1", 0},
};

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The padding source, as a transport would write it: RAND_bytes costs
 * about 2 us per call whatever the size (OpenSSL 3.0 locks and checks the
 * pid on every call), so it is drawn 4 KiB at a time.
 */
static int
bench_rng(void *ctx, uint8_t *out, size_t n)
{
    static uint8_t pool[4096];
    static size_t avail;

    (void)ctx;
    if (n > sizeof(pool)) {
        return RAND_bytes(out, (int)n) == 1 ? 0 : LSH_ECRYPTO;
    }
    if (avail < n) {
        if (RAND_bytes(pool, sizeof(pool)) != 1) {
            return LSH_ECRYPTO;
        }
        avail = sizeof(pool);
    }
    memcpy(out, pool + sizeof(pool) - avail, n);
    memset(pool + sizeof(pool) - avail, 0, n);
    avail -= n;
    return 0;
}

static void
die(const char *what, int r)
{
    fprintf(stderr, "bench_cipher: %s: %s\n", what, lsh_strerror(r));
    exit(1);
}

/* Runs encode + decode for about `seconds`; adds packets and time. */
static void
bench_luassh(const pair *p, double seconds, const uint8_t *payload,
             double *packets, double *elapsed)
{
    static uint8_t key[64], iv[16], mkey[64];
    lsh_pkt_dir tx, rx;
    lsh_buf wire, out;
    unsigned long n = 0;
    double t0, t;
    int r;

    memset(&tx, 0, sizeof(tx));
    memset(&rx, 0, sizeof(rx));
    RAND_bytes(key, sizeof(key));
    RAND_bytes(iv, sizeof(iv));
    RAND_bytes(mkey, sizeof(mkey));
    if ((r = lsh_pkt_dir_set_keys(&tx, 1, p->cipher, p->mac, NULL, key, iv,
                                  mkey)) != 0 ||
        (r = lsh_pkt_dir_set_keys(&rx, 0, p->cipher, p->mac, NULL, key, iv,
                                  mkey)) != 0) {
        die("set_keys", r);
    }
    lsh_buf_init(&wire, 0);
    lsh_buf_init(&out, 0);
    t0 = now();
    do {
        for (int i = 0; i < 32; i++, n++) {
            if ((r = lsh_pkt_encode(&tx, payload, PAYLOAD, bench_rng, NULL,
                                    &wire)) != 0) {
                die("encode", r);
            }
            if ((r = lsh_pkt_decode(&rx, &wire, &out)) != 0) {
                die("decode", r);
            }
            if (lsh_buf_len(&out) != PAYLOAD) {
                die("decode length", LSH_EPROTOCOL);
            }
            lsh_buf_reset(&out);
        }
        t = now() - t0;
    } while (t < seconds);
    lsh_pkt_dir_free(&tx);
    lsh_pkt_dir_free(&rx);
    lsh_buf_free(&wire);
    lsh_buf_free(&out);
    *packets += (double)n;
    *elapsed += t;
}

/* Raw EVP state for one direction of the primitive benchmark. */
typedef struct prim {
    EVP_CIPHER *cipher;
    EVP_CIPHER_CTX *ctx;
    EVP_MAC_CTX *mac;
} prim;

static void
prim_init(prim *s, const pair *p, int enc, const uint8_t *key,
          const uint8_t *iv, const uint8_t *mkey)
{
    memset(s, 0, sizeof(*s));
    s->cipher = EVP_CIPHER_fetch(NULL, p->evp_cipher, NULL);
    s->ctx = EVP_CIPHER_CTX_new();
    if (s->cipher == NULL || s->ctx == NULL ||
        !EVP_CipherInit_ex(s->ctx, s->cipher, NULL, key,
                           p->aead ? NULL : iv, enc)) {
        die("EVP cipher", LSH_ECRYPTO);
    }
    EVP_CIPHER_CTX_set_padding(s->ctx, 0);
    if (p->digest != NULL) {
        EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
        OSSL_PARAM params[2];
        params[0] = OSSL_PARAM_construct_utf8_string(
            OSSL_MAC_PARAM_DIGEST, (char *)p->digest, 0);
        params[1] = OSSL_PARAM_construct_end();
        s->mac = EVP_MAC_CTX_new(m);
        EVP_MAC_free(m);
        if (s->mac == NULL ||
            !EVP_MAC_init(s->mac, mkey, EVP_MD_size(EVP_get_digestbyname(
                                            p->digest)),
                          params)) {
            die("EVP_MAC", LSH_ECRYPTO);
        }
    }
}

static void
prim_free(prim *s)
{
    EVP_CIPHER_free(s->cipher);
    EVP_CIPHER_CTX_free(s->ctx);
    EVP_MAC_CTX_free(s->mac);
}

/* One packet's worth of raw work in one direction. */
static void
prim_run(prim *s, int enc, const uint8_t *iv, uint8_t *buf, uint8_t *tag)
{
    static const uint8_t aad[4] = {0, 0, 0x80, 0x10};
    uint8_t mac[64];
    size_t maclen;
    int outl;

    if (s->mac == NULL) {
        if (!EVP_CipherInit_ex(s->ctx, NULL, NULL, NULL, iv, -1) ||
            !EVP_CipherUpdate(s->ctx, NULL, &outl, aad, 4) ||
            !EVP_CipherUpdate(s->ctx, buf, &outl, buf, PAYLOAD) ||
            (!enc && !EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_AEAD_SET_TAG, 16,
                                          tag)) ||
            EVP_CipherFinal_ex(s->ctx, mac, &outl) <= 0 ||
            (enc && !EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_AEAD_GET_TAG, 16,
                                         tag))) {
            die("EVP AEAD", LSH_ECRYPTO);
        }
        return;
    }
    /* Encrypt-then-MAC order on both sides; the cost is the same. */
    if (enc && !EVP_CipherUpdate(s->ctx, buf, &outl, buf, PAYLOAD)) {
        die("EVP cipher", LSH_ECRYPTO);
    }
    if (!EVP_MAC_init(s->mac, NULL, 0, NULL) ||
        !EVP_MAC_update(s->mac, aad, 4) ||
        !EVP_MAC_update(s->mac, buf, PAYLOAD) ||
        !EVP_MAC_final(s->mac, mac, &maclen, sizeof(mac))) {
        die("EVP_MAC", LSH_ECRYPTO);
    }
    if (!enc && !EVP_CipherUpdate(s->ctx, buf, &outl, buf, PAYLOAD)) {
        die("EVP cipher", LSH_ECRYPTO);
    }
}

static void
bench_openssl(const pair *p, double seconds, const uint8_t *payload,
              double *packets, double *elapsed)
{
    static uint8_t key[64], iv[16], mkey[64], buf[PAYLOAD], tag[16];
    unsigned long n = 0;
    prim enc, dec;
    double t0, t;

    RAND_bytes(key, sizeof(key));
    RAND_bytes(iv, sizeof(iv));
    RAND_bytes(mkey, sizeof(mkey));
    prim_init(&enc, p, 1, key, iv, mkey);
    prim_init(&dec, p, 0, key, iv, mkey);
    memcpy(buf, payload, PAYLOAD);
    t0 = now();
    do {
        for (int i = 0; i < 32; i++, n++) {
            iv[11]++;
            prim_run(&enc, 1, iv, buf, tag);
            prim_run(&dec, 0, iv, buf, tag);
        }
        t = now() - t0;
    } while (t < seconds);
    if (memcmp(buf, payload, PAYLOAD) != 0) {
        die("primitive round trip", LSH_EPROTOCOL);
    }
    prim_free(&enc);
    prim_free(&dec);
    *packets += (double)n;
    *elapsed += t;
}

int
main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    const char *filter = argc > 2 ? argv[2] : NULL;
    static uint8_t payload[PAYLOAD];

    if (seconds <= 0) {
        seconds = 1.0;
    }
    RAND_bytes(payload, sizeof(payload));
    printf("%-48s %12s %14s %7s\n", "algorithm (32 KiB payloads)",
           "luassh MB/s", "OpenSSL MB/s", "ratio");
    for (size_t i = 0; i < NELEM(pairs); i++) {
        const pair *p = &pairs[i];
        char name[96];
        double ours, theirs, np[2] = {0, 0}, t[2] = {0, 0};

        snprintf(name, sizeof(name), "%s%s%s", p->cipher, p->mac ? " + " : "",
                 p->mac ? p->mac : "");
        if (filter != NULL && strstr(name, filter) == NULL) {
            continue;
        }
        /* Alternate short slices so that load from other processes on
         * the machine hits both sides alike. */
        for (int k = 0; k < SLICES; k++) {
            bench_luassh(p, seconds / SLICES, payload, &np[0], &t[0]);
            bench_openssl(p, seconds / SLICES, payload, &np[1], &t[1]);
        }
        ours = np[0] * PAYLOAD / t[0] / 1e6;
        theirs = np[1] * PAYLOAD / t[1] / 1e6;
        printf("%-48s %12.1f %14.1f %7.2f\n", name, ours, theirs,
               ours / theirs);
        fflush(stdout);
    }
    return 0;
}
