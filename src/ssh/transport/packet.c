/*
 * The SSH binary packet protocol (RFC 4253 §6) for one direction.
 *
 * IMPLEMENTATION NOTES
 * Three layouts share this code, chosen per direction at set_keys:
 *   - classic (RFC 4253 §6): the whole packet, length included, is
 *     encrypted, and the MAC covers seqnr || plaintext packet.  The
 *     receiver decrypts the first block to learn the length, then the
 *     rest; the MAC is checked last.
 *   - etm (openssh PROTOCOL §1.5): the length is in clear, the MAC covers
 *     seqnr || length || ciphertext and is checked before decrypting.
 *   - AEAD (GCM, chacha-poly): the cipher module handles the length (clear
 *     AAD for GCM, K_1-encrypted for chacha-poly) and the tag.
 * With etm and AEAD the 4-byte length is left out of the block alignment.
 *
 * Sending writes the header, the payload (copied once, or deflated
 * straight into `out`; it may come in two parts, lsh_pkt_encode2, so
 * that channel data need not be copied behind its message header first)
 * and the padding into `out`, then encrypts and MACs the packet where it
 * lies.  A failed encode zeroes what it wrote before cutting it off.
 * Receiving authenticates the packet in `in` and decrypts its body
 * straight into `payload_out` (open_into: the cipher's output is the one
 * copy), then cuts the padding_length byte and the padding off; only
 * when the payload must be inflated (or `payload_out` has no room for the
 * padded body) is the packet decrypted in place inside `in` and the
 * payload copied or inflated out of it.
 * Between two calls that return LSH_EAGAIN the only state kept is the
 * packet length (rx_len): for the classic layout the first block, which
 * told us the length, is already plaintext in `in` and is never
 * decrypted again.
 *
 * Pointers into `in` and `out` are taken after the last call that may
 * grow the buffer (lsh_buf_append_space may move its storage).
 */
#include "ssh/transport/packet.h"

#include <string.h>

#include "common/mem.h"
#include "common/rd.h"

/* Conservative deflate expansion for incompressible data plus flushes. */
#define COMP_SLACK(n) ((n) / 1024 + 64)

/* What the per-packet code needs to know about the algorithms in use. */
typedef struct layout {
    const lsh_cipher_info *ci;
    size_t bs;      /* alignment: max(8, cipher block size) */
    size_t maclen;  /* MAC or tag bytes after the packet */
    int clear_len;  /* etm or AEAD: length not part of the alignment */
    int aead;
    int etm;
} layout;

static void
get_layout(const lsh_pkt_dir *d, layout *l)
{
    const lsh_mac_info *mi = d->mac.info;

    l->ci = d->cipher.info != NULL ? d->cipher.info : lsh__cipher_none();
    l->bs = l->ci->block_size < 8 ? 8 : l->ci->block_size;
    l->aead = l->ci->aead;
    l->etm = !l->aead && mi != NULL && mi->etm;
    l->clear_len = l->aead || l->etm;
    if (l->aead) {
        l->maclen = l->ci->tag_len;
    } else {
        l->maclen = mi != NULL ? mi->mac_len : 0;
    }
}

/*
 * RFC 4253 §6: at least 4 bytes of padding, and the aligned part (with or
 * without the length field) a multiple of bs.  The result is below 4 + bs.
 */
static size_t
pad_for(const layout *l, size_t body)
{
    size_t aligned = l->clear_len ? body : 4 + body;
    return 4 + (l->bs - (aligned + 4) % l->bs) % l->bs;
}

static int
fail(lsh_pkt_dir *d, int r)
{
    if (d->err == 0) {
        d->err = r;
    }
    return r;
}

/* ---------------------------------------------------------------- keys */

/* "none" as a negotiated cipher or MAC exists only in test builds. */
static int
none_allowed(void)
{
#ifdef LSH_TESTING
    return 1;
#else
    return 0;
#endif
}

/* Resolves the three names; "none" only where the build allows it. */
static int
resolve(const char *cipher, const char *mac, const char *comp,
        const lsh_cipher_info **ci, const lsh_mac_info **mi,
        lsh_comp_type *ct)
{
    if ((*ci = lsh__cipher_lookup_any(cipher)) == NULL ||
        ((*ci)->kind == LSH_CIPHER_NONE && !none_allowed())) {
        return LSH_ENOALG;
    }
    *mi = NULL;
    if (!(*ci)->aead) {
        /* AEAD ciphers carry their own MAC; the MAC name is ignored. */
        if ((*mi = lsh__mac_lookup_any(mac)) == NULL ||
            ((*mi)->digest == NULL && !none_allowed())) {
            return LSH_ENOALG;
        }
    }
    return lsh_comp_lookup(comp, ct);
}

