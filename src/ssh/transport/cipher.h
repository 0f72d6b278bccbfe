/*
 * Transport ciphers (RFC 4253 §6.3, RFC 4344, RFC 5647 with
 * draft-miller-sshm-aes-gcm, openssh PROTOCOL.chacha20poly1305).
 *
 * Two kinds of cipher live here:
 *   - plain ciphers (aes*-ctr, aes*-cbc, 3des-cbc, none): a keystream or
 *     chaining state that runs across packets; lsh_cipher_crypt()
 *     transforms whole blocks in place and a separate MAC authenticates;
 *   - AEAD ciphers (aes*-gcm@openssh.com, chacha20-poly1305@openssh.com):
 *     they take the whole packet, including its 4-byte length, and
 *     produce or check a tag themselves (lsh_cipher_seal/lsh_cipher_open).
 *
 * The EVP contexts are created once by lsh_cipher_init() (at NEWKEYS) and
 * reused for every packet; only the nonce is re-set per packet.
 */
#ifndef LSH_SSH_TRANSPORT_CIPHER_H
#define LSH_SSH_TRANSPORT_CIPHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Largest key, IV, block and tag any cipher here needs. */
#define LSH_CIPHER_MAX_KEY 64
#define LSH_CIPHER_MAX_IV 16
#define LSH_CIPHER_MAX_BLOCK 16
#define LSH_CIPHER_MAX_TAG 16

typedef enum lsh_cipher_kind {
    LSH_CIPHER_NONE = 0,
    LSH_CIPHER_STREAM, /* CTR and CBC: EVP keeps the state across packets */
    LSH_CIPHER_GCM,
    LSH_CIPHER_CHACHAPOLY
} lsh_cipher_kind;

typedef struct lsh_cipher_info {
    const char *name;
    unsigned key_len;    /* bytes of key material to derive (RFC 4253 §7.2) */
    unsigned iv_len;     /* bytes of IV to derive; 0 when none is used */
    unsigned block_size; /* cipher block size; padding uses max(8, this) */
    unsigned tag_len;    /* AEAD tag length; 0 for plain ciphers */
    bool aead;           /* the negotiated MAC is ignored (implicit MAC) */
    bool legacy;         /* weak or deprecated: not offered by default */
    lsh_cipher_kind kind;
} lsh_cipher_info;

/*
 * Looks up a cipher by its SSH name.  Returns a static entry, or NULL when
 * the name is unknown.  "none" is returned only in builds made with
 * -DLSH_TESTING, so that it can never be negotiated in production.
 */
const lsh_cipher_info *lsh_cipher_lookup(const char *name);

/*
 * Like lsh_cipher_lookup, but also returns "none" in every build; the
 * packet layer uses it for the initial unencrypted state.
 */
const lsh_cipher_info *lsh__cipher_lookup_any(const char *name);

/* The info for "none" (the state of a zero-initialised direction). */
const lsh_cipher_info *lsh__cipher_none(void);

/*
 * One direction's cipher state.  Zero-initialised means "none".  Owned by
 * the embedding struct; release with lsh_cipher_free().
 */
typedef struct lsh_cipher_ctx {
    const lsh_cipher_info *info;
    struct evp_cipher_ctx_st *evp;  /* CTR/CBC/GCM; K_2 for chacha-poly */
    struct evp_cipher_ctx_st *evp2; /* K_1 (length) for chacha-poly */
    struct evp_mac_ctx_st *poly;    /* Poly1305 for chacha-poly */
    uint8_t nonce[12];              /* GCM: fixed(4) || invocation(8) */
    int encrypt;
} lsh_cipher_ctx;

/*
 * Sets up `c` for `info` in one direction (encrypt nonzero to seal/encrypt).
 * key holds info->key_len bytes and iv info->iv_len bytes (both may be NULL
 * when the length is 0); they are copied into OpenSSL's contexts and not
 * kept.  On failure `c` is left zeroed and LSH_EINVAL (missing key or IV),
 * LSH_ECRYPTO or LSH_ENOMEM is returned.  `c` must hold no live contexts
 * (zeroed or freed) before the call.
 */
LSH_MUST_CHECK int lsh_cipher_init(lsh_cipher_ctx *c,
                                   const lsh_cipher_info *info, int encrypt,
                                   const uint8_t *key, const uint8_t *iv);

/* Frees the OpenSSL contexts (which cleanse their keys) and zeroes `c`. */
void lsh_cipher_free(lsh_cipher_ctx *c);

/*
 * Plain ciphers: encrypts or decrypts n bytes in place (n a multiple of the
 * block size), continuing the stream from the previous call.  A no-op for
 * "none".  LSH_EINVAL for an AEAD context, LSH_ECRYPTO if OpenSSL fails.
 */
LSH_MUST_CHECK int lsh_cipher_crypt(lsh_cipher_ctx *c, uint8_t *buf, size_t n);

/*
 * lsh_cipher_crypt from `in` into `out` (n bytes each; the two are either
 * the same pointer or do not overlap).  For "none" the bytes are copied.
 */
LSH_MUST_CHECK int lsh_cipher_crypt_to(lsh_cipher_ctx *c, const uint8_t *in,
                                       uint8_t *out, size_t n);

/*
 * AEAD, sending: `pkt` is a whole packet of n bytes, the 4-byte
 * packet_length followed by the padded plaintext.  Encrypts in place
 * (GCM leaves the length in clear as AAD, RFC 5647 §7.3; chacha-poly
 * encrypts it with K_1) and writes info->tag_len bytes to `tag`.
 * `seqnr` is the packet sequence number (the chacha-poly nonce; GCM uses
 * its own invocation counter, advanced by every seal/open).
 */
LSH_MUST_CHECK int lsh_cipher_seal(lsh_cipher_ctx *c, uint32_t seqnr,
                                   uint8_t *pkt, size_t n, uint8_t *tag);

/*
 * AEAD, receiving: checks `tag` over the whole packet pkt[0..n) as
 * received, and only then decrypts pkt[4..n) in place (chacha-poly) or
 * decrypts and checks together (GCM, whose output is wiped on failure).
 * The 4 length bytes are left as received.  LSH_EBADMAC on a bad tag.
 */
LSH_MUST_CHECK int lsh_cipher_open(lsh_cipher_ctx *c, uint32_t seqnr,
                                   uint8_t *pkt, size_t n, const uint8_t *tag);

/*
 * lsh_cipher_open, but the n - 4 decrypted bytes of pkt[4..n) go to `out`
 * (pkt + 4 itself, or memory that does not overlap pkt) and pkt is only
 * read.  On a bad tag `out` is wiped (GCM) or never written (chacha-poly).
 */
LSH_MUST_CHECK int lsh_cipher_open_to(lsh_cipher_ctx *c, uint32_t seqnr,
                                      const uint8_t *pkt, size_t n,
                                      const uint8_t *tag, uint8_t *out);

/*
 * chacha20-poly1305@openssh.com, receiving: decrypts the 4-byte length
 * `in` with K_1 and nonce seqnr and stores it in *len.  The input is not
 * modified (the tag covers the encrypted length).  For GCM the length is
 * in clear and this simply reads it.
 */
LSH_MUST_CHECK int lsh_cipher_peek_length(lsh_cipher_ctx *c, uint32_t seqnr,
                                          const uint8_t in[4], uint32_t *len);

#endif
