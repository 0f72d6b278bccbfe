/*
 * The user authentication layer of lsh_conn, both roles (RFC 4252 with
 * the "none", "publickey" and "password" methods, RFC 4256
 * keyboard-interactive, RFC 8308 server-sig-algs, RFC 8332 RSA SHA-2).
 * "hostbased" is not implemented: a server refuses it with FAILURE.
 *
 * The layer is sans-I/O like the rest of the core: decisions it cannot
 * make (which password to send, whether a password is right, signing
 * with an agent) leave as events and come back as calls.  Every call
 * returns 0 or a negative LSH_E* code; LSH_ESTATE means "not valid in the
 * current state" and changes nothing.  After a fatal error the
 * connection's sticky error is returned.
 *
 * CLIENT
 *
 *   lsh_auth_client_start(c, "alice", "ssh-connection");
 *       requests the ssh-userauth service (unless done already) and, once
 *       it is accepted, sends a "none" request to learn the methods.
 *   then, each time the state is LSH_AUTH_C_READY (after a failure
 *   result), one of
 *       lsh_auth_client_password / _password_change
 *       lsh_auth_client_publickey (query first) / _publickey_sign_now
 *       lsh_auth_client_kbdint
 *   and the answers to the events below.  One request is out at a time.
 *
 * Client events (fields not named are 0 / NULL):
 *
 *   LSH_EV_AUTH_BANNER  text = the banner, truncated to 511 bytes;
 *                       data/len = the whole banner (at most
 *                       LSH_AUTH_BANNER_MAX bytes).  Control characters
 *                       other than TAB, CR and LF are replaced by '?'
 *                       in both.  Banners after success are dropped.
 *   LSH_EV_AUTH_RESULT  code = 0: authenticated (lsh_conn_set_authenticated
 *                       was called as SUCCESS was decoded, so delayed
 *                       compression is already on); code = LSH_EAUTH:
 *                       the request failed, name = the methods that can
 *                       continue (a name-list, "" if none), num = partial
 *                       success (1: this method succeeded but more are
 *                       needed).  text = the method of the request
 *                       answered ("none", "password", ...).
 *   LSH_EV_AUTH_SIGN    a publickey query got PK_OK: sign data/len (the
 *                       exact bytes of RFC 4252 §7: string session_id ||
 *                       the request) with the algorithm `name` (a plain
 *                       signature algorithm: "rsa-sha2-512", never a
 *                       -cert- name) and answer lsh_auth_client_signature.
 *                       extra/extra_len = the public key or certificate
 *                       blob (to find the key in an agent); text = the
 *                       public key algorithm of the request.
 *   LSH_EV_AUTH_PROMPT  name = "keyboard-interactive": an INFO_REQUEST
 *                       (RFC 4256 §3.2), num = number of prompts, text =
 *                       its name field; answer lsh_auth_client_responses
 *                       (also for 0 prompts).  name = "password": the
 *                       server asks for a new password (RFC 4252 §8,
 *                       PASSWD_CHANGEREQ), text = its prompt; answer
 *                       lsh_auth_client_password_change or try another
 *                       method.  Details: lsh_auth_client_prompts().
 *
 * SERVER
 *
 *   Each USERAUTH_REQUEST that passes the layer's checks (framing,
 *   limits, same user and service throughout, method among those that can
 *   continue, a valid signature) becomes one LSH_EV_AUTH_REQUEST; the
 *   caller answers it with exactly one of lsh_auth_server_accept /
 *   _reject / _pk_ok / _info_request / _passwd_changereq.  Requests that
 *   arrive before the answer wait in a queue of LSH_AUTH_QUEUE (more:
 *   disconnect); after success they are ignored (RFC 4252 §5.1).
 *
 *   LSH_EV_AUTH_REQUEST name = the method ("none", "password",
 *                       "publickey", "keyboard-interactive"; static
 *                       strings), text = the user name, num = the phase:
 *                         none                  0
 *                         password              0 password, 1 change
 *                                                 (old and new present)
 *                         publickey             0 query (no signature:
 *                                                 answer pk_ok or reject;
 *                                                 accept is refused),
 *                                               1 signature present and
 *                                                 verified by the layer
 *                         keyboard-interactive  0 start (submethods),
 *                                               1 responses to the last
 *                                                 info_request
 *                       The event holds no pointers into the request;
 *                       read it with lsh_auth_server_request().
 *
 *   Rules the layer enforces (reliability-plan.md §2.2, §2.3, P-5):
 *   - "tries" counts every request that presents a credential: password
 *     (and password change), publickey with a signature (valid or not),
 *     each INFO_RESPONSE with at least one response, and requests for a
 *     method that cannot continue or that the layer does not know
 *     ("none" and publickey queries are not counted).  Once tries reaches
 *     the limit (lsh_auth_server_set_max_tries, default 6), every answer
 *     other than accept, and any further credential, ends the connection
 *     with DISCONNECT NO_MORE_AUTH_METHODS_AVAILABLE (the answering call
 *     returns LSH_EAUTH): a client gets at most `max_tries` credentials
 *     checked.
 *   - At most LSH_AUTH_MAX_REQUESTS USERAUTH_REQUESTs per connection,
 *     queries and "none" included; the next one disconnects likewise.
 *   - The user name and service of every request must equal the first
 *     one's (RFC 4252 §5 allows a change; we refuse it): PROTOCOL_ERROR.
 *   - The service must be "ssh-connection" (else SERVICE_NOT_AVAILABLE);
 *     user names longer than LSH_AUTH_USER_MAX or with control bytes get
 *     ILLEGAL_USER_NAME.  Malformed requests (truncated, trailing bytes,
 *     a field over its cap) get PROTOCOL_ERROR.
 *   - A password (or new password, or kbd-int response) longer than
 *     LSH_AUTH_PASSWORD_MAX is rejected with FAILURE without an event
 *     (counted), so that nobody hashes it (CVE-2016-6210).
 *   - An INFO_RESPONSE whose count differs from the prompts sent, or one
 *     that was not asked for, disconnects (RFC 4256 §3.4 asks only for a
 *     FAILURE; we are stricter).
 *   - A method that is not in the last "can continue" list (initially
 *     the one given to lsh_auth_server_set_methods) is rejected by the
 *     layer, except "none", which always goes to the caller.
 *   None of the layer's own answers depends on the user name, so they
 *   are byte-identical for valid and invalid users; the caller must keep
 *   its own answers so too (same methods list, same prompts).
 *
 *   Publickey: the layer parses the key blob, checks that the algorithm
 *   suits it and is allowed (lsh_auth_server_set_sig_algs; else FAILURE
 *   without an event, counted only with a signature), and for a
 *   request with a signature verifies it over session_id || request; a
 *   bad signature is rejected (and counted) without an event, as is a
 *   security-key signature without the user-presence flag.  A query
 *   is NOT proof of possession (Go CVE-2024-45337): grant access only on
 *   phase 1.
 *
 *   Certificates (OpenSSH PROTOCOL.certkeys): a request whose algorithm
 *   is a *-cert-v01@openssh.com name (ssh-ed25519-, ecdsa-sha2-nistp256/
 *   384/521-, rsa-sha2-256/512-, ssh-rsa-, sk-ssh-ed25519-, sk-ecdsa-
 *   sha2-nistp256-cert-v01@openssh.com) must carry a certificate blob,
 *   and a plain algorithm a plain key (else FAILURE without an event).
 *   The algorithm is allowed when the sig_algs list names it or its
 *   plain signature algorithm (rsa-sha2-512 for rsa-sha2-512-cert-v01@
 *   openssh.com; sk-ssh-ed25519@openssh.com for sk-ssh-ed25519-cert-v01@
 *   openssh.com), so the default list takes the certificates of every
 *   key type it takes.  The layer takes only user certificates (type 1),
 *   verifies the request's signature with the certified key, and at
 *   phase 1 also the CA's signature of the certificate (a bad one is
 *   rejected and counted without an event).  In the event's request,
 *   `cert` is the certificate and `key` the certified key; the CALLER
 *   decides the rest before accepting: that lsh_cert_signature_key(cert)
 *   is a CA it trusts for users, and lsh_cert_validate_ex(cert,
 *   LSH_CERT_USER, user, now, ...) for validity, principals and
 *   critical options (force-command and source-address are then its to
 *   apply).
 *
 * Caps (all in bytes unless said): user name LSH_AUTH_USER_MAX; service,
 * method and algorithm names LSH_AUTH_NAME_MAX; passwords and kbd-int
 * responses LSH_AUTH_PASSWORD_MAX; submethods LSH_AUTH_SUBMETHODS_MAX;
 * method name-lists LSH_AUTH_METHODS_MAX; key and certificate blobs
 * LSH_AUTH_BLOB_MAX; signatures LSH_AUTH_SIG_MAX; prompts per
 * INFO_REQUEST LSH_AUTH_PROMPTS_MAX; name, instruction and each prompt
 * LSH_AUTH_TEXT_MAX; banners LSH_AUTH_BANNER_MAX.
 *
 * Ownership: strings passed in are copied (secrets are zeroed after
 * use).  Pointers handed out (events, accessors) are borrowed: valid
 * until the next call on the connection.
 */
