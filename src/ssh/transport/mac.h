/*
 * Transport MACs (RFC 4253 §6.4, RFC 6668, openssh PROTOCOL §1.5 for the
 * "-etm@openssh.com" encrypt-then-MAC forms).
 *
 * A MAC here is always computed over uint32 sequence_number || data, where
 * data is the unencrypted packet (RFC 4253 §6.4) or, for the etm forms,
 * the clear length followed by the ciphertext.  The HMAC context is keyed
 * once by lsh_mac_init() and re-initialised per packet without re-keying.
 */
#ifndef LSH_SSH_TRANSPORT_MAC_H
#define LSH_SSH_TRANSPORT_MAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define LSH_MAC_MAX_LEN 64
#define LSH_MAC_MAX_KEY 64

typedef struct lsh_mac_info {
    const char *name;
    unsigned key_len; /* bytes of integrity key to derive (RFC 4253 §7.2) */
    unsigned mac_len; /* bytes of MAC on the wire */
    bool etm;         /* encrypt-then-MAC: length in clear, MAC of ciphertext */
    bool legacy;      /* SHA-1 based or otherwise not offered by default */
    const char *digest; /* OpenSSL digest name; NULL for "none" */
} lsh_mac_info;

/*
 * Looks up a MAC by its SSH name; a static entry or NULL.  "none" is
 * returned only in builds made with -DLSH_TESTING.
 */
const lsh_mac_info *lsh_mac_lookup(const char *name);

/* Like lsh_mac_lookup, but "none" is found in every build. */
const lsh_mac_info *lsh__mac_lookup_any(const char *name);

/*
 * One direction's MAC state.  Zero-initialised means "none".  Owned by the
 * embedding struct; release with lsh_mac_free().
 */
typedef struct lsh_mac_ctx {
    const lsh_mac_info *info;
    struct evp_mac_ctx_st *evp;
} lsh_mac_ctx;

/*
 * Keys `m` with info->key_len bytes of `key` (copied into OpenSSL, not
 * kept).  On failure `m` is left zeroed; LSH_ECRYPTO / LSH_ENOMEM.
 */
LSH_MUST_CHECK int lsh_mac_init(lsh_mac_ctx *m, const lsh_mac_info *info,
                                const uint8_t *key);

/* Frees the context (OpenSSL cleanses the key) and zeroes `m`. */
void lsh_mac_free(lsh_mac_ctx *m);

/* Writes info->mac_len bytes of MAC(key, seqnr || data[0..n)) to out. */
LSH_MUST_CHECK int lsh_mac_compute(lsh_mac_ctx *m, uint32_t seqnr,
                                   const uint8_t *data, size_t n,
                                   uint8_t *out);

/*
 * Computes the MAC as above and compares it in constant time with the
 * info->mac_len bytes at `expected`: 0, LSH_EBADMAC or LSH_ECRYPTO.
 */
LSH_MUST_CHECK int lsh_mac_verify(lsh_mac_ctx *m, uint32_t seqnr,
                                  const uint8_t *data, size_t n,
                                  const uint8_t *expected);

/*
 * lsh_mac_verify over data given in two pieces: MAC(key, seqnr || a[0..na)
 * || b[0..nb)), for a packet whose plaintext is not contiguous.
 */
LSH_MUST_CHECK int lsh_mac_verify2(lsh_mac_ctx *m, uint32_t seqnr,
                                   const uint8_t *a, size_t na,
                                   const uint8_t *b, size_t nb,
                                   const uint8_t *expected);

#endif
