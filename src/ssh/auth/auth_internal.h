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

typedef struct auth_client {
    enum lsh_auth_client_state st;
    char user[LSH_AUTH_USER_MAX + 1];
    char service[LSH_AUTH_NAME_MAX + 1];
    const char *method;  /* static name of the request out / in progress */
    int pk_signed;       /* the publickey request out carries a signature */
    char keyalg[LSH_AUTH_NAME_MAX + 1];
    char sigalg[LSH_AUTH_NAME_MAX + 1];
    lsh_buf blob;        /* publickey: the blob of the attempt */
    lsh_buf tosign;      /* string session_id || request (RFC 4252 §7) */
    char methods[LSH_AUTH_METHODS_MAX + 1]; /* from the last FAILURE */
    lsh_buf banner;
    /* The prompts of the last INFO_REQUEST or PASSWD_CHANGEREQ. */
    lsh_buf arena;
    auth_span name, instruction;
    size_t n_prompts;
    auth_span prompt_at[LSH_AUTH_PROMPTS_MAX];
    int echo[LSH_AUTH_PROMPTS_MAX];
    lsh_auth_prompt view[LSH_AUTH_PROMPTS_MAX];
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
    char methods[LSH_AUTH_METHODS_MAX + 1];      /* set_methods */
    char can_continue[LSH_AUTH_METHODS_MAX + 1]; /* last list sent */
    char *sig_algs;      /* NULL: the default list */
    unsigned max_tries, tries, requests;
    int done;            /* accepted: later requests are ignored */
    /* The first request's user and service (RFC 4252 §5). */
    int have_user;
    char user[LSH_AUTH_USER_MAX + 1];
    size_t user_len;
    char service[LSH_AUTH_NAME_MAX + 1];
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
    size_t n_responses;
    auth_span resp_at[LSH_AUTH_PROMPTS_MAX];
    const char *resp_ptr[LSH_AUTH_PROMPTS_MAX];
    size_t resp_len[LSH_AUTH_PROMPTS_MAX];
    /* keyboard-interactive: an INFO_REQUEST is out with this many
     * prompts. */
    int kbd_waiting;
    uint32_t kbd_expect;
    /* Requests that arrived while one was pending (owned copies). */
    uint8_t *queue[LSH_AUTH_QUEUE];
    size_t queue_len[LSH_AUTH_QUEUE];
    unsigned qhead, qcount;
} auth_server;

struct lsh_auth_state {
    auth_client cl;
    auth_server sv;
};

/* auth.c */
/* The layer's state, created on first use; NULL only on allocation
 * failure. */
struct lsh_auth_state *lsh__auth_state(lsh_conn *c);
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
