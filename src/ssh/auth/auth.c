/*
 * The authentication layer's shared part: its state behind c->auth, the
 * entry points conn.c calls (messages 50-79, SERVICE_ACCEPT, freeing)
 * and small helpers.  The roles live in client.c and server.c.
 */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "ssh/auth/auth_internal.h"

struct lsh_auth_state *
lsh__auth_state(lsh_conn *c)
{
    if (c->auth == NULL && !c->auth_finished) {
        c->auth = calloc(1, sizeof(*c->auth));
        if (c->auth == NULL) {
            return NULL;
        }
        if (c->role == LSH_ROLE_CLIENT) {
            lsh__auth_client_init(&c->auth->cl);
        } else {
            lsh__auth_server_init(&c->auth->sv);
        }
    }
    return c->auth;
}

void
lsh__auth_free(lsh_conn *c)
{
    if (c->auth == NULL) {
        return;
    }
    if (c->role == LSH_ROLE_CLIENT) {
        lsh__auth_client_free(&c->auth->cl);
    } else {
        lsh__auth_server_free(&c->auth->sv);
    }
    lsh_freezero(c->auth, sizeof(*c->auth));
    c->auth = NULL;
}

void
lsh__auth_finish(lsh_conn *c)
{
    lsh__auth_free(c);
    c->auth_finished = 1;
}

int
lsh__auth_on_message(lsh_conn *c, const uint8_t *p, size_t n)
{
    /* Once finished there is no state to make: each role answers late
     * messages by itself. */
    if (!c->auth_finished && lsh__auth_state(c) == NULL) {
        return lsh__conn_fail(c, LSH_ENOMEM, LSH_DISCONNECT_BY_APPLICATION,
                              "out of memory");
    }
    if (c->role == LSH_ROLE_CLIENT) {
        return lsh__auth_client_on_message(c, p, n);
    }
    return lsh__auth_server_on_message(c, p, n);
}

int
lsh__auth_arena_put(lsh_buf *arena, const void *s, size_t n, auth_span *at)
{
    size_t off = lsh_buf_len(arena);
    int r;
    if ((r = lsh_buf_put(arena, s, n)) != 0) {
        return r;
    }
    if ((r = lsh_buf_put_u8(arena, 0)) != 0) {
        (void)lsh_buf_truncate(arena, n);
        return r;
    }
    at->off = off;
    at->len = n;
    return 0;
}

void
lsh__auth_sanitize(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && ch != '\t' && ch != '\r' && ch != '\n') ||
            ch == 0x7f) {
            s[i] = '?';
        }
    }
}

int
lsh__auth_send(lsh_conn *c, lsh_buf *b)
{
    int r = lsh_conn_send(c, lsh_buf_ptr(b), lsh_buf_len(b));
    lsh_buf_free(b); /* zeroes: requests carry passwords */
    if (r != 0 && !c->closed) {
        return lsh__conn_fail(c, r, LSH_DISCONNECT_BY_APPLICATION,
                              "cannot send an authentication message: %s",
                              lsh_strerror(r));
    }
    return r;
}

const char *
lsh__auth_method_name(const uint8_t *p, size_t n)
{
    static const char *const known[] = {"none", "password", "publickey",
                                        "keyboard-interactive"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (n == strlen(known[i]) && memcmp(p, known[i], n) == 0) {
            return known[i];
        }
    }
    return NULL;
}
