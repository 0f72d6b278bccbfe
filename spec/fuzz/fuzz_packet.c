/*
 * libFuzzer target for the binary packet layer (src/ssh/transport/packet.c).
 *
 * Input layout:
 *   byte 0      bits 0..6 pick a cipher x MAC x compression configuration
 *               (fixed keys); bit 7 picks the mode:
 *   raw mode    the rest is wire bytes, fed to lsh_pkt_decode in pieces
 *               whose sizes come from a small PRNG seeded by byte 1;
 *   round trip  the rest is a list of payloads (a length byte, then that
 *               many bytes, repeated); each is encoded, the wire fed back
 *               in pieces and the payloads must come out unchanged.
 * Configuration 0 is the zero-initialised (cleartext) direction, which
 * lets the fuzzer reach the padding and payload checks in any build; with
 * -DLSH_TESTING "none" can also be combined with zlib.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined -Isrc \
 *          spec/fuzz/fuzz_packet.c \
 *          src/ssh/transport/{packet,cipher,mac,comp}.c \
 *          src/common/[a-z]*.c -lcrypto -lz   (all of src/common)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "ssh/transport/packet.h"

static const char *const fz_ciphers[] = {
    "none",       "chacha20-poly1305@openssh.com",
    "aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
    "aes128-ctr", "aes256-ctr", "aes128-cbc", "3des-cbc",
};
static const char *const fz_macs[] = {
    "none", "hmac-sha2-256", "hmac-sha2-512-etm@openssh.com",
    "hmac-sha1", "hmac-sha1-etm@openssh.com",
};
static const char *const fz_comps[] = {"none", "zlib", "zlib@openssh.com"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static uint8_t fz_key[64], fz_iv[16], fz_mkey[64];

static int
fz_rng(void *ctx, uint8_t *out, size_t n)
{
    uint32_t *s = ctx;
    for (size_t i = 0; i < n; i++) {
        *s = *s * 1103515245u + 12345u;
        out[i] = (uint8_t)(*s >> 16);
    }
    return 0;
}

/* Sets up both directions for configuration `sel`; 0 if usable. */
static int
fz_setup(unsigned sel, lsh_pkt_dir *tx, lsh_pkt_dir *rx)
{
    const char *cipher, *mac, *comp;
    size_t ncombo = NELEM(fz_ciphers) * NELEM(fz_macs) * NELEM(fz_comps);

    memset(tx, 0, sizeof(*tx));
    memset(rx, 0, sizeof(*rx));
    for (int i = 0; i < 64; i++) {
        fz_key[i] = (uint8_t)(i * 5 + 1);
        fz_mkey[i] = (uint8_t)(i ^ 0x5c);
    }
    for (int i = 0; i < 16; i++) {
        fz_iv[i] = (uint8_t)(0xf0 + i);
    }
    if (sel == 0) {
        return 0; /* the initial cleartext state */
    }
    sel %= ncombo;
    cipher = fz_ciphers[sel % NELEM(fz_ciphers)];
    mac = fz_macs[(sel / NELEM(fz_ciphers)) % NELEM(fz_macs)];
    comp = fz_comps[sel / (NELEM(fz_ciphers) * NELEM(fz_macs))];
    if (lsh_pkt_dir_set_keys(tx, 1, cipher, mac, comp, fz_key, fz_iv,
                             fz_mkey) != 0 ||
        lsh_pkt_dir_set_keys(rx, 0, cipher, mac, comp, fz_key, fz_iv,
                             fz_mkey) != 0) {
        return -1; /* "none" outside LSH_TESTING builds */
    }
    /* Let zlib@openssh.com run from the start. */
    if (lsh_pkt_dir_enable_delayed_compression(tx) != 0 ||
        lsh_pkt_dir_enable_delayed_compression(rx) != 0) {
        abort();
    }
    return 0;
}

