/*
 * Key exchange methods: ECDH over X25519/X448 (RFC 8731) and NIST curves
 * (RFC 5656 §4), Diffie-Hellman over fixed MODP groups (RFC 4253 §8,
 * RFC 8268) and group exchange (RFC 4419, RFC 8270), with the exchange
 * hash and the key derivation of RFC 4253 §7.2.
 *
 * A method is looked up by its negotiated name.  One exchange runs on an
 * opaque lsh_kex_state:
 *
 *   client                                server
 *   lsh_kex_client_init  -- Q_C / e -->   lsh_kex_server_reply
 *   lsh_kex_client_finish <-- Q_S / f --   (gives K at once)
 *
 * For group exchange both sides first fix the group: the server with
 * lsh_kex_gex_choose + lsh_kex_state_use_group, the client with
 * lsh_kex_gex_check_group + lsh_kex_state_set_group.
 *
 * Public values ("pub") cross this API raw: the octet string of the point
 * for ECDH kinds, the big-endian magnitude without leading zeros for
 * DH kinds.  lsh_kex_put_pub / lsh_kex_get_pub encode and parse them as
 * they appear in the messages and in the exchange hash (string or mpint).
 * The shared secret K is returned already encoded as it enters the hash
 * and the key derivation (an mpint for every method here).
 *
 * Ephemeral private keys come from the caller's rng callback only, so a
 * test with a fixed rng is deterministic.
 */
#ifndef LSH_SSH_TRANSPORT_KEX_METHODS_H
#define LSH_SSH_TRANSPORT_KEX_METHODS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/rd.h"

/*
 * Randomness callback: fills out[0..n) and returns 0, or nonzero on
 * failure (reported as LSH_ECRYPTO).
 */
typedef int (*lsh_rng_cb)(void *ctx, uint8_t *out, size_t n);

/* Message numbers (RFC 4253 §12, RFC 5656 §7.1, RFC 4419 §5). */
#define LSH_MSG_KEXDH_INIT 30
#define LSH_MSG_KEXDH_REPLY 31
#define LSH_MSG_KEX_ECDH_INIT 30
#define LSH_MSG_KEX_ECDH_REPLY 31
#define LSH_MSG_KEX_DH_GEX_REQUEST_OLD 30
#define LSH_MSG_KEX_DH_GEX_GROUP 31
#define LSH_MSG_KEX_DH_GEX_INIT 32
#define LSH_MSG_KEX_DH_GEX_REPLY 33
#define LSH_MSG_KEX_DH_GEX_REQUEST 34

typedef enum lsh_kex_kind {
    LSH_KEX_KIND_ECDH = 1, /* X25519, X448, NIST P-curves: string Q_C/Q_S */
    LSH_KEX_KIND_DH,       /* fixed MODP group: mpint e/f */
    LSH_KEX_KIND_GEX       /* group exchange: mpint e/f, group in hash */
} lsh_kex_kind;

struct lsh_kex_ops;

typedef struct lsh_kex_method {
    const char *name;
    /* HASH of RFC 4253 §7.2 (exchange hash and key derivation). */
    const EVP_MD *(*md)(void);
    lsh_kex_kind kind;
    /* SHA-1 or a 1024-bit group: RFC 9142 says SHOULD NOT / phase out. */
    int legacy;
    /* Internal: curve or group description, and the operations. */
    const void *params;
    const struct lsh_kex_ops *ops;
} lsh_kex_method;

typedef struct lsh_kex_state lsh_kex_state;

/* The method with this name, or NULL. */
const lsh_kex_method *lsh_kex_method_lookup(const char *name);

/* The i-th method of the table (in preference order), NULL past the end. */
const lsh_kex_method *lsh_kex_method_at(size_t i);

/*
 * Creates the state of one exchange with method m (*out owned by the
 * caller, freed with lsh_kex_state_free, which zeroes every secret).
 * LSH_EINVAL for a NULL method, LSH_ENOMEM.  After any failure of
 * client_init, server_reply or client_finish the state refuses further
 * operations with LSH_ESTATE: an exchange that failed is not retried.
 */
