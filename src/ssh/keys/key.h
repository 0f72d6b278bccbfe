/*
 * lsh_key: SSH public keys, private keys and their signatures.
 *
 * Key types and wire formats:
 *   ssh-ed25519, ssh-ed448                 RFC 8709 §4, §6
 *   ecdsa-sha2-nistp256/384/521            RFC 5656 §3.1, §3.1.2
 *   ssh-rsa (rsa-sha2-256/512, ssh-rsa)    RFC 4253 §6.6, RFC 8332 §3
 *   ssh-dss (verify only, legacy)          RFC 4253 §6.6
 *   sk-ssh-ed25519@openssh.com,
 *   sk-ecdsa-sha2-nistp256@openssh.com     OpenSSH PROTOCOL.u2f (verify only)
 *
 * A "blob" is the public key encoding that starts with the key type name
 * (string "ssh-ed25519", ...).  A "signature blob" is the SSH signature
 * encoding (string signature-algorithm-name, string signature, ... ) that
 * goes inside the `string signature` field of KEXDH_REPLY and
 * USERAUTH_REQUEST.
 *
 * Keys are immutable once built and reference counted (atomically, so a
 * key may be shared with a worker thread that signs).  Every function
 * that returns a key hands the caller one reference, released with
 * lsh_key_free().  Functions that take a key need a non-NULL one unless
 * they say otherwise.
 */
#ifndef LSH_SSH_KEYS_KEY_H
#define LSH_SSH_KEYS_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

typedef struct lsh_key lsh_key;

enum lsh_key_type {
    LSH_KEY_ED25519,
    LSH_KEY_ED448,
    LSH_KEY_ECDSA_P256,
    LSH_KEY_ECDSA_P384,
    LSH_KEY_ECDSA_P521,
    LSH_KEY_RSA,
    LSH_KEY_DSA,
    LSH_KEY_SK_ED25519,
    LSH_KEY_SK_ECDSA_P256
};

#define LSH_KEY_TYPE_COUNT 9

/* RSA modulus sizes accepted in blobs and for generation, in bits. */
#define LSH_KEY_RSA_MIN_BITS 1024
#define LSH_KEY_RSA_MAX_BITS 16384
#define LSH_KEY_RSA_DEFAULT_BITS 3072

/* Large enough for any string lsh_key_fingerprint() writes, with its NUL. */
#define LSH_KEY_FP_MAX 64

/* Flag bit of a security-key signature: the user touched the token. */
#define LSH_KEY_SK_USER_PRESENT 0x01
/* Flag bit of a security-key signature: the token verified the user. */
#define LSH_KEY_SK_USER_VERIFIED 0x04

/*
 * What lsh_key_verify_ex() learnt from a valid signature besides its
 * validity.  For security-key signatures (PROTOCOL.u2f) `sk_flags` and
 * `sk_counter` are the token's flags and signature counter, which the
 * caller checks against its policy (e.g. require LSH_KEY_SK_USER_PRESENT);
 * for other keys both are 0.
 */
typedef struct lsh_key_sig_info {
    uint8_t sk_flags;
    uint32_t sk_counter;
} lsh_key_sig_info;

/* Takes one more reference and returns k (NULL gives NULL). */
lsh_key *lsh_key_ref(lsh_key *k);

/* Drops one reference; the last one zeroes and frees the key.  NULL is ok. */
void lsh_key_free(lsh_key *k);

enum lsh_key_type lsh_key_type(const lsh_key *k);

/*
 * Generates a new private key.  `bits` matters only for RSA (0 gives
 * LSH_KEY_RSA_DEFAULT_BITS; outside LSH_KEY_RSA_MIN_BITS..MAX_BITS gives
 * LSH_EKEYSIZE); the EdDSA and ECDSA types ignore it.  LSH_KEY_DSA and the
 * security-key types give LSH_EUNSUPPORTED.  On success *out holds a new
 * key owned by the caller; on failure *out is untouched.
 */
LSH_MUST_CHECK int lsh_key_generate(enum lsh_key_type type, unsigned bits,
                                    lsh_key **out);

/*
 * Parses a public key blob, strictly: the whole of blob[0..n) must be one
 * key (LSH_ETRAILING otherwise), point and key lengths must be exact, an
 * EC point must be uncompressed and on its curve, an RSA modulus must have
 * LSH_KEY_RSA_MIN_BITS..MAX_BITS bits (else LSH_EKEYSIZE) and its
 * exponent must be odd and greater than 1.  Errors: LSH_ETRUNCATED,
 * LSH_ETRAILING, LSH_EKEYTYPE (unknown type name), LSH_EBADKEY (malformed
 * or invalid key), LSH_EKEYSIZE, LSH_EBADMPINT, LSH_ENOMEM, LSH_ECRYPTO.
 * Certificate types are not keys here (LSH_EKEYTYPE).  On success *out
 * holds a new public key owned by the caller; on failure it is untouched.
 */
