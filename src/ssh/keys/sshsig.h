/*
 * SSH signatures (OpenSSH PROTOCOL.sshsig) and allowed_signers files
 * (ssh-keygen(1), ALLOWED SIGNERS): what `ssh-keygen -Y sign` and
 * `ssh-keygen -Y verify` do, and AsyncSSH's create_sshsig() /
 * validate_sshsig().
 *
 * A signature is the blob (PROTOCOL.sshsig §2)
 *
 *     byte[6] "SSHSIG"  uint32 1  string publickey  string namespace
 *     string reserved  string hash_algorithm  string signature
 *
 * usually armored between "-----BEGIN SSH SIGNATURE-----" and
 * "-----END SSH SIGNATURE-----" lines.  `signature` is an ordinary SSH
 * signature (lsh_key_sign) over the §3 signed data
 *
 *     byte[6] "SSHSIG"  string namespace  string reserved
 *     string hash_algorithm  string H(message)
 *
 * with H SHA-256 or SHA-512.  Certificates as signers are not supported
 * yet (their publickey blob is refused with LSH_EKEYTYPE).
 */
#ifndef LSH_SSH_KEYS_SSHSIG_H
#define LSH_SSH_KEYS_SSHSIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "ssh/keys/key.h"

/* Flags of the _ex functions. */
#define LSH_SSHSIG_HASHED 0x1 /* data is already H(message) */
#define LSH_SSHSIG_RAW 0x2    /* sign: output the bare blob, not armored */

/* Signatures are wrapped at this many base64 characters per line. */
#define LSH_SSHSIG_WRAP 70

/*
 * Signs data[0..n) for namespace (non-empty) with the private key priv,
 * hashing with hashalg ("sha512" if NULL, or "sha256"), and appends the
 * armored signature (ending in "\n") to armored_out, as `ssh-keygen -Y
 * sign` writes it.  RSA keys sign with rsa-sha2-512.  Errors: LSH_EINVAL
 * (empty namespace, unknown hash, no private half), those of
 * lsh_key_sign(), LSH_ENOMEM.  On failure nothing is appended.
 */
LSH_MUST_CHECK int lsh_sshsig_sign(const lsh_key *priv, const char *ns,
                                   const char *hashalg, const uint8_t *data,
                                   size_t n, lsh_buf *armored_out);

/*
 * As lsh_sshsig_sign(), with: sigalg (NULL: the key's default; for RSA
 * "rsa-sha2-256" or "rsa-sha2-512", never "ssh-rsa": LSH_ENOALG), and
 * flags LSH_SSHSIG_HASHED (data is the digest, of the hash's exact
 * length, else LSH_EINVAL) and LSH_SSHSIG_RAW (append the blob itself).
 */
LSH_MUST_CHECK int lsh_sshsig_sign_ex(const lsh_key *priv, const char *ns,
                                      const char *hashalg, const char *sigalg,
                                      const uint8_t *data, size_t n,
                                      unsigned flags, lsh_buf *out);

/*
 * The two halves of signing, for a key held elsewhere (agent, token):
 * lsh_sshsig_signed_data() appends the §3 data to sign (flags:
 * LSH_SSHSIG_HASHED), and lsh_sshsig_wrap() appends the §2 blob built
 * from the public key, the namespace, the hash name and the SSH signature
 * blob sig[0..siglen) (flags: LSH_SSHSIG_RAW, else armored).  Errors:
 * LSH_EINVAL, LSH_ENOMEM, LSH_ETOOLARGE; nothing appended on failure.
 */
LSH_MUST_CHECK int lsh_sshsig_signed_data(const char *ns, const char *hashalg,
                                          const uint8_t *data, size_t n,
                                          unsigned flags, lsh_buf *out);
LSH_MUST_CHECK int lsh_sshsig_wrap(const lsh_key *pub, const char *ns,
                                   const char *hashalg, const uint8_t *sig,
                                   size_t siglen, unsigned flags,
                                   lsh_buf *out);

/* Appends the armored form of blob[0..n) (ends in "\n"). */
LSH_MUST_CHECK int lsh_sshsig_armor(const uint8_t *blob, size_t n,
                                    lsh_buf *out);

/*
 * Removes the armor: in[0..n) must start with the BEGIN line and end with
 * the END line (followed by nothing but whitespace); the base64 between
 * may be broken into lines anywhere.  On success *blob is malloc'd
 * (caller frees).  LSH_EINVAL for anything else, LSH_ENOMEM.
 */
LSH_MUST_CHECK int lsh_sshsig_dearmor(const uint8_t *in, size_t n,
                                      uint8_t **blob, size_t *bloblen);

/* What a verification found out, valid or not. */
typedef struct lsh_sshsig_info {
    const char *reason;  /* static: why it failed, "" when it is valid */
    char hashalg[8];     /* "sha256" or "sha512" once the blob parsed */
    lsh_key_sig_info sk; /* security keys: flags and counter */
} lsh_sshsig_info;

/*
 * Verifies an armored or bare signature sig[0..n) over data[0..dn) for
 * namespace ns, as `ssh-keygen -Y check-novalidate` does: magic,
 * version 1, publickey, namespace equal to ns, hash sha256/sha512, no
 * trailing bytes, an RSA signature made with rsa-sha2-256/512 (not
 * ssh-rsa), and the signature itself.  Who signed is not judged here:
 * check *signer_out with lsh_allowed_signers_check().
 * Returns 0 and, if signer_out is not NULL, the signer's public key in
 * *signer_out (caller owns).  Errors: LSH_EBADSIG (malformed, wrong
 * namespace, bad signature, ...), LSH_EKEYTYPE (the signer's key type,
 * or a certificate, is not supported), LSH_ENOMEM.
 */