#ifndef LSH_SSH_AUTH_AUTH_H
#define LSH_SSH_AUTH_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "ssh/conn.h"
#include "ssh/keys/cert.h"
#include "ssh/keys/key.h"

#define LSH_AUTH_USER_MAX 255
#define LSH_AUTH_NAME_MAX 64
#define LSH_AUTH_PASSWORD_MAX 1024
#define LSH_AUTH_SUBMETHODS_MAX 1024
#define LSH_AUTH_METHODS_MAX 1024
#define LSH_AUTH_BLOB_MAX 16384
#define LSH_AUTH_SIG_MAX 4096
#define LSH_AUTH_PROMPTS_MAX 64
#define LSH_AUTH_TEXT_MAX 8192
#define LSH_AUTH_BANNER_MAX 65536
#define LSH_AUTH_MAX_TRIES 6        /* default MaxAuthTries */
#define LSH_AUTH_MAX_REQUESTS 128   /* USERAUTH_REQUESTs per connection */
#define LSH_AUTH_QUEUE 4            /* requests waiting for an answer */

/* RFC 4252 §7, §8; RFC 4256 §3.2: message numbers 60 and 61 mean one
 * thing per method. */
enum {
    LSH_MSG_USERAUTH_PK_OK = 60,
    LSH_MSG_USERAUTH_PASSWD_CHANGEREQ = 60,
    LSH_MSG_USERAUTH_INFO_REQUEST = 60,
    LSH_MSG_USERAUTH_INFO_RESPONSE = 61
};

