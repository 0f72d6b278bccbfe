/*
 * authorized_keys: the server's per-user list of keys allowed to log in
 * (sshd(8), section AUTHORIZED_KEYS FILE FORMAT).
 *
 * Each line is
 *
 *     [options] keytype base64-key [comment]
 *
 * where options is a comma-separated list (no spaces outside double
 * quotes; names case-insensitive; values double-quoted, \" for a quote):
 *
 *   agent-forwarding  no-agent-forwarding   port-forwarding
 *   no-port-forwarding  pty  no-pty  user-rc  no-user-rc  X11-forwarding
 *   no-X11-forwarding  restrict (all of the "no-" ones; later options
 *   re-enable)  cert-authority  no-touch-required (touch-required)
 *   verify-required  command="..."  environment="NAME=value" (repeats)
 *   expiry-time="YYYYMMDD[HHMM[SS]][Z]"  from="pattern-list"
 *   permitopen="host:port" (repeats)  permitlisten="[host:]port"
 *   (repeats)  principals="name,..."  tunnel="n"
 *
 * A line that is malformed or has an unknown option is skipped and
 * recorded (with its line number and the reason) while the rest of the
 * file loads, as sshd does; LSH_AK_STRICT makes it fail the file instead.
 */
#ifndef LSH_SSH_KEYS_AUTH_KEYS_H
#define LSH_SSH_KEYS_AUTH_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "ssh/keys/key.h"

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

typedef struct lsh_auth_keys lsh_auth_keys;

/* Port of a permitopen/permitlisten entry written as "*". */
#define LSH_AK_PORT_ANY (-1)

/* tunnel= values besides a unit number (0 .. 0x7ffffffd). */
#define LSH_AK_TUNNEL_NONE (-1) /* no tunnel= option */
#define LSH_AK_TUNNEL_ANY (-2)  /* tunnel="any" */

/* A permitopen= or permitlisten= entry. */
typedef struct lsh_ak_permit {
    char *host; /* without brackets; "*" for a bare permitlisten port */
    int port;   /* 1..65535 or LSH_AK_PORT_ANY */
} lsh_ak_permit;

/*
 * The options of a line, with sshd's defaults applied: every permit_*
 * flag starts at 1, "restrict" clears them all, and options later on the
 * line set them again.  Strings and arrays are owned by the struct
 * (lsh_auth_opts_clear).
 */
typedef struct lsh_auth_opts {
    int cert_authority;
    int restricted; /* "restrict" was given */
    int permit_port_forwarding;
    int permit_agent_forwarding;
    int permit_x11_forwarding;
    int permit_pty;
    int permit_user_rc;
    int no_touch_required; /* security keys: user presence not needed */
    int verify_required;   /* security keys: user verification needed */
    char *command;         /* forced command, or NULL */
    char **env;            /* "NAME=value", first one of a NAME wins */
    size_t n_env;
    lsh_ak_permit *permitopen;
    size_t n_permitopen;
    lsh_ak_permit *permitlisten;
    size_t n_permitlisten;
    char **principals; /* principals= split at commas, or NULL */
    size_t n_principals;
    char *from;           /* from= pattern-list, or NULL */
    uint64_t expiry_time; /* seconds since the epoch, 0 for none */
    int tunnel;           /* unit, LSH_AK_TUNNEL_NONE or LSH_AK_TUNNEL_ANY */
    /* Where the options come from (set by lsh_auth_keys_match). */
    char *filename;
    size_t line;
} lsh_auth_opts;

/* Frees what opts owns and zeroes it.  NULL is ok. */
void lsh_auth_opts_clear(lsh_auth_opts *opts);

/* Deep copy: 0 or LSH_ENOMEM (dst then zeroed). */
LSH_MUST_CHECK int lsh_auth_opts_copy(lsh_auth_opts *dst,
                                      const lsh_auth_opts *src);

/*
 * 1 if the certificate principal `name` is allowed by the principals=
 * option (exact match with one of its names), or if there is no such
 * option; else 0.  As in sshd, only meaningful on cert-authority lines.
 */
