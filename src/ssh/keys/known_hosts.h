/*
 * known_hosts: the client's store of trusted host keys (sshd(8), section
 * SSH_KNOWN_HOSTS FILE FORMAT).
 *
 * Each line is
 *
 *     [marker] hostnames keytype base64-key [comment]
 *
 * with marker "@cert-authority" (the key is a CA trusted for host
 * certificates of those hosts) or "@revoked" (the key must never be
 * accepted), and hostnames either a comma-separated pattern-list ('*',
 * '?', '!' negation, "[host]:port" for ports other than 22) or one hashed
 * name "|1|base64(salt)|base64(HMAC-SHA1(salt, name))".  Blank lines and
 * lines starting with '#' are comments.
 *
 * Parsing never fails because of the contents: a malformed line is
 * skipped and recorded as a problem with its file name and line number
 * (as ssh(1) skips it).  Keys are lsh_key objects, so that the caller can
 * compare a server's host key, or the CA key that signed its host
 * certificate, with the entries.
 *
 * A store may hold several files (lsh_known_hosts_add per file, as ssh
 * reads UserKnownHostsFile and GlobalKnownHostsFile); every entry
 * remembers its file and line.
 */
#ifndef LSH_SSH_KEYS_KNOWN_HOSTS_H
#define LSH_SSH_KEYS_KNOWN_HOSTS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "ssh/keys/key.h"

typedef struct lsh_known_hosts lsh_known_hosts;

enum lsh_kh_marker {
    LSH_KH_MARK_NONE = 0,    /* a trusted host key */
    LSH_KH_MARK_CA = 1,      /* @cert-authority */
    LSH_KH_MARK_REVOKED = 2  /* @revoked */
};

/* One valid line.  Everything is borrowed from the store. */
typedef struct lsh_kh_entry {
    enum lsh_kh_marker marker;
    const lsh_key *key;
    const char *hosts;    /* the hostnames field as written */
    int hashed;           /* hosts is a |1|salt|hash name */
    const char *comment;  /* "" when there is none */
    const char *filename; /* as given to add/parse ("(memory)" for NULL) */
    size_t line;          /* 1-based */
} lsh_kh_entry;

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

/* An empty store (caller owns; lsh_known_hosts_free); NULL if no memory. */
lsh_known_hosts *lsh_known_hosts_new(void);

/*
 * Parses data[0..n) as one known_hosts file and appends its entries to
 * kh; filename (copied; NULL allowed) is used in entries and problems.
 * Malformed lines (invalid marker, bad hashed name, missing key, unknown
 * key type, certificate, bad base64, bad key blob, key type not matching
 * the blob, line longer than 8 KiB or holding NUL bytes) are skipped and
 * recorded as problems.  Returns 0, or LSH_ENOMEM, in which case kh holds
 * whatever was parsed before the failure.
 */
LSH_MUST_CHECK int lsh_known_hosts_add(lsh_known_hosts *kh, const char *data,
                                       size_t n, const char *filename);

/*
 * new + add: a store holding one file (caller owns), or NULL if memory
 * ran out.
 */
lsh_known_hosts *lsh_known_hosts_parse(const char *data, size_t n,
                                       const char *filename);

/* Frees the store and everything borrowed from it.  NULL is ok. */
void lsh_known_hosts_free(lsh_known_hosts *kh);

/* The entries, in file order (files in the order they were added). */
size_t lsh_known_hosts_count(const lsh_known_hosts *kh);
const lsh_kh_entry *lsh_known_hosts_entry(const lsh_known_hosts *kh,
                                          size_t i);

/* The skipped lines, in file order. */
size_t lsh_known_hosts_problem_count(const lsh_known_hosts *kh);
const lsh_trust_problem *lsh_known_hosts_problem(const lsh_known_hosts *kh,
                                                 size_t i);

/*
 * The entries that apply to a host, split by marker, in file order.  The
 * arrays are owned by the match (lsh_kh_match_free); the entries they
 * point to are borrowed from the store and live as long as it does.
 */
typedef struct lsh_kh_match {
    const lsh_kh_entry **host_keys; /* unmarked lines */
    size_t n_host_keys;
    const lsh_kh_entry **ca_keys; /* @cert-authority lines */
    size_t n_ca_keys;
    const lsh_kh_entry **revoked; /* @revoked lines */
    size_t n_revoked;
} lsh_kh_match;

void lsh_kh_match_free(lsh_kh_match *m);

/*
 * Finds the entries that apply to the names[0..count) exactly as given
 * (this is what `ssh-keygen -F name` looks up, one name at a time):
 * a line applies when one of the names matches its hostnames field and
 * none of the names matches a negated pattern of it.  Patterns compare
 * without regard to ASCII case; hashed names compare the HMAC of the name
 * as given.  On success *out is filled (free it with lsh_kh_match_free);
 * on failure (LSH_ENOMEM, LSH_ECRYPTO) *out is left empty.
 */