/* ------------------------------------------------------------------ */
/* Client                                                              */

enum lsh_auth_client_state {
    LSH_AUTH_C_IDLE = 0,        /* lsh_auth_client_start not called */
    LSH_AUTH_C_WAIT_SERVICE,    /* waiting for SERVICE_ACCEPT */
    LSH_AUTH_C_WAIT_REPLY,      /* a request is out */
    LSH_AUTH_C_READY,           /* the last request failed: try another */
    LSH_AUTH_C_WAIT_SIGN,       /* LSH_EV_AUTH_SIGN is out */
    LSH_AUTH_C_WAIT_RESPONSES,  /* kbd-int LSH_EV_AUTH_PROMPT is out */
    LSH_AUTH_C_WAIT_PASSWORD,   /* password-change LSH_EV_AUTH_PROMPT */
    LSH_AUTH_C_DONE             /* authenticated */
};

/* The client's state (LSH_AUTH_C_IDLE for a server). */
enum lsh_auth_client_state lsh_auth_client_state(const lsh_conn *c);

/*
 * Starts authentication as `user` (at most LSH_AUTH_USER_MAX bytes) for
 * `service` (NULL: "ssh-connection").  Requests "ssh-userauth" unless it
 * was requested already (it may then be pending or accepted), and sends
 * a "none" request as soon as the service is accepted; its result (a
 * failure listing the methods, rarely success) is the first
 * LSH_EV_AUTH_RESULT.  Client only, once per connection (LSH_ESTATE).
 */
LSH_MUST_CHECK int lsh_auth_client_start(lsh_conn *c, const char *user,
                                         const char *service);

/*
 * The following start a request.  Valid in states READY, WAIT_SIGN,
 * WAIT_RESPONSES and WAIT_PASSWORD (a new request abandons the one in
 * progress, RFC 4252 §5); LSH_ESTATE otherwise.
 */

/* RFC 4252 §8: password (at most LSH_AUTH_PASSWORD_MAX bytes). */
LSH_MUST_CHECK int lsh_auth_client_password(lsh_conn *c,
                                            const char *password);

/* RFC 4252 §8: password change, usually after LSH_EV_AUTH_PROMPT
 * "password"; the answer may be another PROMPT (new one refused). */