LSH_MUST_CHECK int lsh_kex_state_new(const lsh_kex_method *m,
                                     lsh_kex_state **out);
void lsh_kex_state_free(lsh_kex_state *st);

/*
 * Client: makes the ephemeral key from rng bytes and appends the raw
 * public value (Q_C / e) to client_pub_out.  Once per state
 * (LSH_ESTATE otherwise, or for GEX before a group is set).  On failure
 * nothing is appended.
 */
LSH_MUST_CHECK int lsh_kex_client_init(lsh_kex_state *st, lsh_rng_cb rng,
                                       void *rng_ctx, lsh_buf *client_pub_out);

/*
 * Server: validates the client's raw value (ECDH: length and a point on
 * the curve; X25519/X448 outputs that are all zero are refused; DH:
 * 1 < e < p-1, RFC 8268 §4), makes its own ephemeral key, appends the raw
 * Q_S / f to server_pub_out and the encoded K to shared_secret_out.
 * LSH_EBADKEY for an invalid peer value or shared secret; LSH_ESTATE if
 * called twice or after client_init.  On failure nothing is appended.
 */
LSH_MUST_CHECK int lsh_kex_server_reply(lsh_kex_state *st,
                                        const uint8_t *client_pub, size_t len,
                                        lsh_rng_cb rng, void *rng_ctx,
                                        lsh_buf *server_pub_out,
                                        lsh_buf *shared_secret_out);

/*
 * Client: validates the server's raw value as above and appends the
 * encoded K to shared_secret_out.  After lsh_kex_client_init only, once.
 */
LSH_MUST_CHECK int lsh_kex_client_finish(lsh_kex_state *st,
                                         const uint8_t *server_pub, size_t len,
                                         lsh_buf *shared_secret_out);

/* Appends a raw public value as its wire type (string or mpint). */
LSH_MUST_CHECK int lsh_kex_put_pub(lsh_buf *b, const lsh_kex_method *m,
                                   const uint8_t *pub, size_t len);

/*
 * Reads a public value of method m from a message (string or mpint, at
 * most 1025 bytes for DH); *pub borrows the message.
 */
LSH_MUST_CHECK int lsh_kex_get_pub(lsh_rd *rd, const lsh_kex_method *m,
                                   const uint8_t **pub, size_t *len);

/* ------------------------------------------------------------------ */
/* MODP groups and group exchange                                      */

/* A MODP group with generator g (RFC 2409 §6.2, RFC 3526). */
typedef struct lsh_kex_group {
    const char *name; /* "modp1024" (Oakley group 2), "modp2048", ... */
    unsigned bits;
    const char *p_hex;
    unsigned g;
} lsh_kex_group;

/* RFC 8270 minimum group size, and RFC 4419 §3's recommended maximum. */
#define LSH_KEX_GEX_MIN_BITS 2048
#define LSH_KEX_GEX_LEGACY_MIN_BITS 1024
#define LSH_KEX_GEX_MAX_BITS 8192

/* lsh_kex_gex_choose / lsh_kex_gex_check_group flags. */
#define LSH_KEX_GEX_ALLOW_1024 0x1u /* legacy: accept 1024-bit groups */
#define LSH_KEX_GEX_SKIP_PRIME 0x2u /* caller runs lsh_kex_gex_check_prime */

/* The built-in groups, ascending by size; *count receives their number. */
const lsh_kex_group *lsh_kex_groups(size_t *count);

/*
 * Server: picks the group for a client's request (RFC 4419 §3): the
 * smallest group of at least n bits within [min, max], else the largest
 * within [min, max].  Groups under 2048 bits are never chosen unless
 * LSH_KEX_GEX_ALLOW_1024 is set (RFC 8270).  LSH_EPROTOCOL when the
 * request is not min <= n <= max, LSH_ENOALG when no group fits.
 */