static int
comp_should_run(const lsh_pkt_dir *d)
{
    return d->comp_type == LSH_COMP_ZLIB ||
           (d->comp_type == LSH_COMP_ZLIB_DELAYED && d->authenticated);
}

int
lsh_pkt_dir_set_keys(lsh_pkt_dir *d, int encrypt, const char *cipher,
                     const char *mac, const char *comp, const uint8_t *key,
                     const uint8_t *iv, const uint8_t *mac_key)
{
    const lsh_cipher_info *ci;
    const lsh_mac_info *mi;
    lsh_cipher_ctx nc;
    lsh_mac_ctx nm;
    lsh_comp_type ct;
    int r;

    memset(&nc, 0, sizeof(nc));
    memset(&nm, 0, sizeof(nm));
    if (d->err != 0) {
        return d->err;
    }
    if (d->rx_have_len) {
        return fail(d, LSH_ESTATE);
    }
    if ((r = resolve(cipher, mac, comp, &ci, &mi, &ct)) != 0) {
        return fail(d, r);
    }
    if ((r = lsh_cipher_init(&nc, ci, encrypt, key, iv)) != 0) {
        return fail(d, r);
    }
    if (mi != NULL && (r = lsh_mac_init(&nm, mi, mac_key)) != 0) {
        lsh_cipher_free(&nc);
        return fail(d, r);
    }
    lsh_cipher_free(&d->cipher);
    lsh_mac_free(&d->mac);
    lsh_comp_free(&d->comp);
    d->cipher = nc;
    d->mac = nm;
    lsh_memzero(&nc, sizeof(nc)); /* the GCM nonce */
    d->comp_type = ct;
    d->mode = encrypt ? LSH_PKT_SEND : LSH_PKT_RECV;
    d->bytes = 0;
    d->packets = 0;
    /* RFC 4253 §6.2: the compression context starts over after each kex. */
    if (comp_should_run(d) && (r = lsh_comp_start(&d->comp, encrypt)) != 0) {
        return fail(d, r);
    }
    return 0;
}

void
lsh_pkt_dir_reset_seqnr(lsh_pkt_dir *d)
{
    d->seqnr = 0;
}

int
lsh_pkt_dir_enable_delayed_compression(lsh_pkt_dir *d)
{
    int r;

    if (d->err != 0) {
        return d->err;
    }
    d->authenticated = 1;
    if (!comp_should_run(d) || lsh_comp_active(&d->comp)) {
        return 0;
    }
    if ((r = lsh_comp_start(&d->comp, d->mode == LSH_PKT_SEND)) != 0) {
        return fail(d, r);
    }
    return 0;
}

void
lsh_pkt_dir_free(lsh_pkt_dir *d)
{
    lsh_cipher_free(&d->cipher);
    lsh_mac_free(&d->mac);
    lsh_comp_free(&d->comp);
    lsh_memzero(d, sizeof(*d));
}

size_t
lsh_pkt_dir_max_payload(const lsh_pkt_dir *d)
{
    layout l;
    size_t n = LSH_PKT_MAX - 5;

    get_layout(d, &l);
    while (1 + n + pad_for(&l, 1 + n) > LSH_PKT_MAX) {
        n--;
    }
    if (lsh_comp_active(&d->comp) || d->comp_type != LSH_COMP_NONE) {
        n -= COMP_SLACK(n);
    }
    return n;
}

/* -------------------------------------------------------------- sending */

/*
 * Puts `out` back to `len` live bytes.  What was written past `len` is
 * zeroed first whatever out's own policy: a failed encode may leave
 * plaintext there, and the connection's output is a bulk buffer
 * (lsh_buf_set_bulk), which does not wipe what it drops.
 */
static void
restore(lsh_buf *out, size_t len)
{
    size_t extra = lsh_buf_len(out) > len ? lsh_buf_len(out) - len : 0;
    int r;

    if (extra > 0) {
        lsh_memzero(lsh_buf_ptr(out) + len, extra);
        r = lsh_buf_truncate(out, extra);
        (void)r;
    }
}

