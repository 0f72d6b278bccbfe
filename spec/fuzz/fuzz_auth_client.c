/*
 * libFuzzer target: the client side of user authentication against a
 * fake server.
 *
 * A client core and a server core complete the key exchange; the client
 * starts authentication ("none" goes out, the server core leaves it
 * unanswered).  The input is then a list of steps, each one byte `op`
 * followed by what it needs:
 *   op % 4 == 0 or 1: u16 length + payload: a message the server sends
 *         with its keys, bypassing its own state machine; its type is
 *         forced into 50..79 (often 51, 52, 53 or 60) so that the
 *         client's auth layer and filter see it;
 *   op % 4 == 2: a client call chosen by op >> 2 (password, password
 *         change, publickey query, signature-first publickey, kbd-int,
 *         answers to the prompts, a signature for LSH_EV_AUTH_SIGN);
 *   op % 4 == 3: the real server answers its pending request (reject,
 *         pk_ok, info_request, passwd_changereq, banner, accept).
 * The client must never crash, leak or hang; closing is fine.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../c/pair.h"
#include "ssh/auth/auth.h"
#include "ssh/auth/auth_internal.h"
#include "ssh/conn_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lsh_key *host_key, *user_key;
static lsh_buf user_blob;

static void
client_call(pair *p, uint8_t op)
{
    const char *many[LSH_AUTH_PROMPTS_MAX];
    lsh_auth_prompts pr;
    lsh_buf sig;
    switch ((op >> 2) % 7) {
    case 0:
        (void)lsh_auth_client_password(p->c, "secret");
        break;
    case 1:
        (void)lsh_auth_client_password_change(p->c, "secret", "new");
        break;
    case 2:
        (void)lsh_auth_client_publickey(p->c, NULL, lsh_buf_ptr(&user_blob),
                                        lsh_buf_len(&user_blob));
        break;
    case 3:
        (void)lsh_auth_client_publickey_sign_now(p->c, user_key, NULL, NULL,
                                                 0);
        break;
    case 4:
        (void)lsh_auth_client_kbdint(p->c, (op & 0x80) ? "pam" : NULL);
        break;
    case 5:
        if (lsh_auth_client_prompts(p->c, &pr) == 0) {
            for (size_t i = 0; i < LSH_AUTH_PROMPTS_MAX; i++) {
                many[i] = (i & 1) ? "answer" : "";
            }
            (void)lsh_auth_client_responses(p->c, many, pr.n);
        }
        break;
    default:
        /* A signature over the bytes asked for, or over other bytes. */
        lsh_buf_init(&sig, 0);
        if (lsh_auth_client_state(p->c) == LSH_AUTH_C_WAIT_SIGN &&
            (op & 0x80)) {
            const lsh_buf *d = &p->c->auth->cl.tosign;
            if (lsh_key_sign(user_key, NULL, lsh_buf_ptr(d), lsh_buf_len(d),
                             &sig) != 0) {
                abort();
            }
        } else if (lsh_key_sign(user_key, NULL, (const uint8_t *)"x", 1,
                                &sig) != 0) {
            abort();
        }
        (void)lsh_auth_client_signature(p->c, lsh_buf_ptr(&sig),
                                        lsh_buf_len(&sig));
        lsh_buf_free(&sig);
        break;
    }
}

static void
server_answer(pair *p, uint8_t op)
{
    static const char *const prompts[] = {"Password: ", "Code: "};
    static const int echo[] = {0, 1};
    switch ((op >> 2) % 6) {
    case 0:
        (void)lsh_auth_server_reject(p->s, (op & 0x40) ? "password" : NULL,
                                     (op & 0x80) != 0);
        break;
    case 1:
        (void)lsh_auth_server_pk_ok(p->s);
        break;
    case 2:
        (void)lsh_auth_server_info_request(p->s, "n", "i", prompts, echo,
                                           (op >> 6) % 3);
        break;
    case 3:
        (void)lsh_auth_server_passwd_changereq(p->s, "expired");
        break;
    case 4:
        (void)lsh_auth_server_banner(p->s, "banner\x1b[0m");
        break;
    default:
        (void)lsh_auth_server_accept(p->s);
        break;
    }
}

/* A message from the fake server: the type lands in 50..79. */
static void
server_message(pair *p, const uint8_t *data, size_t n)
{
    static const uint8_t common[] = {51, 52, 53, 60};
    uint8_t *msg = malloc(n);
    memcpy(msg, data, n);
    if (msg[0] & 0x80) {
        msg[0] = common[msg[0] & 3];
    } else {
        msg[0] = (uint8_t)(50 + msg[0] % 30);
    }
    (void)lsh__conn_send_now(p->s, msg, n);
    free(msg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pair p;
    pair_opts o;
    size_t off = 0;
    if (host_key == NULL) {
        if (lsh_key_generate(LSH_KEY_ED25519, 0, &host_key) != 0 ||
            lsh_key_generate(LSH_KEY_ED25519, 0, &user_key) != 0) {
            abort();
        }
        lsh_buf_init(&user_blob, 0);
        if (lsh_key_to_blob(user_key, &user_blob) != 0) {
            abort();
        }
    }
    memset(&o, 0, sizeof(o));
    o.host_key = host_key;
    if (pair_init(&p, &o) != 0) {
        abort();
    }
    pair_pump(&p, 65536);
    if (p.kex_done[0] != 1 ||
        lsh_auth_client_start(p.c, "alice", NULL) != 0) {
        abort(); /* the harness itself must reach this state */
    }
    pair_pump(&p, 65536);
    while (off < size && !p.closed[0]) {
        uint8_t op = data[off++];
        if ((op & 3) <= 1) {
            size_t n;
            if (off + 2 > size) {
                break;
            }
            n = ((size_t)data[off] << 8 | data[off + 1]) % 4096;
            off += 2;
            if (n > size - off) {
                n = size - off;
            }
            if (n == 0) {
                continue;
            }
            server_message(&p, data + off, n);
            off += n;
        } else if ((op & 3) == 2) {
            client_call(&p, op);
        } else {
            server_answer(&p, op);
        }
        pair_pump(&p, 65536);
    }
    pair_free(&p);
    return 0;
}