LSH_MUST_CHECK int lsh_kex_gex_choose(uint32_t min, uint32_t n, uint32_t max,
                                      unsigned flags,
                                      const lsh_kex_group **out);

/* Appends "mpint p, mpint g" (the body of SSH_MSG_KEX_DH_GEX_GROUP). */
LSH_MUST_CHECK int lsh_kex_group_put(lsh_buf *b, const lsh_kex_group *grp);

/*
 * Client: checks the group the server sent for a request (min, n, max),
 * p and g as raw magnitudes.  The size of p must lie in [min, max] and be
 * at least 2048 bits (1024 with LSH_KEX_GEX_ALLOW_1024) and at most 8192;
 * else LSH_EPROTOCOL.  p must be odd and 1 < g < p-1, else LSH_EBADKEY.
 * A p equal to a built-in group is accepted as is; any other p must pass
 * lsh_kex_gex_check_prime unless LSH_KEX_GEX_SKIP_PRIME is given.
 */
LSH_MUST_CHECK int lsh_kex_gex_check_group(uint32_t min, uint32_t n,
                                           uint32_t max, const uint8_t *p,
                                           size_t plen, const uint8_t *g,
                                           size_t glen, unsigned flags);

/*
 * Probabilistic primality test of p (OpenSSL's BN_check_prime): 0, or
 * LSH_EBADKEY when p is composite.  Costly for large p (measured on one
 * core of the build machine: 0.15 s at 2048 bits, 2 s at 4096, 13 s at
 * 8192): a caller on an event loop may want to run it on a worker thread
 * and pass LSH_KEX_GEX_SKIP_PRIME to lsh_kex_gex_check_group.
 */
LSH_MUST_CHECK int lsh_kex_gex_check_prime(const uint8_t *p, size_t plen);

/*
 * The preferred group size n for a request, from the number of key bytes
 * the negotiated cipher and MAC need (NIST SP 800-57 part 1, table 2:
 * 112-bit strength needs 2048 bits, 128 needs 3072, 192 needs 7680,
 * 256 needs 15360, capped at 8192).
 */
uint32_t lsh_kex_gex_bits_for(size_t key_bytes);

/* Server: fixes a built-in group for a GEX state (before reply). */
LSH_MUST_CHECK int lsh_kex_state_use_group(lsh_kex_state *st,
                                           const lsh_kex_group *grp);

/*
 * Client: fixes the group received in SSH_MSG_KEX_DH_GEX_GROUP (checked
 * with lsh_kex_gex_check_group first) for a GEX state, p and g as raw
 * magnitudes (copied).  LSH_ESTATE if a group is already set or the
 * method is not GEX.
 */
LSH_MUST_CHECK int lsh_kex_state_set_group(lsh_kex_state *st,
                                           const uint8_t *p, size_t plen,
                                           const uint8_t *g, size_t glen);

/*
 * The group of a DH or GEX state as magnitudes, borrowed from the state
 * (valid until lsh_kex_state_free).  LSH_ESTATE when no group is set.
 */
LSH_MUST_CHECK int lsh_kex_state_group(const lsh_kex_state *st,
                                       const uint8_t **p, size_t *plen,
                                       const uint8_t **g, size_t *glen);

/* ------------------------------------------------------------------ */
/* Exchange hash and key derivation                                    */

/*
 * The inputs of the exchange hash H (RFC 4253 §8, RFC 5656 §4,
 * RFC 4419 §3, RFC 8731 §3).  All pointers are borrowed.
 */
typedef struct lsh_kex_hash_input {
    const uint8_t *v_c, *v_s; /* identification strings, without CR LF */
    size_t v_c_len, v_s_len;
    const uint8_t *i_c, *i_s; /* KEXINIT payloads, message byte included */
    size_t i_c_len, i_s_len;
    const uint8_t *k_s; /* server host key blob */
    size_t k_s_len;
    /* GEX only: the request and the group (magnitudes). */
    uint32_t gex_min, gex_n, gex_max;
    int gex_old; /* SSH_MSG_KEX_DH_GEX_REQUEST_OLD: only n is hashed */
    const uint8_t *gex_p, *gex_g;
    size_t gex_p_len, gex_g_len;
    /* Raw public values, as given by / to the lsh_kex_* operations. */
    const uint8_t *client_pub, *server_pub;
    size_t client_pub_len, server_pub_len;
    /* K as returned in shared_secret_out (already encoded). */
    const uint8_t *k;
    size_t k_len;
} lsh_kex_hash_input;