LSH_MUST_CHECK int lsh_auth_client_password_change(lsh_conn *c,
                                                   const char *old_password,
                                                   const char *new_password);

/*
 * RFC 4252 §7: asks whether the key in blob[0..n) (a public key blob or
 * an OpenSSH certificate blob) would be accepted, without a signature.
 * keyalg is the public key algorithm name for the request; NULL picks it
 * with lsh_auth_client_keyalg().  On PK_OK comes LSH_EV_AUTH_SIGN.
 * Errors: LSH_EINVAL (blob unreadable or over LSH_AUTH_BLOB_MAX),
 * LSH_ENOALG (no algorithm the server accepts), LSH_ESTATE.
 */
LSH_MUST_CHECK int lsh_auth_client_publickey(lsh_conn *c, const char *keyalg,
                                             const uint8_t *blob, size_t n);

/*
 * The answer to LSH_EV_AUTH_SIGN: an SSH signature blob (string
 * algorithm, string signature) over the event's data.  LSH_EINVAL if it
 * is malformed, LSH_ENOALG if its algorithm is not the one asked for;
 * the state stays WAIT_SIGN then (sign again or try another method).
 */
LSH_MUST_CHECK int lsh_auth_client_signature(lsh_conn *c, const uint8_t *sig,
                                             size_t n);

/*
 * Publickey with the signature in the first request (no query): signs
 * with the private half of `key`.  blob NULL means key's own public
 * blob; else blob[0..n) is sent instead (a certificate for key) and the
 * signature is still made with key.  keyalg as for
 * lsh_auth_client_publickey.  LSH_EINVAL if key has no private half;
 * signing errors of lsh_key_sign.
 */
LSH_MUST_CHECK int lsh_auth_client_publickey_sign_now(lsh_conn *c,
                                                      const lsh_key *key,
                                                      const char *keyalg,
                                                      const uint8_t *blob,
                                                      size_t n);

/*
 * The public key algorithm to use for blob[0..n) with this server: the
 * blob's type name, except for RSA keys and certificates, where it is
 * rsa-sha2-512, else rsa-sha2-256, else ssh-rsa, the first that the
 * server's server-sig-algs (RFC 8308 §3.1) lists, and ssh-rsa when the
 * server sent none (RFC 8332 §3.3); certificates get the "-cert-v01@
 * openssh.com" form of the choice.  Writes a NUL-terminated name to out.
 * Errors: LSH_EINVAL (unreadable blob), LSH_ENOALG (server-sig-algs
 * lists no RSA algorithm), LSH_ETOOLARGE (outlen too small; 65 bytes
 * always suffice).
 */
LSH_MUST_CHECK int lsh_auth_client_keyalg(const lsh_conn *c,
                                          const uint8_t *blob, size_t n,
                                          char *out, size_t outlen);

/* RFC 4256 §3.1: keyboard-interactive; submethods NULL or "" for none. */
LSH_MUST_CHECK int lsh_auth_client_kbdint(lsh_conn *c,
                                          const char *submethods);

typedef struct lsh_auth_prompt {
    const char *text; /* NUL-terminated, sanitized like banners */
    size_t len;
    int echo;         /* 1: the answer may be shown as typed */
} lsh_auth_prompt;

typedef struct lsh_auth_prompts {
    const char *method;      /* "keyboard-interactive" or "password" */
    const char *name;        /* kbd-int name field ("" for password) */
    const char *instruction; /* kbd-int instruction, or the password
                                change prompt */
    size_t n;                /* number of prompts (0 for password) */
    const lsh_auth_prompt *prompts;
} lsh_auth_prompts;

/*
 * The prompts of the LSH_EV_AUTH_PROMPT being answered (borrowed).
 * LSH_ESTATE unless the state is WAIT_RESPONSES or WAIT_PASSWORD.
 */
LSH_MUST_CHECK int lsh_auth_client_prompts(const lsh_conn *c,
                                           lsh_auth_prompts *out);

/*
 * RFC 4256 §3.4: the answers to the prompts, in order; n must equal the
 * number of prompts (LSH_EINVAL otherwise), each answer at most
 * LSH_AUTH_PASSWORD_MAX bytes.  Valid in WAIT_RESPONSES.
 */
LSH_MUST_CHECK int lsh_auth_client_responses(lsh_conn *c,
                                             const char *const *answers,
                                             size_t n);

