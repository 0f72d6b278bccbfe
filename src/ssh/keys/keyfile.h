/*
 * Key files: private and public keys as stored on disk.
 *
 * Private key formats (import detects the format itself):
 *   "openssh"    openssh-key-v1 (OpenSSH PROTOCOL.key), PEM-armoured
 *                ("-----BEGIN OPENSSH PRIVATE KEY-----") or raw binary;
 *                unencrypted (cipher and KDF "none") or encrypted with
 *                bcrypt_pbkdf and one of the ciphers `ssh-keygen -Z`
 *                accepts: aes128/192/256-ctr (aes256-ctr is the
 *                default), aes128/192/256-cbc, 3des-cbc,
 *                aes128/256-gcm@openssh.com, chacha20-poly1305@openssh.com.
 *   "pkcs1-pem", "pkcs1-der"
 *                PKCS#1 "RSA PRIVATE KEY" for RSA, SEC1 "EC PRIVATE KEY"
 *                for ECDSA (OpenSSL's "type-specific" structure, what
 *                AsyncSSH also calls pkcs1), "DSA PRIVATE KEY" (import
 *                only); PEM may carry the legacy "Proc-Type: 4,ENCRYPTED"
 *                / "DEK-Info" encryption.
 *   "pkcs8-pem", "pkcs8-der"
 *                PKCS#8 PrivateKeyInfo, or EncryptedPrivateKeyInfo when
 *                a passphrase is given (export: PBES2, PBKDF2-HMAC-SHA256,
 *                AES-256-CBC; import: whatever OpenSSL can decrypt).
 *
 * Public key formats:
 *   "openssh"    one line "type base64 [comment]" (OpenSSH .pub files);
 *   "rfc4716"    "---- BEGIN SSH2 PUBLIC KEY ----" blocks (RFC 4716);
 *   "pkcs1-pem", "pkcs1-der"   PKCS#1 "RSA PUBLIC KEY" (RSA only);
 *   "pkcs8-pem", "pkcs8-der"   SubjectPublicKeyInfo "PUBLIC KEY".
 * A public key file may hold many keys, in any mix of these formats
 * (DER: exactly one).  Certificates ("*-cert-v01@openssh.com" lines) are
 * read by cert.h, not here.
 *
 * Key types: everything key.h knows.  ssh-dss private keys are import
 * only (their public keys export as "openssh", "rfc4716", "pkcs8-*").
 * Security keys (sk-*) exist only in openssh-key-v1 and one-line public
 * forms; Ed25519/Ed448 have no PKCS#1 form.
 *
 * Checks: a private key must match its public key (openssh-key-v1: the
 * public key of the header; every format: RSA n = pq, ed = 1 mod p-1 and
 * q-1, CRT values, ECDSA scalar range and d*G = Q, DSA y = g^x, Ed25519/
 * Ed448 public key derived from the seed), and every public key must pass
 * the checks lsh_key_from_blob() applies, whatever file it came from
 * (OpenSSL's decoders check much less).
 *
 * Limits: input above LSH_KEYFILE_MAX_SIZE is refused (LSH_ETOOLARGE)
 * before it is looked at, and so is a bcrypt round count above the cap
 * (LSH_KEYFILE_MAX_KDF_ROUNDS unless the _ex variant gives another one),
 * because each round costs about 7.5 ms for the 48 key bytes of
 * aes256-ctr (ssh-keygen's default of 16 takes 0.12 s on a 2020s x86
 * core): a hostile file can make an import take at most about 75 s.
 *
 * Errors and detail: importers take an optional errbuf (NULL or errlen 0
 * for none) that receives a one-line, NUL-terminated description of what
 * is wrong ("openssh-key-v1: check integers differ", "unknown cipher
 * 'x'", "PEM: bad base64 at line 3"); it is "" on success.
 *
 * Randomness: openssh-key-v1 salts and check integers come from the rng
 * callback.  The PKCS#8/PEM encryptions are done by OpenSSL, whose own
 * RNG makes their salts and IVs.
 */
#ifndef LSH_SSH_KEYS_KEYFILE_H
#define LSH_SSH_KEYS_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "ssh/keys/key.h"

/* Largest key file accepted, in bytes. */
#define LSH_KEYFILE_MAX_SIZE ((size_t)1 << 20)

/* Default cap on bcrypt_pbkdf rounds when reading openssh-key-v1 files. */
#define LSH_KEYFILE_MAX_KDF_ROUNDS 10000u

/* Rounds used on export when 0 is asked for (ssh-keygen's default). */
#define LSH_KEYFILE_DEFAULT_KDF_ROUNDS 16u

/* Random bytes for the formats we encrypt ourselves: 0 or a negative code. */
typedef int (*lsh_keyfile_rng_cb)(void *ctx, uint8_t *out, size_t n);

/*
 * Reads one private key from data[0..n), detecting the format.
 *
 * passphrase may be NULL.  An encrypted file with a NULL or empty
 * passphrase gives LSH_ENEEDPASSPHRASE (OpenSSH never encrypts with an
 * empty one); a wrong passphrase gives LSH_EBADPASSPHRASE (for
 * openssh-key-v1: check integers differ after decryption or the AEAD
 * tag does not verify; for PEM/PKCS#8: OpenSSL cannot decrypt).
 *
 * On success *out is a new key with its private half (caller owns) and,
 * when comment_out is not NULL, *comment_out a malloc'd NUL-terminated
 * comment (caller frees; "" for formats without one).  On failure both
 * are untouched.  Errors: LSH_ETOOLARGE (file or KDF rounds over their
 * caps), LSH_EKEYTYPE (unknown or unsupported key type or curve),
 * LSH_EKEYSIZE, LSH_EBADKEY (malformed file: see errbuf),
 * LSH_ENEEDPASSPHRASE, LSH_EBADPASSPHRASE, LSH_ENOMEM, LSH_ECRYPTO.
 */