/* Encrypts and authenticates pkt[0 .. 4 + pktlen) in place, MAC behind. */
static int
protect(lsh_pkt_dir *d, const layout *l, uint8_t *pkt, size_t pktlen)
{
    uint8_t *mac = pkt + 4 + pktlen;
    int r;

    if (l->aead) {
        return lsh_cipher_seal(&d->cipher, d->seqnr, pkt, 4 + pktlen, mac);
    }
    if (l->etm) {
        /* PROTOCOL §1.5: mac = MAC(key, seqnr || length || ciphertext). */
        if ((r = lsh_cipher_crypt(&d->cipher, pkt + 4, pktlen)) != 0) {
            return r;
        }
        return lsh_mac_compute(&d->mac, d->seqnr, pkt, 4 + pktlen, mac);
    }
    /* RFC 4253 §6.4: the MAC of the plaintext, then encrypt it all. */
    if ((r = lsh_mac_compute(&d->mac, d->seqnr, pkt, 4 + pktlen, mac)) != 0) {
        return r;
    }
    return lsh_cipher_crypt(&d->cipher, pkt, 4 + pktlen);
}

/*
 * Appends the payload part[0..n) (deflated if compression runs) behind
 * what is in `out` already.  Each deflated part ends with a partial
 * flush (comp.c), so two parts make two flushes in one packet: still one
 * valid stream, which the peer inflates as a whole.
 */
static int
put_payload(lsh_pkt_dir *d, const uint8_t *part, size_t n, lsh_buf *out)
{
    if (lsh_comp_active(&d->comp)) {
        return lsh_comp_deflate(&d->comp, part, n, out);
    }
    return lsh_buf_put(out, part, n);
}

int
lsh_pkt_dir_compressing(const lsh_pkt_dir *d)
{
    return lsh_comp_active(&d->comp);
}

int
lsh_pkt_encode(lsh_pkt_dir *d, const uint8_t *payload, size_t n,
               lsh_pkt_rng_fn rng, void *rng_ctx, lsh_buf *out)
{
    return lsh_pkt_encode2(d, payload, n, NULL, 0, rng, rng_ctx, out);
}

int
lsh_pkt_encode2(lsh_pkt_dir *d, const uint8_t *hdr_part, size_t hn,
                const uint8_t *data, size_t dn, lsh_pkt_rng_fn rng,
                void *rng_ctx, lsh_buf *out)
{
    size_t start, plen, pad, pktlen, n = hn + dn;
    int comp, r;
    uint8_t *pkt, *hdr;
    layout l;

    if (d->err != 0) {
        return d->err;
    }
    if (rng == NULL || out == NULL || (hdr_part == NULL && hn > 0) ||
        (data == NULL && dn > 0) || d->mode == LSH_PKT_RECV) {
        return LSH_EINVAL;
    }
    get_layout(d, &l);
    if (hn > LSH_PKT_MAX || dn > LSH_PKT_MAX || n > LSH_PKT_MAX) {
        return LSH_ETOOLARGE;
    }
    start = lsh_buf_len(out);
    comp = lsh_comp_active(&d->comp);
    /* One reservation for the usual case keeps the storage in place. */
    if ((r = lsh_buf_reserve(out, 5 + n + (comp ? COMP_SLACK(n) : 0) + 3 +
                                      l.bs + l.maclen)) != 0) {
        return r;
    }
    if ((r = lsh_buf_append_space(out, 5, &hdr)) != 0) {
        return r;
    }
    /* The first part always (an empty payload still makes its flush,
     * as it did before two parts existed), the second if there is one. */
    if ((r = put_payload(d, hdr_part, hn, out)) != 0 ||
        (dn > 0 && (r = put_payload(d, data, dn, out)) != 0)) {
        restore(out, start);
        return comp ? fail(d, r) : r;
    }
    plen = lsh_buf_len(out) - start - 5;
    pad = pad_for(&l, 1 + plen);
    pktlen = 1 + plen + pad;
    if (pktlen > LSH_PKT_MAX) {
        restore(out, start);
        return comp ? fail(d, LSH_ETOOLARGE) : LSH_ETOOLARGE;
    }
    if ((r = lsh_buf_append_space(out, pad + l.maclen, &hdr)) != 0) {
        restore(out, start);
        return comp ? fail(d, r) : r;
    }
    pkt = lsh_buf_ptr(out) + start;
    lsh_poke_u32(pkt, (uint32_t)pktlen);
    pkt[4] = (uint8_t)pad;
    /* RFC 4253 §6: "The padding SHOULD consist of random bytes." */
    if ((r = rng(rng_ctx, pkt + 5 + plen, pad)) != 0) {
        restore(out, start);
        return comp ? fail(d, r) : r;
    }
    if ((r = protect(d, &l, pkt, pktlen)) != 0) {
        restore(out, start);
        return fail(d, r);
    }
    d->seqnr++;
    d->packets++;
    d->bytes += 4 + pktlen + l.maclen;
    return 0;
}

