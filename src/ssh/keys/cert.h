/*
 * lsh_cert: OpenSSH certificates (PROTOCOL.certkeys, draft-ietf-sshm-cert).
 *
 *   string  "ssh-ed25519-cert-v01@openssh.com" (or another type below)
 *   string  nonce
 *   byte[]  public key fields of the certified key (as in its blob)
 *   uint64  serial
 *   uint32  type                  1 = user, 2 = host
 *   string  key id
 *   string  valid principals      (string principal)*
 *   uint64  valid after
 *   uint64  valid before
 *   string  critical options      (string name, string data)*
 *   string  extensions            (string name, string data)*
 *   string  reserved
 *   string  signature key         a plain public key blob (the CA)
 *   string  signature             over every byte before this field
 *
 * Types: ssh-ed25519, ssh-ed448, ecdsa-sha2-nistp256/384/521, ssh-rsa,
 * ssh-dss (read only), sk-ssh-ed25519@openssh.com and
 * sk-ecdsa-sha2-nistp256@openssh.com, each with "-cert-v01@openssh.com"
 * (before the '@' for the sk types).  The draft's names without the
 * OpenSSH suffix ("ssh-ed25519-cert", ...) are accepted when parsing; we
 * write OpenSSH's.  ssh-ed448-cert-v01@openssh.com is not in OpenSSH
 * (AsyncSSH has it).
 *
 * Choices where the documents leave room:
 *  - Parsing is strict about structure (no trailing bytes anywhere,
 *    type 1 or 2, names without NUL bytes, at most LSH_CERT_MAX_PRINCIPALS
 *    principals and LSH_CERT_MAX_OPTIONS options per section) and rejects
 *    an option or extension name that appears twice (PROTOCOL.certkeys:
 *    "Each named option may only appear once").  It accepts sections that
 *    are not sorted by name, as OpenSSH does, though we always write them
 *    sorted.  It rejects a CA key that is itself a certificate and a
 *    signature algorithm that does not suit the CA key, but it does not
 *    verify the signature: lsh_cert_verify_signature() and
 *    lsh_cert_validate() do, so that a tool may still show a bad one.
 *  - An empty principals list means "any principal" (PROTOCOL.certkeys);
 *    LSH_CERT_REQUIRE_PRINCIPALS refuses it instead (the draft and sshd
 *    with TrustedUserCAKeys require at least one).
 *  - Known critical options: force-command, source-address and
 *    verify-required, for user certificates only; any critical option on
 *    a host certificate is unknown and refused (none are defined).
 *
 * Ownership: certificates are immutable and reference counted like keys
 * (lsh_cert_ref / lsh_cert_free); every function returning one gives the
 * caller one reference.  Getters return borrowed pointers valid while the
 * certificate lives.
 */
#ifndef LSH_SSH_KEYS_CERT_H
#define LSH_SSH_KEYS_CERT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "ssh/keys/key.h"

typedef struct lsh_cert lsh_cert;

#define LSH_CERT_USER 1
#define LSH_CERT_HOST 2

/* valid_before of a certificate that never expires. */
#define LSH_CERT_FOREVER UINT64_MAX

#define LSH_CERT_MAX_PRINCIPALS 256
#define LSH_CERT_MAX_OPTIONS 256

/* Flags of lsh_cert_validate_ex(). */
#define LSH_CERT_REQUIRE_PRINCIPALS 0x01 /* empty list matches nothing */
#define LSH_CERT_PRINCIPAL_PATTERNS 0x02 /* principals may use '*' and '?' */

lsh_cert *lsh_cert_ref(lsh_cert *c);
void lsh_cert_free(lsh_cert *c);

/*
 * The certificate type name of a key type ("ssh-ed25519-cert-v01@openssh.com",
 * ...), static storage; NULL for a value outside the enum.
 */
const char *lsh_cert_type_name_of(enum lsh_key_type t);

/*
 * 1 if name[0..n) names a certificate type we know, and then *key_type
 * is the type of the certified key; else 0.
 */
int lsh_cert_type_from_name(const char *name, size_t n,
                            enum lsh_key_type *key_type);