LSH_MUST_CHECK int lsh_sshsig_verify(const uint8_t *sig, size_t n,
                                     const char *ns, const uint8_t *data,
                                     size_t dn, lsh_key **signer_out);

/*
 * As lsh_sshsig_verify(), with flags LSH_SSHSIG_HASHED (data is the
 * digest under the signature's hash algorithm) and *info (may be NULL)
 * filled in both success and failure.  For security keys the caller
 * checks info->sk.sk_flags (e.g. LSH_KEY_SK_USER_PRESENT).
 */
LSH_MUST_CHECK int lsh_sshsig_verify_ex(const uint8_t *sig, size_t n,
                                        const char *ns, const uint8_t *data,
                                        size_t dn, unsigned flags,
                                        lsh_key **signer_out,
                                        lsh_sshsig_info *info);

/*
 * allowed_signers files.  Each line is
 *
 *     principals [options] keytype base64-key [comment]
 *
 * principals being a pattern-list of identities (optionally in double
 * quotes), options a comma-separated list of cert-authority,
 * namespaces="pattern-list", valid-after="time", valid-before="time"
 * (times as YYYYMMDD[HHMM[SS]][Z]; names case-insensitive).
 */

#ifndef LSH_TRUST_PROBLEM_DEFINED
#define LSH_TRUST_PROBLEM_DEFINED
/*
 * A line of a trust file (known_hosts, authorized_keys, allowed_signers)
 * that was skipped.  Borrowed from its store.
 */
typedef struct lsh_trust_problem {
    const char *filename; /* as given ("(memory)" for NULL) */
    size_t line;          /* 1-based */
    const char *reason;   /* "invalid marker", "invalid base64 key", ... */
} lsh_trust_problem;
#endif

typedef struct lsh_allowed_signers lsh_allowed_signers;

/* One valid line; borrowed from the store. */
typedef struct lsh_as_entry {
    const char *principals;
    const lsh_key *key;
    int cert_authority;
    const char *namespaces; /* NULL when not restricted */
    uint64_t valid_after;   /* 0: no limit */
    uint64_t valid_before;  /* 0: no limit */
    const char *comment;
    const char *filename;
    size_t line;
} lsh_as_entry;

#define LSH_AS_STRICT 0x1 /* any bad line fails the whole file */

lsh_allowed_signers *lsh_allowed_signers_new(void);
void lsh_allowed_signers_free(lsh_allowed_signers *as);

/*
 * Parses one file and appends its valid lines; bad lines are recorded as
 * problems and skipped.  With LSH_AS_STRICT a file with any bad line adds
 * nothing and gives LSH_EINVAL (problems still recorded).  Otherwise 0,
 * or LSH_ENOMEM.
 */
LSH_MUST_CHECK int lsh_allowed_signers_add(lsh_allowed_signers *as,
                                           const char *data, size_t n,
                                           const char *filename,
                                           unsigned flags);

/* new + add; *out is NULL on failure. */
LSH_MUST_CHECK int lsh_allowed_signers_parse(const char *data, size_t n,
                                             const char *filename,
                                             unsigned flags,
                                             lsh_allowed_signers **out);

size_t lsh_allowed_signers_count(const lsh_allowed_signers *as);
const lsh_as_entry *lsh_allowed_signers_entry(const lsh_allowed_signers *as,
                                              size_t i);
size_t lsh_allowed_signers_problem_count(const lsh_allowed_signers *as);
const lsh_trust_problem *
lsh_allowed_signers_problem(const lsh_allowed_signers *as, size_t i);

/*
 * Decides, as `ssh-keygen -Y verify -I principal` does after the
 * signature itself checked out, whether signer may sign for principal in
 * namespace at time now (seconds since the epoch): some line without
 * cert-authority must hold signer's key, list a principals pattern that
 * principal matches (case-sensitive), a namespaces list that namespace
 * matches (when the line has one and namespace is not NULL), and have
 * valid-after <= now <= valid-before.  Returns 0, or LSH_ENOTFOUND
 * (also for a NULL principal or signer).
 */
LSH_MUST_CHECK int lsh_allowed_signers_check(const lsh_allowed_signers *as,
                                             const char *principal,
                                             const lsh_key *signer,
                                             const char *ns, uint64_t now);

/*
 * The same for a signature made with a certificate: ca_key is the key
 * that signed it, and only cert-authority lines count.  The caller checks
 * the certificate itself (signature, validity at now, principal listed).
 */
LSH_MUST_CHECK int lsh_allowed_signers_check_ca(const lsh_allowed_signers *as,
                                                const char *principal,
                                                const lsh_key *ca_key,
                                                const char *ns, uint64_t now);

/*
 * `ssh-keygen -Y find-principals`: appends the principals field of every
 * line that holds signer's key and is valid for namespace at now, one per
 * line ("\n"-terminated).  Returns the number of lines found (> 0), or
 * LSH_ENOTFOUND, or LSH_ENOMEM / LSH_ETOOLARGE.
 */
LSH_MUST_CHECK int lsh_allowed_signers_find_principals(
    const lsh_allowed_signers *as, const lsh_key *signer, const char *ns,
    uint64_t now, lsh_buf *out);

#endif