int lsh_auth_opts_principal_ok(const lsh_auth_opts *opts, const char *name);

/* One valid line.  Borrowed from the store. */
typedef struct lsh_ak_entry {
    const lsh_key *key;
    const lsh_auth_opts *opts;
    const char *comment; /* "" when there is none */
    const char *filename;
    size_t line;
} lsh_ak_entry;

/* lsh_auth_keys_add() flags. */
#define LSH_AK_STRICT 0x1 /* any problem fails the whole file */

/* An empty store (caller owns; lsh_auth_keys_free); NULL if no memory. */
lsh_auth_keys *lsh_auth_keys_new(void);

void lsh_auth_keys_free(lsh_auth_keys *ak);

/*
 * Parses data[0..n) as one authorized_keys file and appends its valid
 * lines to ak; filename (copied; NULL allowed) is used in entries and
 * problems.  Bad lines are recorded as problems and skipped; the reasons
 * name the option at fault ("unknown option \"foo\"", "missing end
 * quote", "multiple command options", "invalid expiry-time", "invalid
 * from address list" (sshd would deny such a line at login), ...).  With
 * LSH_AK_STRICT the file is all or nothing: if any line is bad, no entry
 * is added, the problems are still recorded, and the result is
 * LSH_EINVAL.  Otherwise returns 0, or LSH_ENOMEM (ak then holds what was
 * parsed before the failure).
 */
LSH_MUST_CHECK int lsh_auth_keys_add(lsh_auth_keys *ak, const char *data,
                                     size_t n, const char *filename,
                                     unsigned flags);

/*
 * new + add.  On success *out is a new store (caller owns).  Errors as
 * lsh_auth_keys_add(), with *out NULL; in strict mode, use new + add to
 * read the problems of a rejected file.
 */
LSH_MUST_CHECK int lsh_auth_keys_parse(const char *data, size_t n,
                                       const char *filename, unsigned flags,
                                       lsh_auth_keys **out);

size_t lsh_auth_keys_count(const lsh_auth_keys *ak);
const lsh_ak_entry *lsh_auth_keys_entry(const lsh_auth_keys *ak, size_t i);
size_t lsh_auth_keys_problem_count(const lsh_auth_keys *ak);
const lsh_trust_problem *lsh_auth_keys_problem(const lsh_auth_keys *ak,
                                               size_t i);

/*
 * Finds the first line that lets `key` in, as sshd does.  With
 * is_ca_lookup 0, key is the user's key and only lines without
 * cert-authority count; with 1, key is the CA that signed the user's
 * certificate and only cert-authority lines count (the caller then checks
 * the certificate's principals with lsh_auth_opts_principal_ok() and
 * merges its critical options).  A line whose key matches is skipped when
 * its from= does not admit the client (client_addr: address text;
 * client_host_or_NULL: its verified name, NULL if none; see
 * lsh_from_match) or when its expiry-time is before `now` (seconds since
 * the epoch); a later line may still match.  Returns 0 and fills
 * *opts_out with a copy of the line's options (caller clears), or
 * LSH_ENOTFOUND, LSH_EINVAL (key NULL) or LSH_ENOMEM (*opts_out is then
 * zeroed).
 */
LSH_MUST_CHECK int lsh_auth_keys_match(const lsh_auth_keys *ak,
                                       const lsh_key *key, int is_ca_lookup,
                                       const char *client_addr,
                                       const char *client_host_or_NULL,
                                       uint64_t now, lsh_auth_opts *opts_out);

/*
 * Parses an options field by itself (what precedes the key on a line,
 * NUL-terminated) into *opts with sshd's defaults.  Returns 0, or
 * LSH_EINVAL with *reason a static string (unknown option names are not
 * quoted here), or LSH_ENOMEM.  On failure *opts is zeroed.
 */
LSH_MUST_CHECK int lsh_auth_opts_parse(const char *options,
                                       lsh_auth_opts *opts,
                                       const char **reason);

#endif
