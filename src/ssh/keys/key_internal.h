/*
 * Internals of lsh_key shared with the other modules of src/ssh/keys/
 * (private key files, certificates, agent), which need the OpenSSL key
 * inside an lsh_key and the security-key fields.  Code outside
 * src/ssh/keys/ uses key.h only.
 */
#ifndef LSH_SSH_KEYS_KEY_INTERNAL_H
#define LSH_SSH_KEYS_KEY_INTERNAL_H

#include <openssl/evp.h>

#include "common/buf.h"
#include "common/rd.h"
#include "ssh/keys/key.h"

/*
 * Wraps an OpenSSL key as an lsh_key of type t.  Takes ownership of pk in
 * every case: on failure pk is freed.  pk must be of the algorithm (and
 * curve) of t and, for RSA, have a modulus of LSH_KEY_RSA_MIN_BITS..MAX_BITS
 * bits; whether it holds a private half is found out from pk.  For the
 * security-key types pk is the public key (EC P-256 or Ed25519) and the
 * application starts empty: set it with lsh__key_sk_set_application().
 * Returns a new key (caller owns one reference) or NULL on a type mismatch
 * or allocation failure.
 */
lsh_key *lsh__key_from_pkey(EVP_PKEY *pk, enum lsh_key_type t);

/* The OpenSSL key inside k, borrowed: valid while k is. */
EVP_PKEY *lsh__key_pkey(const lsh_key *k);

/*
 * Reads the type-specific public fields that follow the type name in a
 * blob (RFC 4253 §6.6 layout without its leading string) for type t from
 * rd, leaving the cursor after them (no lsh_rd_end: certificates and
 * private key files carry more fields).  Same checks and errors as
 * lsh_key_from_blob(); on success *out is a new public key.
 */
LSH_MUST_CHECK int lsh__key_parse_fields(enum lsh_key_type t, lsh_rd *rd,
                                         lsh_key **out);

/* Appends those public fields of k (its blob without the type name). */
LSH_MUST_CHECK int lsh__key_put_fields(const lsh_key *k, lsh_buf *out);

/*
 * Security keys (PROTOCOL.u2f).  The setters are for building a key
 * (they copy their input) and must not be called on a key already shared
 * with another owner.  LSH_EINVAL if k is not a security key.
 *
 * The application string ("ssh:" usually) is part of the public key.
 * The getter returns a borrowed pointer (valid until the next setter call
 * or while k lives) and its length, or NULL for other key types.
 */
LSH_MUST_CHECK int lsh__key_sk_set_application(lsh_key *k, const uint8_t *app,
                                               size_t n);
const uint8_t *lsh__key_sk_application(const lsh_key *k, size_t *n);

/*
 * The private half of a security key as stored in a key file: the
 * enrolment flags and the key handle the token needs to sign.  Not used
 * by this module (signing goes through the token), only kept.  Once a
 * handle is set, lsh_key_has_private() returns 1.  The getter returns a
 * borrowed pointer or NULL when no handle is set.
 */
LSH_MUST_CHECK int lsh__key_sk_set_handle(lsh_key *k, uint8_t flags,
                                          const uint8_t *handle, size_t n);
const uint8_t *lsh__key_sk_handle(const lsh_key *k, uint8_t *flags,
                                  size_t *n);

#endif