LSH_MUST_CHECK int lsh_key_from_blob(const uint8_t *blob, size_t n,
                                     lsh_key **out);

/* Appends the public key blob of k to out; on failure nothing is appended. */
LSH_MUST_CHECK int lsh_key_to_blob(const lsh_key *k, lsh_buf *out);

/* The key type name used in blobs ("ssh-ed25519", ...); static storage. */
const char *lsh_key_type_name(const lsh_key *k);

/* Same, from a type; NULL for a value outside the enum. */
const char *lsh_key_type_name_of(enum lsh_key_type type);

/* Maps a key type name to its type: 0, or LSH_EKEYTYPE if unknown. */
LSH_MUST_CHECK int lsh_key_type_from_name(const char *name,
                                          enum lsh_key_type *out);

/*
 * Maps a signature algorithm name ("rsa-sha2-256", "ssh-ed25519", ...) to
 * the key type that makes it: 0, or LSH_EKEYTYPE if unknown.  This is
 * what a server needs for the public key algorithm name of a
 * USERAUTH_REQUEST (RFC 8332 §3.2).
 */
LSH_MUST_CHECK int lsh_key_type_from_sigalg(const char *sigalg,
                                            enum lsh_key_type *out);

/* 1 if signatures named `sigalg` can be made or checked with k, else 0. */
int lsh_key_sigalg_ok(const lsh_key *k, const char *sigalg);

/*
 * The signature algorithm used when none is asked for: the key type name,
 * except "rsa-sha2-512" for RSA keys (RFC 8332).  Static storage.
 */
const char *lsh_key_default_sigalg(const lsh_key *k);

/*
 * The signature algorithms of k, best first, as a NULL-terminated array
 * of static strings.
 */
const char *const *lsh_key_sigalgs(const lsh_key *k);

/*
 * Signs data[0..n) with k and appends the SSH signature blob (string
 * sigalg, string signature) to out.  sigalg NULL means the default one.
 * Errors: LSH_EUNSUPPORTED for security keys and DSA (their private half
 * is not usable here), LSH_EINVAL if k has no private half, LSH_ENOALG if
 * sigalg does not suit k, LSH_ECRYPTO, LSH_ENOMEM, LSH_ETOOLARGE (out is
 * full).  On failure nothing is appended.
 */
LSH_MUST_CHECK int lsh_key_sign(const lsh_key *k, const char *sigalg,
                                const uint8_t *data, size_t n, lsh_buf *out);

/*
 * Verifies the SSH signature blob sig[0..siglen) over data[0..n) with k.
 * The blob is parsed strictly (no trailing bytes, ECDSA r and s in
 * 1..order-1, EdDSA signatures of exact length, RSA signatures of at most
 * the modulus length, shorter ones being left-padded as OpenSSH does).
 * Its algorithm name must suit k and, if `sigalg` is not NULL, equal it.
 * Returns 0 for a valid signature and LSH_EBADSIG for anything else,
 * malformed input included (LSH_ENOMEM on allocation failure).
 */
LSH_MUST_CHECK int lsh_key_verify(const lsh_key *k, const char *sigalg,
                                  const uint8_t *sig, size_t siglen,
                                  const uint8_t *data, size_t n);

/*
 * As lsh_key_verify(); in addition, when the signature is valid and info
 * is not NULL, fills *info (security-key flags and counter).
 */
LSH_MUST_CHECK int lsh_key_verify_ex(const lsh_key *k, const char *sigalg,
                                     const uint8_t *sig, size_t siglen,
                                     const uint8_t *data, size_t n,
                                     lsh_key_sig_info *info);

/*
 * 1 if k holds a private half (for security keys: a key handle), else 0.
 */
int lsh_key_has_private(const lsh_key *k);

/* 1 if a and b have the same type and public key, else 0. */
int lsh_key_equal_public(const lsh_key *a, const lsh_key *b);

/* A new key with only the public half of k (caller owns); NULL on error. */
lsh_key *lsh_key_public_copy(const lsh_key *k);

/*
 * Writes the fingerprint of k's public blob as a NUL-terminated string:
 * hash "sha256" gives "SHA256:" and the unpadded base64 of SHA-256(blob),
 * "md5" gives "MD5:" and colon-separated lowercase hex, as `ssh-keygen -l`
 * prints them.  LSH_EINVAL for another hash name, LSH_ETOOLARGE if outlen
 * is too small (LSH_KEY_FP_MAX always suffices); out is then "" if
 * outlen > 0.
 */
LSH_MUST_CHECK int lsh_key_fingerprint(const lsh_key *k, const char *hash,
                                       char *out, size_t outlen);

/*
 * The size ssh-keygen reports: 256 for Ed25519, 456 for Ed448, the curve
 * size for ECDSA, the modulus (RSA) or prime p (DSA) size in bits.
 */
unsigned lsh_key_bits(const lsh_key *k);

#endif