/*
 * Computes H with the method's hash into out; *outlen holds the room in
 * out on entry (EVP_MAX_MD_SIZE is always enough) and the hash length on
 * return.  LSH_EINVAL if the room is too small, LSH_ECRYPTO.
 */
LSH_MUST_CHECK int lsh_kex_exchange_hash(const lsh_kex_method *m,
                                         const lsh_kex_hash_input *in,
                                         uint8_t *out, size_t *outlen);

/*
 * RFC 4253 §7.2 key derivation: writes `need` bytes of
 * K1 || K2 || ... into out, with K1 = HASH(K || H || letter || session_id)
 * and Kn = HASH(K || H || K1 || ... || K(n-1)).  K_enc is K as encoded
 * (lsh_kex_server_reply / lsh_kex_client_finish output); letter is
 * 'A'..'F'.  LSH_EINVAL, LSH_ECRYPTO.
 */
LSH_MUST_CHECK int lsh_kex_derive(const lsh_kex_method *m,
                                  const uint8_t *K_enc, size_t K_len,
                                  const uint8_t *H, size_t hlen,
                                  const uint8_t *session_id, size_t sid_len,
                                  char letter, size_t need, uint8_t *out);

/* ------------------------------------------------------------------ */
/* Internal to kex_methods.c, kex_ecdh.c and kex_dh.c                  */

struct lsh_kex_ops {
    /* Allocates the method's private state (NULL: out of memory). */
    void *(*state_new)(const lsh_kex_method *m);
    void (*state_free)(void *impl);
    int (*init)(void *impl, lsh_rng_cb rng, void *rng_ctx, lsh_buf *pub);
    int (*reply)(void *impl, const uint8_t *cpub, size_t len, lsh_rng_cb rng,
                 void *rng_ctx, lsh_buf *spub, lsh_buf *K);
    int (*finish)(void *impl, const uint8_t *spub, size_t len, lsh_buf *K);
};

extern const struct lsh_kex_ops lsh__kex_ecdh_ops;
extern const struct lsh_kex_ops lsh__kex_dh_ops;

/* Curve description used as lsh_kex_method.params for ECDH kinds. */
typedef struct lsh__kex_curve {
    int pkey_type;      /* EVP_PKEY_X25519, EVP_PKEY_X448 or EVP_PKEY_EC */
    int nid;            /* curve NID for EVP_PKEY_EC */
    const char *group;  /* OpenSSL group name for EVP_PKEY_EC */
    size_t field_bytes; /* coordinate / key size */
} lsh__kex_curve;

extern const lsh__kex_curve lsh__kex_x25519, lsh__kex_x448, lsh__kex_p256,
    lsh__kex_p384, lsh__kex_p521;

/* Built-in groups by size, used as lsh_kex_method.params for DH kinds. */
const lsh_kex_group *lsh__kex_group_bits(unsigned bits);

/* The method-private state of st. */
void *lsh__kex_state_impl(const lsh_kex_state *st);

/* Calls rng and maps its failure to an LSH_E* code. */
int lsh__kex_rng(lsh_rng_cb rng, void *ctx, uint8_t *out, size_t n);

/* DH state access for the group functions of kex_dh.c. */
int lsh__kex_dh_set_group(void *impl, const uint8_t *p, size_t plen,
                          const uint8_t *g, size_t glen);
int lsh__kex_dh_get_group(const void *impl, const uint8_t **p, size_t *plen,
                          const uint8_t **g, size_t *glen);

#endif
