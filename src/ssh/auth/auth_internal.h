/*
 * Internals of the authentication layer shared by auth.c, client.c and
 * server.c.  Not for other layers.
 */
#ifndef LSH_SSH_AUTH_AUTH_INTERNAL_H
#define LSH_SSH_AUTH_AUTH_INTERNAL_H

#include "common/buf.h"
#include "common/rd.h"
#include "ssh/auth/auth.h"
#include "ssh/conn_internal.h"
#include "ssh/keys/cert.h"

/* Where a string copied into an arena lives (offsets survive growth). */
typedef struct auth_span {
    size_t off, len;
} auth_span;

/*
 * The state of a role lives while authentication runs and goes at
 * SUCCESS, so what can be long (lists, names, prompts) is allocated to
 * its size when it arrives rather than held in arrays of its maximum.
 */
typedef struct auth_client {
    enum lsh_auth_client_state st;
    char *user, *service; /* lsh_auth_client_start (malloc'd) */
    const char *method;  /* static name of the request out / in progress */
    int pk_signed;       /* the publickey request out carries a signature */
    char keyalg[LSH_AUTH_NAME_MAX + 1];
    char sigalg[LSH_AUTH_NAME_MAX + 1];
    lsh_buf blob;        /* publickey: the blob of the attempt */
    lsh_buf tosign;      /* string session_id || request (RFC 4252 §7) */
    char *methods;       /* from the last FAILURE (malloc'd), or NULL */
    lsh_buf banner;
    /* The prompts of the last INFO_REQUEST or PASSWD_CHANGEREQ; the
     * three arrays (malloc'd) have room for n_prompts. */
    lsh_buf arena;
    auth_span name, instruction;
    size_t n_prompts;
    auth_span *prompt_at;
    int *echo;
    lsh_auth_prompt *view;
} auth_client;

/* What the pending server request is. */
enum srv_kind {
    SK_NONE_PENDING = 0,
    SK_NONE,
    SK_PASSWORD,
    SK_PK_QUERY,
    SK_PK_SIGNED,
    SK_KBD_START,
    SK_KBD_RESPONSES
};

typedef struct auth_server {
    /* Methods that can continue (set_methods, then the last list a
     * FAILURE sent): malloc'd, NULL for the default list. */
    char *can_continue;
    char *sig_algs;      /* NULL: the default list */
    unsigned max_tries, tries, requests;
    /* The first request's user and service (RFC 4252 §5): one block,
     * user NUL service NUL (malloc'd), NULL until then. */
    char *user;
    size_t user_len;
    const char *service; /* in the block behind user */
    /* The request waiting for the caller's answer. */
    enum srv_kind pending;
    int phase;           /* num of its event */
    lsh_buf arena;       /* its fields, each NUL-terminated */
    size_t arena_base;   /* kbd-int: end of the start request's fields */
    auth_span f_user, f_service, f_password, f_newpw, f_alg, f_blob,
        f_submethods;
    const char *method;  /* static */
    lsh_key *key;        /* publickey: the key, or the certified key */
    lsh_cert *cert;      /* publickey with a certificate, else NULL */
    lsh_key_sig_info sk;
    /* keyboard-interactive responses: arrays (malloc'd) with room for
     * the INFO_RESPONSE being handled, NULL otherwise. */
    size_t n_responses;
    auth_span *resp_at;
    const char **resp_ptr;
    size_t *resp_len;
    /* keyboard-interactive: an INFO_REQUEST is out with this many
     * prompts. */
    int kbd_waiting;
    uint32_t kbd_expect;
    /* Requests that arrived while one was pending (owned copies). */
    uint8_t *queue[LSH_AUTH_QUEUE];
    size_t queue_len[LSH_AUTH_QUEUE];
    unsigned qhead, qcount;
} auth_server;

/* One connection plays one role: only that half is ever used. */
struct lsh_auth_state {
    union {
        auth_client cl;
        auth_server sv;
    };
};

/* auth.c */
/* The layer's state, created on first use; NULL on allocation failure
 * and once authentication finished (c->auth_finished: the state is
 * freed then, see lsh__auth_finish). */
struct lsh_auth_state *lsh__auth_state(lsh_conn *c);
/* Authentication succeeded: frees the layer's state for good.  Later
 * userauth messages and calls see c->auth_finished and get what the
 * finished state gave them before (ignored, refused, LSH_ESTATE). */
void lsh__auth_finish(lsh_conn *c);
/* Appends s[0..n) and a NUL to the arena and records where. */
int lsh__auth_arena_put(lsh_buf *arena, const void *s, size_t n,
                        auth_span *at);
static inline const char *
lsh__auth_arena_str(const lsh_buf *arena, auth_span at)
{
    return (const char *)lsh_buf_ptr(arena) + at.off;
}
/* Replaces control characters other than TAB, CR and LF by '?'. */
void lsh__auth_sanitize(char *s, size_t n);
/* Sends a message built in b (then zeroed and freed), failing the
 * connection on error. */
int lsh__auth_send(lsh_conn *c, lsh_buf *b);
/* The static name of a method we know, or NULL. */
const char *lsh__auth_method_name(const uint8_t *p, size_t n);

/* client.c / server.c */
int lsh__auth_client_on_message(lsh_conn *c, const uint8_t *p, size_t n);
int lsh__auth_server_on_message(lsh_conn *c, const uint8_t *p, size_t n);
void lsh__auth_client_free(auth_client *cl);
void lsh__auth_server_free(auth_server *sv);
void lsh__auth_client_init(auth_client *cl);
void lsh__auth_server_init(auth_server *sv);

#endif