/*
 * Parses a certificate blob (as in a -cert.pub file or in place of a
 * key on the wire).  Errors: LSH_EKEYTYPE (not a certificate type we
 * know, or an unsupported CA key type), LSH_EBADKEY (malformed, CA key
 * is a certificate, signature algorithm not for the CA key, duplicate
 * option), LSH_EKEYSIZE, LSH_ENOMEM.  On success *out is a new
 * certificate; on failure it is untouched.
 */
LSH_MUST_CHECK int lsh_cert_from_blob(const uint8_t *blob, size_t n,
                                      lsh_cert **out);

/* The whole blob, borrowed. */
const uint8_t *lsh_cert_blob(const lsh_cert *c, size_t *n);

/* The span the CA signed: the blob up to and including the signature key. */
const uint8_t *lsh_cert_signed_data(const lsh_cert *c, size_t *n);

/* Certificate type name as found in the blob. */
const char *lsh_cert_type_name(const lsh_cert *c);

const uint8_t *lsh_cert_nonce(const lsh_cert *c, size_t *n);

/*
 * The certified public key, borrowed (take lsh_key_ref() to keep it).
 * Its fingerprint is the certificate's, as ssh-keygen -l shows it.
 */
lsh_key *lsh_cert_key(const lsh_cert *c);

uint64_t lsh_cert_serial(const lsh_cert *c);

/* LSH_CERT_USER or LSH_CERT_HOST. */
int lsh_cert_type(const lsh_cert *c);

const char *lsh_cert_key_id(const lsh_cert *c);

size_t lsh_cert_principal_count(const lsh_cert *c);
/* The i-th principal (NUL-terminated); NULL when i is out of range. */
const char *lsh_cert_principal(const lsh_cert *c, size_t i);

uint64_t lsh_cert_valid_after(const lsh_cert *c);
uint64_t lsh_cert_valid_before(const lsh_cert *c);

/*
 * Number of critical options (critical != 0) or extensions, and the i-th
 * one in blob order: its name (NUL-terminated) and raw data (for string
 * options, a string inside the string; empty for flags).  0 or
 * LSH_EINVAL when i is out of range.
 */
size_t lsh_cert_option_count(const lsh_cert *c, int critical);
LSH_MUST_CHECK int lsh_cert_option(const lsh_cert *c, int critical, size_t i,
                                   const char **name, const uint8_t **data,
                                   size_t *datalen);

/* 1 if the extension (critical = 0) or critical option is present. */
int lsh_cert_has_option(const lsh_cert *c, int critical, const char *name);

/*
 * The values of the force-command and source-address critical options,
 * unwrapped (NUL-terminated), or NULL when absent or malformed (a
 * malformed one also makes lsh_cert_validate() fail).
 */
const char *lsh_cert_force_command(const lsh_cert *c);
const char *lsh_cert_source_address(const lsh_cert *c);

/* The CA key, borrowed. */
lsh_key *lsh_cert_signature_key(const lsh_cert *c);

/* The signature algorithm the CA used ("rsa-sha2-512", ...). */
const char *lsh_cert_signature_alg(const lsh_cert *c);

/* The whole signature blob (string alg, string sig...), borrowed. */
const uint8_t *lsh_cert_signature(const lsh_cert *c, size_t *n);

/* 0 if the CA signature is valid, LSH_EBADSIG if not (LSH_ENOMEM). */
LSH_MUST_CHECK int lsh_cert_verify_signature(const lsh_cert *c);

/*
 * Checks that c may be used now as a certificate of `type` for
 * `principal` (NULL: skip the principal check), PROTOCOL.certkeys and
 * draft-ietf-sshm-cert §3.1: type, valid_after <= now < valid_before,
 * principal in the list (exact match; an empty list matches any),
 * no unknown or malformed critical option, then the CA signature.
 * It does not decide whether the CA is trusted: compare
 * lsh_cert_signature_key() with your CA keys, and apply your policy on
 * lsh_cert_signature_alg() (e.g. refuse "ssh-rsa").
 *
 * Returns 0, LSH_ECERTINVALID (errbuf says why), LSH_EBADSIG (bad CA
 * signature), LSH_EINVAL, LSH_ENOMEM.
 */