static size_t
fz_piece(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    switch ((*s >> 28) & 3) {
    case 0:
        return 1;
    case 1:
        return 1 + ((*s >> 8) & 15);
    default:
        return 1 + ((*s >> 8) & 1023);
    }
}

static void
fz_raw(lsh_pkt_dir *rx, const uint8_t *p, size_t n, uint32_t seed)
{
    lsh_buf in, out;
    size_t pos = 0;
    int r = LSH_EAGAIN;

    lsh_buf_init(&in, 0);
    lsh_buf_init(&out, 0);
    while (pos < n) {
        size_t piece = fz_piece(&seed);
        if (piece > n - pos) {
            piece = n - pos;
        }
        if (lsh_buf_put(&in, p + pos, piece) != 0) {
            abort();
        }
        pos += piece;
        while ((r = lsh_pkt_decode(rx, &in, &out)) == 0) {
            if (lsh_buf_len(&out) > LSH_PKT_MAX) {
                abort();
            }
            lsh_buf_reset(&out);
        }
        if (r != LSH_EAGAIN) {
            /* Fatal errors are sticky and deliver nothing. */
            if (lsh_pkt_decode(rx, &in, &out) != r || lsh_buf_len(&out) != 0 ||
                lsh_pkt_dir_error(rx) != r) {
                abort();
            }
            break;
        }
    }
    lsh_buf_free(&in);
    lsh_buf_free(&out);
}

static void
fz_round_trip(lsh_pkt_dir *tx, lsh_pkt_dir *rx, const uint8_t *p, size_t n,
              uint32_t seed)
{
    lsh_buf wire, in, out;
    size_t pos = 0, wpos = 0, sent = 0, got = 0;
    const uint8_t *msgs[256];
    size_t lens[256];
    uint32_t rng = seed;
    int r;

    lsh_buf_init(&wire, 0);
    lsh_buf_init(&in, 0);
    lsh_buf_init(&out, 0);
    while (pos < n && sent < NELEM(msgs)) {
        size_t len = p[pos++];
        if (len > n - pos) {
            len = n - pos;
        }
        msgs[sent] = p + pos;
        lens[sent] = len;
        if (lsh_pkt_encode(tx, p + pos, len, fz_rng, &rng, &wire) != 0) {
            abort();
        }
        pos += len;
        sent++;
    }
    while (wpos < lsh_buf_len(&wire)) {
        size_t piece = fz_piece(&seed);
        if (piece > lsh_buf_len(&wire) - wpos) {
            piece = lsh_buf_len(&wire) - wpos;
        }
        if (lsh_buf_put(&in, lsh_buf_ptr(&wire) + wpos, piece) != 0) {
            abort();
        }
        wpos += piece;
        while ((r = lsh_pkt_decode(rx, &in, &out)) == 0) {
            if (got >= sent || lsh_buf_len(&out) != lens[got] ||
                (lens[got] > 0 &&
                 memcmp(lsh_buf_ptr(&out), msgs[got], lens[got]) != 0)) {
                abort();
            }
            lsh_buf_reset(&out);
            got++;
        }
        if (r != LSH_EAGAIN) {
            abort();
        }
    }
    if (got != sent || rx->seqnr != tx->seqnr || rx->bytes != tx->bytes) {
        abort();
    }
    lsh_buf_free(&wire);
    lsh_buf_free(&in);
    lsh_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lsh_pkt_dir tx, rx;
    uint32_t seed;

    if (size < 2) {
        return 0;
    }
    seed = data[1] * 2654435761u;
    if (fz_setup(data[0] & 0x7f, &tx, &rx) == 0) {
        if (data[0] & 0x80) {
            fz_round_trip(&tx, &rx, data + 2, size - 2, seed);
        } else {
            fz_raw(&rx, data + 2, size - 2, seed);
        }
    }
    lsh_pkt_dir_free(&tx);
    lsh_pkt_dir_free(&rx);
    return 0;
}
