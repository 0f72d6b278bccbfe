/*
 * Internals shared by keyfile*.c and cert.c: text scanning (lines,
 * base64, PEM armour, OpenSSH one-line keys) and the per-format
 * importers/exporters that keyfile.c dispatches to.
 */
#ifndef LSH_SSH_KEYS_KEYFILE_INTERNAL_H
#define LSH_SSH_KEYS_KEYFILE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "ssh/keys/key.h"
#include "ssh/keys/keyfile.h"

#if defined(__GNUC__)
#define LSH__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define LSH__PRINTF(f, a)
#endif

/* Writes a detail message into errbuf (if any); returns code. */
int lsh__kf_err(char *errbuf, size_t errlen, int code, const char *fmt, ...)
    LSH__PRINTF(4, 5);

/* Clears errbuf (if any). */
void lsh__kf_err_clear(char *errbuf, size_t errlen);

/* A malloc'd NUL-terminated copy of p[0..n); NULL on allocation failure. */
char *lsh__kf_strndup(const void *p, size_t n);

/*
 * Line iteration over text.  next() stores the next line without its
 * "\n" / "\r\n" and returns 1, or returns 0 at the end.  `lineno` is the
 * 1-based number of the line last returned; `start` its offset.
 */
typedef struct lsh__kf_lines {
    const char *p;
    size_t n;
    size_t pos;
    size_t start;
    unsigned lineno;
} lsh__kf_lines;

void lsh__kf_lines_init(lsh__kf_lines *it, const uint8_t *p, size_t n);
int lsh__kf_lines_next(lsh__kf_lines *it, const char **line, size_t *len);

/* Trims ASCII blanks (space, tab, CR) at both ends of s[0..*len). */
const char *lsh__kf_trim(const char *s, size_t *len);

/* 1 if data[0..n) holds bytes that never appear in a text key file. */
int lsh__kf_is_binary(const uint8_t *data, size_t n);

/*
 * Incremental base64 decoding (RFC 4648 §4, with '=' padding).  feed()
 * ignores spaces and tabs and appends whole bytes to out; it returns
 * LSH_EBADKEY for a character outside the alphabet or data after the
 * padding (setting *badpos to its offset in s), LSH_ENOMEM/
 * LSH_ETOOLARGE from out.  final() returns LSH_EBADKEY if the input
 * stopped inside a group or had bad padding.
 */
typedef struct lsh__b64dec {
    uint32_t acc;
    unsigned nchars; /* characters in the current group, 0..3 */
    unsigned npad;   /* '=' seen */
} lsh__b64dec;

void lsh__b64dec_init(lsh__b64dec *d);
int lsh__b64dec_feed(lsh__b64dec *d, const char *s, size_t n, lsh_buf *out,
                     size_t *badpos);
int lsh__b64dec_final(const lsh__b64dec *d);

/* Decodes s[0..n) (no blanks allowed) and appends to out. */
int lsh__b64_decode(const char *s, size_t n, lsh_buf *out);

/*
 * Appends the base64 of p[0..n) to out; with wrap > 0, a "\n" after
 * every `wrap` characters and after the last line.
 */
int lsh__b64_encode(const uint8_t *p, size_t n, size_t wrap, lsh_buf *out);

/*
 * A PEM block (RFC 7468 armour; RFC 1421 headers as in legacy OpenSSL
 * encrypted keys).  parse() starts at the "-----BEGIN X-----" line that
 * `it` returned last (line/len) and consumes lines up to the matching
 * END line.  On success: label is the text between "BEGIN " and the
 * dashes, text/textlen the whole block (BEGIN line to END line, for
 * handing to OpenSSL), encrypted is 1 for "Proc-Type: 4,ENCRYPTED",
 * has_headers 1 if any header line was present, der the decoded body
 * (caller frees with lsh_buf_free in every case).
 */
typedef struct lsh__pem {
    char label[64];
    const char *text;
    size_t textlen;
    int encrypted;
    int has_headers;
    lsh_buf der;
} lsh__pem;

int lsh__pem_parse(lsh__kf_lines *it, const char *line, size_t len,
                   lsh__pem *pem, char *errbuf, size_t errlen);

/* Appends "-----BEGIN label-----\n", base64 (64 per line), END line. */
int lsh__pem_write(const char *label, const uint8_t *der, size_t n,
                   size_t wrap, lsh_buf *out);

/*
 * Parses an OpenSSH one-line key "type base64 [comment]" (leading and
 * trailing blanks allowed).  Appends the decoded blob to blob, points
 * *type and *typelen at the type word and sets *comment to a malloc'd
 * comment ("" if none; caller frees).  Checks that the blob starts with
 * the same type name.  LSH_EBADKEY (detail in errbuf, prefixed with
 * "line N: "), LSH_ENOMEM.
 */
int lsh__kf_parse_oneline(const char *line, size_t len, unsigned lineno,
                          lsh_buf *blob, const char **type, size_t *typelen,
                          char **comment, char *errbuf, size_t errlen);

/* Appends "type base64[ comment]\n" for a blob whose type is type. */
int lsh__kf_write_oneline(const char *type, const uint8_t *blob, size_t n,
                          const char *comment, lsh_buf *out);

/* openssh-key-v1 (keyfile_openssh.c). */
int lsh__kf_openssh_import(const uint8_t *bin, size_t n, const char *pass,
                           unsigned max_rounds, lsh_key **out,
                           char **comment, char *errbuf, size_t errlen);
int lsh__kf_openssh_export(const lsh_key *k, const char *comment,
                           const char *pass, const char *cipher,
                           unsigned rounds, lsh_keyfile_rng_cb rng,
                           void *rng_ctx, lsh_buf *out);

/*
 * Appends "string type, private fields" of k as openssh-key-v1's private
 * section holds them (PROTOCOL.key), which is also the layout of the
 * agent protocol's ADD_IDENTITY (RFC 9987 §5.2).  LSH_EUNSUPPORTED for
 * ssh-dss; LSH_EINVAL for a public key.
 */
int lsh__kf_put_private(const lsh_key *k, lsh_buf *out);

/*
 * Checks that the private half of pk (of type t) matches its public half
 * and is well formed (RSA: n = pq, ed = 1 mod p-1, q-1, CRT values;
 * ECDSA: range and pairwise; DSA: y = g^x), as OpenSSL's decoders do not.
 * 0 or LSH_EBADKEY (LSH_ENOMEM).
 */
int lsh__kf_check_private(EVP_PKEY *pk, enum lsh_key_type t);

/* PKCS#1 / SEC1 / PKCS#8 through OpenSSL (keyfile_pkcs.c). */
int lsh__kf_pkcs_import_private(const uint8_t *data, size_t n, int pem,
                                const char *pass, lsh_key **out,
                                char *errbuf, size_t errlen);
int lsh__kf_pkcs_import_public(const uint8_t *data, size_t n, int pem,
                               lsh_key **out, char *errbuf, size_t errlen);
int lsh__kf_pkcs_export_private(const lsh_key *k, int pkcs8, int pem,
                                const char *pass, const char *cipher,
                                lsh_buf *out);
int lsh__kf_pkcs_export_public(const lsh_key *k, int pkcs8, int pem,
                               lsh_buf *out);

/*
 * Wraps an OpenSSL key of any supported algorithm as an lsh_key (takes
 * pk in every case).  LSH_EKEYTYPE, LSH_EKEYSIZE, LSH_ENOMEM.
 */
int lsh__kf_key_from_pkey(EVP_PKEY *pk, lsh_key **out, char *errbuf,
                          size_t errlen);

#endif