/* ------------------------------------------------------------ receiving */

/*
 * RFC 4253 §6 and §6.1: the cap first (before any arithmetic), then the
 * minimum (padding_length byte + 4 bytes of padding) and the alignment.
 */
static int
check_length(const layout *l, uint32_t len)
{
    if (len > LSH_PKT_MAX) {
        return LSH_ETOOLARGE;
    }
    if (len < 5 || ((l->clear_len ? 0 : 4) + (size_t)len) % l->bs != 0) {
        return LSH_EBADPACKET;
    }
    return 0;
}

/*
 * Learns the length of the packet at the front of `in`: 0 and rx_len set,
 * LSH_EAGAIN, or a fatal error.
 */
static int
read_length(lsh_pkt_dir *d, const layout *l, lsh_buf *in)
{
    int classic = !l->clear_len && l->ci->kind == LSH_CIPHER_STREAM;
    size_t first = classic ? l->ci->block_size : 4;
    uint8_t *p = lsh_buf_ptr(in);
    uint32_t len;
    int r;

    if (lsh_buf_len(in) < first) {
        return LSH_EAGAIN;
    }
    if (l->aead) {
        r = lsh_cipher_peek_length(&d->cipher, d->seqnr, p, &len);
    } else {
        /* RFC 4253 §6: decrypt the first block to find the length. */
        r = classic ? lsh_cipher_crypt(&d->cipher, p, first) : 0;
        len = lsh_peek_u32(p);
    }
    if (r != 0 || (r = check_length(l, len)) != 0) {
        return r;
    }
    d->rx_len = len;
    d->rx_have_len = 1;
    return 0;
}

/* Authenticates and decrypts the whole packet pkt[0 .. 4 + len) in place. */
static int
unprotect(lsh_pkt_dir *d, const layout *l, uint8_t *pkt, size_t len)
{
    const uint8_t *mac = pkt + 4 + len;
    size_t done;
    int r;

    if (l->aead) {
        return lsh_cipher_open(&d->cipher, d->seqnr, pkt, 4 + len, mac);
    }
    if (l->etm) {
        /* PROTOCOL §1.5: verify before decrypting anything. */
        if ((r = lsh_mac_verify(&d->mac, d->seqnr, pkt, 4 + len, mac)) != 0) {
            return r;
        }
        return lsh_cipher_crypt(&d->cipher, pkt + 4, len);
    }
    /* Classic: the first block is plaintext already (read_length). */
    done = l->ci->kind == LSH_CIPHER_STREAM ? l->ci->block_size : 0;
    if ((r = lsh_cipher_crypt(&d->cipher, pkt + done, 4 + len - done)) != 0) {
        return r;
    }
    return lsh_mac_verify(&d->mac, d->seqnr, pkt, 4 + len, mac);
}

/* Parses padding_length || payload || padding and delivers the payload. */
static int
deliver(lsh_pkt_dir *d, const uint8_t *body, size_t len, lsh_buf *payload_out)
{
    const uint8_t *payload;
    uint8_t padlen;
    lsh_rd rd;
    int r;

    lsh_rd_init(&rd, body, len);
    if ((r = lsh_rd_u8(&rd, &padlen)) != 0) {
        return LSH_EBADPACKET;
    }
    /* RFC 4253 §6: at least four bytes of padding, inside the packet. */
    if (padlen < 4 || padlen >= len) {
        return LSH_EBADPACKET;
    }
    if ((r = lsh_rd_bytes(&rd, len - 1 - padlen, &payload)) != 0 ||
        (r = lsh_rd_skip(&rd, padlen)) != 0 || (r = lsh_rd_end(&rd)) != 0) {
        return LSH_EBADPACKET;
    }
    if (lsh_comp_active(&d->comp)) {
        return lsh_comp_inflate(&d->comp, payload, len - 1 - padlen,
                                LSH_PKT_MAX, payload_out);
    }
    return lsh_buf_put(payload_out, payload, len - 1 - padlen);
}

/*
 * Drops padding_length and padding around the payload of the body that
 * lies at payload_out[start ..): the padding off the end, the length byte
 * off the front (by advancing the buffer's start when the body is all it
 * holds, else by sliding the payload down one byte).
 */