LSH_MUST_CHECK int lsh_cert_validate(const lsh_cert *c, int type,
                                     const char *principal, uint64_t now,
                                     char *errbuf, size_t errlen);

/* The same with LSH_CERT_* flags. */
LSH_MUST_CHECK int lsh_cert_validate_ex(const lsh_cert *c, int type,
                                        const char *principal, uint64_t now,
                                        unsigned flags, char *errbuf,
                                        size_t errlen);

/* A name/value pair for lsh_cert_create(): value NULL is a flag. */
typedef struct lsh_cert_opt {
    const char *name;
    const char *value;
} lsh_cert_opt;

typedef struct lsh_cert_params {
    int type;             /* LSH_CERT_USER or LSH_CERT_HOST */
    const char *key_id;   /* NULL: "" */
    uint64_t serial;
    const char *const *principals;
    size_t nprincipals;   /* 0: valid for any principal */
    uint64_t valid_after;
    uint64_t valid_before; /* LSH_CERT_FOREVER for no expiry */
    /*
     * Critical options and extensions; value NULL gives empty data (a
     * flag), else the value wrapped as a string inside the data string.
     * They are written sorted by name; duplicates are LSH_EINVAL.
     * extensions == NULL means the default: for user certificates
     * permit-X11-forwarding, permit-agent-forwarding,
     * permit-port-forwarding, permit-pty and permit-user-rc (as
     * ssh-keygen), for host certificates none.  Pass a non-NULL pointer
     * with nextensions 0 for no extensions.
     */
    const lsh_cert_opt *critical;
    size_t ncritical;
    const lsh_cert_opt *extensions;
    size_t nextensions;
} lsh_cert_params;

/* Random bytes: 0 or a negative code. */
typedef int (*lsh_cert_rng_cb)(void *ctx, uint8_t *out, size_t n);

/*
 * Signs a certificate for the public key of `subject` with the CA
 * private key `ca` and appends its blob to out.  sigalg NULL means the
 * CA key's default (rsa-sha2-512 for RSA).  The 32-byte nonce comes from
 * rng.  Errors: LSH_EINVAL (bad parameters, ca without private half,
 * duplicate or empty option names, too many principals), LSH_ENOALG (sigalg
 * does not suit ca), LSH_EUNSUPPORTED (ssh-dss subject or CA, security-key
 * CA), LSH_ENOMEM, LSH_ECRYPTO, the rng's error.  On failure nothing is
 * appended.
 */
LSH_MUST_CHECK int lsh_cert_create(const lsh_key *ca, const char *sigalg,
                                   const lsh_key *subject,
                                   const lsh_cert_params *params,
                                   lsh_cert_rng_cb rng, void *rng_ctx,
                                   lsh_buf *out);

/* Appends "type base64[ comment]\n" (a -cert.pub line) to out. */
LSH_MUST_CHECK int lsh_cert_export_openssh(const lsh_cert *c,
                                           const char *comment,
                                           lsh_buf *out);

/*
 * Called per certificate by lsh_cert_import_list(): takes ownership of
 * c; comment is borrowed for the call.  Nonzero stops the import.
 */
typedef int (*lsh_cert_import_cb)(void *ctx, lsh_cert *c,
                                  const char *comment);

/*
 * Reads the one-line certificates of a -cert.pub file (blank and '#'
 * lines skipped; at most LSH_KEYFILE_MAX_SIZE bytes).  Returns the count
 * passed to cb, or a negative code at the first bad line (LSH_EBADKEY,
 * LSH_EKEYTYPE for a plain key or unknown type, ...; errbuf names the
 * line).
 */
LSH_MUST_CHECK int lsh_cert_import_list(const uint8_t *data, size_t n,
                                        lsh_cert_import_cb cb, void *ctx,
                                        char *errbuf, size_t errlen);

/* A file with exactly one certificate; *comment_out malloc'd if wanted. */
LSH_MUST_CHECK int lsh_cert_import(const uint8_t *data, size_t n,
                                   lsh_cert **out, char **comment_out,
                                   char *errbuf, size_t errlen);

#endif