LSH_MUST_CHECK int lsh_keyfile_import_private(const uint8_t *data, size_t n,
                                              const char *passphrase,
                                              lsh_key **out,
                                              char **comment_out,
                                              char *errbuf, size_t errlen);

/*
 * As lsh_keyfile_import_private() with another cap on bcrypt rounds
 * (fuzzers set it very low; 0 means LSH_KEYFILE_MAX_KDF_ROUNDS).
 */
LSH_MUST_CHECK int lsh_keyfile_import_private_ex(
    const uint8_t *data, size_t n, const char *passphrase,
    unsigned max_kdf_rounds, lsh_key **out, char **comment_out,
    char *errbuf, size_t errlen);

/*
 * Writes k's private key to out in `format` ("openssh", "pkcs1-pem",
 * "pkcs1-der", "pkcs8-pem", "pkcs8-der").
 *
 * passphrase NULL or "" writes the key unencrypted (openssh: cipher and
 * KDF "none", as ssh-keygen does; cipher is then ignored).  Otherwise:
 *   openssh:   cipher NULL means "aes256-ctr"; any name listed above;
 *              rounds 0 means LSH_KEYFILE_DEFAULT_KDF_ROUNDS, at most
 *              LSH_KEYFILE_MAX_KDF_ROUNDS.  rng makes the 16-byte salt
 *              and the check integer.
 *   pkcs8-*:   EncryptedPrivateKeyInfo, PBES2 with PBKDF2-HMAC-SHA256;
 *              cipher NULL means "aes256-cbc" (also "aes128-cbc",
 *              "aes192-cbc").
 *   pkcs1-pem: legacy PEM encryption (DEK-Info), same cipher names.
 *   pkcs1-der: cannot be encrypted (LSH_EINVAL).
 * rng is needed only for "openssh" (may be NULL otherwise).  The PEM and
 * openssh outputs end with a newline.  comment (NULL: "") is stored by
 * "openssh" only.
 *
 * Errors: LSH_EINVAL (unknown format, no private half, rounds over the
 * cap, rng missing), LSH_ENOALG (unknown cipher), LSH_EUNSUPPORTED (this
 * key type has no such format, or is import-only: ssh-dss; security keys
 * only in "openssh"), LSH_ECRYPTO, LSH_ENOMEM, LSH_ETOOLARGE, or the
 * rng's error.  On failure nothing is appended to out.
 */
LSH_MUST_CHECK int lsh_keyfile_export_private(
    const lsh_key *k, const char *comment, const char *format,
    const char *passphrase, const char *cipher, unsigned rounds,
    lsh_keyfile_rng_cb rng, void *rng_ctx, lsh_buf *out);

/*
 * Called once per key by lsh_keyfile_import_public_list(), in file
 * order.  The callback takes ownership of key (one reference); comment
 * is borrowed for the duration of the call ("" when there is none).
 * A nonzero return stops the import, which then returns that value.
 */
typedef int (*lsh_keyfile_public_cb)(void *ctx, lsh_key *key,
                                     const char *comment);

/*
 * Reads every public key of a public key file data[0..n): OpenSSH
 * one-line keys (blank lines and lines starting with '#' are skipped),
 * RFC 4716 blocks and PEM "PUBLIC KEY" / "RSA PUBLIC KEY" blocks, in any
 * mix, or a single DER SubjectPublicKeyInfo / PKCS#1 RSAPublicKey.
 *
 * Returns the number of keys passed to cb (0 for a file without keys),
 * or a negative code at the first bad entry (LSH_EBADKEY with the line
 * number in errbuf, LSH_EKEYTYPE for an unknown type or a certificate,
 * LSH_ETOOLARGE, LSH_ENOMEM, or what cb returned).  Keys already passed
 * to cb stay with cb's owner.
 */
LSH_MUST_CHECK int lsh_keyfile_import_public_list(const uint8_t *data,
                                                  size_t n,
                                                  lsh_keyfile_public_cb cb,
                                                  void *ctx, char *errbuf,
                                                  size_t errlen);

/*
 * Reads a public key file that holds exactly one key (LSH_EBADKEY for
 * none or more than one).  On success *out is the key (caller owns) and,
 * if comment_out is not NULL, *comment_out its malloc'd comment (caller
 * frees).  On failure both are untouched.
 */
LSH_MUST_CHECK int lsh_keyfile_import_public(const uint8_t *data, size_t n,
                                             lsh_key **out,
                                             char **comment_out,
                                             char *errbuf, size_t errlen);

/*
 * Writes k's public key in `format` ("openssh", "rfc4716", "pkcs1-pem",
 * "pkcs1-der", "pkcs8-pem", "pkcs8-der") to out.  comment (NULL: none)
 * goes after the key in "openssh" and into a quoted Comment header in
 * "rfc4716" (base64 wrapped at 70 characters as ssh-keygen -e writes it,
 * header lines continued with '\' to stay within RFC 4716's 72); the
 * other formats have no comment.  Text formats end with a newline.
 * Errors: LSH_EINVAL (unknown format, comment with a newline),
 * LSH_EUNSUPPORTED (pkcs1-* for non-RSA keys, pkcs* for security keys),
 * LSH_ECRYPTO, LSH_ENOMEM, LSH_ETOOLARGE.  On failure nothing is
 * appended.
 */
LSH_MUST_CHECK int lsh_keyfile_export_public(const lsh_key *k,
                                             const char *comment,
                                             const char *format,
                                             lsh_buf *out);

#endif