static int
strip_body(lsh_buf *payload_out, size_t start, size_t len)
{
    uint8_t *body = lsh_buf_ptr(payload_out) + start;
    uint8_t padlen = body[0];

    /* RFC 4253 §6: at least four bytes of padding, inside the packet. */
    if (padlen < 4 || padlen >= len) {
        return LSH_EBADPACKET;
    }
    if (lsh_buf_truncate(payload_out, padlen) != 0) {
        return LSH_EBADPACKET;
    }
    if (start == 0) {
        return lsh_buf_consume(payload_out, 1);
    }
    memmove(body, body + 1, len - 1 - padlen);
    return lsh_buf_truncate(payload_out, 1);
}

/*
 * Authenticates the packet pkt[0 .. 4 + len) in `in` and decrypts its body
 * straight into payload_out, leaving the ciphertext where it is: one pass
 * over the bytes where unprotect() + deliver() make two.  On any failure
 * payload_out is put back as it was (what was written is wiped).
 */
static int
open_into(lsh_pkt_dir *d, const layout *l, const uint8_t *pkt, size_t len,
          lsh_buf *payload_out)
{
    size_t start = lsh_buf_len(payload_out), done;
    const uint8_t *mac = pkt + 4 + len;
    uint8_t *body;
    int r;

    if ((r = lsh_buf_append_space(payload_out, len, &body)) != 0) {
        return r;
    }
    if (l->aead) {
        r = lsh_cipher_open_to(&d->cipher, d->seqnr, pkt, 4 + len, mac, body);
    } else if (l->etm) {
        /* PROTOCOL §1.5: verify before decrypting anything. */
        if ((r = lsh_mac_verify(&d->mac, d->seqnr, pkt, 4 + len, mac)) == 0) {
            r = lsh_cipher_crypt_to(&d->cipher, pkt + 4, body, len);
        }
    } else {
        /* Classic: the first block is plaintext already (read_length);
         * the MAC covers seqnr || length || body, in two pieces here. */
        done = l->ci->kind == LSH_CIPHER_STREAM ? l->ci->block_size - 4 : 0;
        memcpy(body, pkt + 4, done);
        r = lsh_cipher_crypt_to(&d->cipher, pkt + 4 + done, body + done,
                                len - done);
        if (r == 0) {
            r = lsh_mac_verify2(&d->mac, d->seqnr, pkt, 4, body, len, mac);
        }
    }
    if (r == 0) {
        r = strip_body(payload_out, start, len);
    }
    if (r != 0) {
        /* Wipe what was written (classic: plaintext not authenticated)
         * whatever payload_out's own policy (lsh_buf_set_bulk). */
        lsh_memzero(lsh_buf_ptr(payload_out) + start,
                    lsh_buf_len(payload_out) - start);
        restore(payload_out, start);
    }
    return r;
}

int
lsh_pkt_decode(lsh_pkt_dir *d, lsh_buf *in, lsh_buf *payload_out)
{
    size_t total, clear = 0;
    uint8_t *pkt;
    layout l;
    int r;

    if (d->err != 0) {
        return d->err;
    }
    if (in == NULL || payload_out == NULL || in == payload_out ||
        d->mode == LSH_PKT_SEND) {
        return LSH_EINVAL;
    }
    get_layout(d, &l);
    if (!d->rx_have_len && (r = read_length(d, &l, in)) != 0) {
        return r == LSH_EAGAIN ? r : fail(d, r);
    }
    total = 4 + (size_t)d->rx_len + l.maclen;
    if (lsh_buf_len(in) < total) {
        return LSH_EAGAIN;
    }
    pkt = lsh_buf_ptr(in);
    if (!lsh_comp_active(&d->comp) &&
        lsh_buf_len(payload_out) + d->rx_len <= payload_out->max) {
        /* The usual case: decrypt straight into payload_out.  `in` keeps
         * the ciphertext; only a classic packet's first block (decrypted
         * by read_length) is plaintext there. */
        r = open_into(d, &l, pkt, d->rx_len, payload_out);
        if (!l.clear_len && l.ci->kind == LSH_CIPHER_STREAM) {
            clear = l.ci->block_size - 4;
        }
    } else if ((r = unprotect(d, &l, pkt, d->rx_len)) == 0) {
        /* Inflating, or too little room for the padded body. */
        r = deliver(d, pkt + 4, d->rx_len, payload_out);
        clear = d->rx_len;
    }
    if (r != 0) {
        return fail(d, r);
    }
    /* No plaintext stays behind in `in`, so that it may be a bulk buffer
     * (lsh_buf_set_bulk), which does not wipe what it consumes. */
    lsh_memzero(pkt + 4, clear);
    if ((r = lsh_buf_consume(in, total)) != 0) {
        return fail(d, r);
    }
    d->rx_have_len = 0;
    d->seqnr++;
    d->packets++;
    d->bytes += total;
    return 0;
}