LSH_MUST_CHECK int lsh_known_hosts_match_names(const lsh_known_hosts *kh,
                                               const char *const *names,
                                               size_t count,
                                               lsh_kh_match *out);

/*
 * Finds the entries for a connection to host (the name the user gave, or
 * a HostKeyAlias) at addr (the peer's address text, or NULL) on port,
 * as ssh(1) and AsyncSSH's match_known_hosts() do: host is lowercased;
 * the candidate names are host and addr when port is 22 (or 0), else
 * "[host]:port" and "[addr]:port".  Same results and errors as
 * lsh_known_hosts_match_names(); LSH_EINVAL for an empty host or a port
 * outside 0..65535.
 */
LSH_MUST_CHECK int lsh_known_hosts_match(const lsh_known_hosts *kh,
                                         const char *host, const char *addr,
                                         int port, lsh_kh_match *out);

enum lsh_kh_status {
    LSH_KH_OK,       /* the server key is a trusted host key */
    LSH_KH_OK_CA,    /* the host certificate's CA is trusted */
    LSH_KH_REVOKED,  /* the server key or its CA is @revoked */
    LSH_KH_CHANGED,  /* a different key of the same type is trusted */
    LSH_KH_UNKNOWN_TYPE_KNOWN_OTHERS, /* only keys of other types known */
    LSH_KH_UNKNOWN   /* no host key known for the host */
};

typedef struct lsh_kh_verdict {
    enum lsh_kh_status status;
    /*
     * The line behind the verdict, borrowed from the store: the matching
     * key (OK), the CA (OK_CA), the @revoked line (REVOKED), the trusted
     * key of the same type (CHANGED), the first trusted key (UNKNOWN_TYPE_
     * KNOWN_OTHERS); NULL for UNKNOWN.  Its filename and line are what an
     * error message quotes ("known_hosts line 12").
     */
    const lsh_kh_entry *entry;
    size_t n_host_keys; /* unmarked lines that apply to the host */
    size_t n_ca_keys;   /* @cert-authority lines that apply to it */
} lsh_kh_verdict;

/*
 * Decides whether server_key may be trusted for (host, addr, port)
 * (candidate names as lsh_known_hosts_match()).  ca_key is the key that
 * signed the server's host certificate when it presented one (the
 * certificate must already have been checked for signature, validity,
 * type and principals), else NULL.  In order:
 *   REVOKED  server_key or ca_key is on an applicable @revoked line;
 *   OK_CA    ca_key is on an applicable @cert-authority line;
 *   OK       server_key is on an applicable unmarked line;
 *   CHANGED  an applicable unmarked line holds another key of
 *            server_key's type (for ECDSA: of its curve);
 *   UNKNOWN_TYPE_KNOWN_OTHERS  applicable unmarked lines hold keys of
 *            other types only;
 *   UNKNOWN  otherwise (also when only @cert-authority lines apply and
 *            no certificate was offered).
 * Returns 0 with *v filled, or LSH_EINVAL / LSH_ENOMEM / LSH_ECRYPTO
 * (*v then says UNKNOWN with entry NULL).
 */
LSH_MUST_CHECK int lsh_known_hosts_check(const lsh_known_hosts *kh,
                                         const char *host, const char *addr,
                                         int port, const lsh_key *server_key,
                                         const lsh_key *ca_key,
                                         lsh_kh_verdict *v);

/* A short static description of a status ("host key changed", ...). */
const char *lsh_kh_status_str(enum lsh_kh_status s);

/*
 * The rng callback of the core (see DESIGN.md): fills out[0..n) with
 * random bytes and returns 0, or a negative LSH_E* code.
 */
typedef int (*lsh_kh_rng_cb)(void *ctx, uint8_t *out, size_t n);

/*
 * Appends one known_hosts line, ending in "\n", for key at host:port:
 *     name keytype base64
 * where name is host (lowercased, as lookups lowercase it) for port 22 or
 * 0, else "[host]:port"; with hashed, name is written as
 * "|1|base64(salt)|base64(HMAC-SHA1(salt, name))" with a 20-byte salt
 * from rng.  `ssh-keygen -F name` finds the line.  host must be a
 * non-empty name without whitespace, control characters, ',', '*', '?',
 * and must not start with '|', '@', '#', '!' or '[' (LSH_EINVAL); port
 * must be in 0..65535.  On failure nothing is appended.
 */
LSH_MUST_CHECK int lsh_known_hosts_format_entry(const char *host, int port,
                                                const lsh_key *key,
                                                int hashed, lsh_kh_rng_cb rng,
                                                void *rng_ctx, lsh_buf *out);

#endif