/* ------------------------------------------------------------------ */
/* Server                                                              */

/*
 * The methods offered: a name-list of "publickey", "password" and
 * "keyboard-interactive" (others: LSH_EINVAL); default all three.  It is
 * the "can continue" list until the caller passes its own to reject().
 */
LSH_MUST_CHECK int lsh_auth_server_set_methods(lsh_conn *c,
                                               const char *methods);

/* MaxAuthTries (1..1000; default LSH_AUTH_MAX_TRIES). */
LSH_MUST_CHECK int lsh_auth_server_set_max_tries(lsh_conn *c, unsigned n);

/*
 * Public key signature algorithms accepted (a name-list); NULL restores
 * the default, the list our server-sig-algs advertises (no ssh-rsa, no
 * ssh-dss).  A request naming another algorithm is refused by the layer;
 * a certificate algorithm is accepted when the list names it or its
 * plain signature algorithm (see "Certificates" above).
 */
LSH_MUST_CHECK int lsh_auth_server_set_sig_algs(lsh_conn *c,
                                                const char *algs);

/*
 * The request of the last LSH_EV_AUTH_REQUEST.  Strings are NUL-terminated
 * copies (lengths given for those that may hold NUL bytes); fields of
 * other methods are NULL / 0.  Borrowed until the answer.
 */
typedef struct lsh_auth_request {
    const char *user;
    size_t user_len;
    const char *service;
    const char *method;
    int phase;                  /* as num in the event */
    /* password */
    const char *password;
    size_t password_len;
    const char *new_password;   /* phase 1 only */
    size_t new_password_len;
    /* publickey */
    const char *key_alg;        /* as in the request */
    const uint8_t *key_blob;
    size_t key_blob_len;
    const lsh_key *key;         /* the parsed public key; for a
                                   certificate, the certified key */
    const lsh_cert *cert;       /* the certificate, or NULL for a plain
                                   key (PROTOCOL.certkeys; see above for
                                   what the caller must check) */
    int signature_verified;     /* phase 1: always 1 */
    uint8_t sk_flags;           /* security keys: the token's flags */
    uint32_t sk_counter;        /*   and counter (verified signature) */
    /* keyboard-interactive */
    const char *submethods;
    size_t n_responses;         /* phase 1 */
    const char *const *responses;
    const size_t *response_lens;
} lsh_auth_request;

/* LSH_ESTATE unless a request waits for an answer. */
LSH_MUST_CHECK int lsh_auth_server_request(const lsh_conn *c,
                                           lsh_auth_request *out);

/*
 * Sends USERAUTH_SUCCESS and marks the connection authenticated right
 * after that packet (so that zlib@openssh.com starts exactly there).
 * Refused (LSH_ESTATE) for a publickey query.
 */
LSH_MUST_CHECK int lsh_auth_server_accept(lsh_conn *c);

/*
 * Sends USERAUTH_FAILURE with the methods that can continue (NULL: the
 * current list, initially set_methods') and the partial-success flag.
 * The list given becomes the current one.  Disconnects instead once the
 * tries are used up (see above).
 */
LSH_MUST_CHECK int lsh_auth_server_reject(lsh_conn *c, const char *methods,
                                          int partial);

/* RFC 4252 §7: SSH_MSG_USERAUTH_PK_OK for a publickey query. */
LSH_MUST_CHECK int lsh_auth_server_pk_ok(lsh_conn *c);

/*
 * RFC 4256 §3.2: INFO_REQUEST for a keyboard-interactive request (phase 0
 * or 1).  n ≤ LSH_AUTH_PROMPTS_MAX prompts, each non-empty; echo[i]
 * nonzero to show the answer; name and instruction may be NULL.
 */
LSH_MUST_CHECK int lsh_auth_server_info_request(lsh_conn *c, const char *name,
                                                const char *instruction,
                                                const char *const *prompts,
                                                const int *echo, size_t n);

/* RFC 4252 §8: PASSWD_CHANGEREQ for a password request. */
LSH_MUST_CHECK int lsh_auth_server_passwd_changereq(lsh_conn *c,
                                                    const char *prompt);

/*
 * RFC 4252 §5.4: a banner (at most LSH_AUTH_BANNER_MAX bytes), allowed
 * after the ssh-userauth service was accepted and before success.
 */
LSH_MUST_CHECK int lsh_auth_server_banner(lsh_conn *c, const char *text);

#endif
