/*
 * bcrypt_pbkdf: the password-based key derivation function OpenSSH uses for
 * "bcrypt" in encrypted openssh-key-v1 private keys (PROTOCOL.key §2, §4),
 * as defined by OpenBSD's bcrypt_pbkdf(3) (T. Unangst, 2013).  OpenSSL 3.0
 * does not provide it.
 *
 * For a key-v1 file with ciphername "aes256-ctr" the caller derives
 * 32 + 16 = 48 bytes, cipher key first then IV, from the kdfoptions' salt
 * and rounds.
 */
#ifndef LSH_CRYPTO_BCRYPT_PBKDF_H
#define LSH_CRYPTO_BCRYPT_PBKDF_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Largest output: 32 hash blocks of 32 bytes (the output stride limit). */
#define LSH_BCRYPT_PBKDF_MAXKEY 1024
/* Largest salt accepted. */
#define LSH_BCRYPT_PBKDF_MAXSALT ((size_t)1 << 20)

/*
 * Derives keylen bytes into key from the password pass[0..passlen) and
 * salt[0..saltlen), iterating the bcrypt hash rounds times per block.  Cost
 * is linear in rounds (OpenSSH's ssh-keygen -a, default 16) and in the
 * number of 32-byte output blocks.
 *
 * Returns 0, or LSH_EINVAL when rounds < 1, keylen is 0 or above
 * LSH_BCRYPT_PBKDF_MAXKEY, saltlen is 0 or above LSH_BCRYPT_PBKDF_MAXSALT,
 * or a pointer is NULL (pass may be NULL when passlen is 0); key is then
 * left untouched.  Returns LSH_ECRYPTO / LSH_ENOMEM when OpenSSL's SHA-512
 * fails; key is then zeroed.
 *
 * An empty password is accepted and derives a well-defined key (SHA-512 of
 * the empty string).  OpenBSD's bcrypt_pbkdf() and OpenSSH reject it; callers
 * that must match them exactly should refuse empty passphrases themselves.
 *
 * All intermediate values are zeroed before return.
 */
LSH_MUST_CHECK int lsh_bcrypt_pbkdf(const char *pass, size_t passlen,
                                    const uint8_t *salt, size_t saltlen,
                                    uint8_t *key, size_t keylen,
                                    unsigned rounds);

#endif
