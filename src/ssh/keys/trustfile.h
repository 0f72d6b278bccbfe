/*
 * Internals shared by the line-oriented trust files of src/ssh/keys/:
 * known_hosts, authorized_keys and allowed_signers (sshd(8), ssh-keygen(1)
 * ALLOWED SIGNERS).  Not a public API: use known_hosts.h, auth_keys.h and
 * sshsig.h.
 *
 * The three files share their lexical rules: one entry per line, blank
 * lines and lines starting with '#' ignored, fields separated by spaces
 * or tabs, a key written as "type base64 [comment]", and (for
 * authorized_keys and allowed_signers) an options field of
 * comma-separated, case-insensitive names with double-quoted values.
 */
#ifndef LSH_SSH_KEYS_TRUSTFILE_H
#define LSH_SSH_KEYS_TRUSTFILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "ssh/keys/key.h"

/*
 * Longest line accepted, without its line ending: sshd(8) documents 8
 * kilobytes for authorized_keys, enough for a 16384-bit RSA key.  The
 * same limit applies to known_hosts and allowed_signers.
 */
#define LSH_TRUST_MAX_LINE 8192

/* Line reader over a file held in memory. */
typedef struct lsh__tf_reader {
    const char *p;
    size_t n;
    size_t pos;
    size_t lineno; /* number of the line last returned, 1-based */
} lsh__tf_reader;

void lsh__tf_reader_init(lsh__tf_reader *r, const char *data, size_t n);

enum lsh__tf_line {
    LSH__TF_END = 0,  /* no more lines */
    LSH__TF_LINE = 1, /* buf holds the line */
    LSH__TF_BAD = 2   /* the line is unusable; *reason says why */
};

/*
 * Reads the next line into buf (LSH_TRUST_MAX_LINE + 1 bytes), without
 * its "\n" and with a trailing "\r" and trailing spaces and tabs removed,
 * NUL-terminated.  r->lineno is the line's number.  A line longer than
 * LSH_TRUST_MAX_LINE or holding a NUL byte gives LSH__TF_BAD, with
 * *reason a static string; the reader then continues after it.
 */
enum lsh__tf_line lsh__tf_next_line(lsh__tf_reader *r, char *buf,
                                    const char **reason);

/* Skips spaces and tabs. */
const char *lsh__tf_skip_ws(const char *s);

/* Length of the token at s: up to a space, tab or NUL. */
size_t lsh__tf_token_len(const char *s);

/*
 * Strict base64 (RFC 4648 §4): the standard alphabet, '=' padding
 * required to a multiple of 4 characters, zero pad bits (so that every
 * byte string has exactly one accepted encoding, as OpenSSH's decoder
 * requires).  With skip_ws, spaces, tabs, CR and LF anywhere are ignored
 * (armored blocks).  On success *out is a malloc'd buffer (caller frees;
 * never NULL, even for empty input) of *outlen bytes.  Errors: LSH_EINVAL
 * (not base64), LSH_ENOMEM.
 */
LSH_MUST_CHECK int lsh__tf_b64_decode(const char *s, size_t n, int skip_ws,
                                      uint8_t **out, size_t *outlen);

/* Appends the padded base64 of p[0..n) (no line breaks) to out. */
LSH_MUST_CHECK int lsh__tf_b64_encode(const uint8_t *p, size_t n,
                                      lsh_buf *out);

/*
 * Reads a public key written as "type base64" at *cp (leading spaces and
 * tabs skipped).  The type token must be a key type name lsh_key knows
 * and must name exactly the type of the decoded blob (an ECDSA blob of
 * another curve does not do).  On success *out is a new key (caller
 * owns) and *cp points just after the base64 token.  On failure *reason
 * is a static string, the error is LSH_EKEYTYPE (unknown type or a
 * certificate, which these files do not hold), LSH_EBADKEY (missing or
 * undecodable base64, or a bad blob), LSH_EKEYSIZE, or LSH_ENOMEM, and
 * *cp is unchanged.
 */
LSH_MUST_CHECK int lsh__tf_read_key(const char **cp, lsh_key **out,
                                    const char **reason);

/* 1 if the token s[0..n) is a key type name (plain key or certificate). */
int lsh__tf_is_key_type(const char *s, size_t n);

/*
 * Options fields (sshd(8): "No spaces are permitted, except within double
 * quotes").  Returns a pointer to the first space, tab or NUL outside
 * double quotes at or after s, honouring \" inside quotes, or NULL if a
 * quote is left open.
 */
const char *lsh__tf_skip_options(const char *s);

/*
 * At *opts, a flag option `name` (case-insensitive), or "no-" + name when
 * allow_negate, followed by ',', a space, a tab or the end.  Returns 1
 * (name) or 0 (no-name) and advances *opts past it; -1 if it is not this
 * option (*opts unchanged).
 */
int lsh__tf_opt_flag(const char **opts, const char *name, int allow_negate);

/*
 * At *opts, "name=" (name case-insensitive): returns 1 and advances past
 * the '=', else 0.
 */
int lsh__tf_opt_match(const char **opts, const char *name);

/*
 * At *opts, a double-quoted value with \" standing for a quote (any other
 * backslash is kept as is).  On success *out is the malloc'd unquoted
 * value (caller frees) and *opts points after the closing quote.  On
 * failure *reason is a static string ("missing start quote", "missing
 * end quote"), the error is LSH_EINVAL or LSH_ENOMEM.
 */
LSH_MUST_CHECK int lsh__tf_opt_dequote(const char **opts, char **out,
                                       const char **reason);

/*
 * Parses an absolute time as sshd(8) expiry-time and ssh-keygen(1)
 * valid-after/valid-before take it: YYYYMMDD or YYYYMMDDHHMM[SS], in the
 * system time zone, or in UTC when followed by "Z" or "UTC" (any case).
 * Returns 0 and seconds since the epoch in *out, or LSH_EINVAL for
 * another form, a field out of range, or a time before the epoch.
 */
LSH_MUST_CHECK int lsh__tf_parse_time(const char *s, uint64_t *out);

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

/*
 * A growable list of problems (whose reasons it owns) and of the file
 * names they and the entries point to.
 */
typedef struct lsh__tf_problems {
    lsh_trust_problem *v;
    size_t n, cap;
    char **files;
    size_t nfiles;
} lsh__tf_problems;

/*
 * Keeps a copy of filename for the life of the list and returns it (NULL
 * filename gives the static "(memory)"); NULL on allocation failure.
 */
const char *lsh__tf_keep_filename(lsh__tf_problems *pl, const char *filename);

/*
 * Records a problem whose reason is reason, or "reason \"detail\"" when
 * detail is not NULL (detail[0..dlen) is cut to 64 bytes and anything
 * unprintable is replaced by '?').  LSH_ENOMEM on allocation failure.
 */
LSH_MUST_CHECK int lsh__tf_problem_add(lsh__tf_problems *pl,
                                       const char *filename, size_t line,
                                       const char *reason,
                                       const char *detail, size_t dlen);

void lsh__tf_problems_free(lsh__tf_problems *pl);

/* Drops the problems recorded after the first `keep`. */
void lsh__tf_problems_truncate(lsh__tf_problems *pl, size_t keep);

#endif
