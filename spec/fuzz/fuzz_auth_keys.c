/*
 * libFuzzer target for src/ssh/keys/auth_keys.c (options parser, from=
 * address lists, expiry times) and the allowed_signers parser of
 * src/ssh/keys/sshsig.c, which shares its lexer.
 *
 * The input is parsed as an authorized_keys file, normally and strictly,
 * then looked up for a fixed key (as a user key and as a CA) from fixed
 * client addresses and names.  Invariants: line numbers stay within the
 * input; strict parsing adds either every entry the lenient one adds (no
 * problems) or none; a match returns a deep copy that outlives the store.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ssh/keys/auth_keys.h"
#include "ssh/keys/key.h"
#include "ssh/keys/sshsig.h"
#include "ssh/keys/trustfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ssh-ed25519 key of OpenSSH's hostkeys/ed25519_1.pub. */
static const char KEY_B64[] =
    "AAAAC3NzaC1lZDI1NTE5AAAAIK9ks7jkua5YWIwByRnnnc6UPJQWI75O0e/UJdPYU1JI";

static lsh_key *
load(const char *b64)
{
    uint8_t *blob = NULL;
    size_t n = 0;
    lsh_key *k = NULL;
    if (lsh__tf_b64_decode(b64, strlen(b64), 0, &blob, &n) != 0 ||
        lsh_key_from_blob(blob, n, &k) != 0) {
        abort();
    }
    free(blob);
    return k;
}

static void
check_opts(const lsh_auth_opts *o)
{
    for (size_t i = 0; i < o->n_env; i++) {
        if (o->env[i] == NULL || strchr(o->env[i], '=') == NULL) {
            abort();
        }
    }
    for (size_t i = 0; i < o->n_permitopen; i++) {
        int p = o->permitopen[i].port;
        if (o->permitopen[i].host[0] == '\0' ||
            (p != LSH_AK_PORT_ANY && (p < 1 || p > 65535))) {
            abort();
        }
    }
    for (size_t i = 0; i < o->n_principals; i++) {
        if (o->principals[i][0] == '\0') {
            abort();
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static lsh_key *key;
    static const struct {
        const char *addr, *host;
        uint64_t now;
    } q[] = {
        {"192.0.2.1", NULL, 0},
        {"10.1.2.3", "ws.example.com", 1893456000u},
        {"2001:db8::1", "h", UINT64_MAX},
        {"::ffff:10.0.0.1", NULL, 1},
    };
    lsh_auth_keys *ak = NULL, *strict = NULL;
    lsh_allowed_signers *as = NULL;
    size_t lines = 1;
    int r;

    if (key == NULL) {
        key = load(KEY_B64);
    }
    for (size_t i = 0; i < size; i++) {
        lines += data[i] == '\n';
    }
    if (lsh_auth_keys_parse((const char *)data, size, "fuzz", 0, &ak) != 0) {
        return 0;
    }
    for (size_t i = 0; i < lsh_auth_keys_count(ak); i++) {
        const lsh_ak_entry *e = lsh_auth_keys_entry(ak, i);
        if (e->line == 0 || e->line > lines) {
            abort();
        }
        check_opts(e->opts);
    }
    for (size_t i = 0; i < lsh_auth_keys_problem_count(ak); i++) {
        if (lsh_auth_keys_problem(ak, i)->line > lines) {
            abort();
        }
    }
    r = lsh_auth_keys_parse((const char *)data, size, "fuzz", LSH_AK_STRICT,
                            &strict);
    if (r == 0 && (lsh_auth_keys_problem_count(ak) != 0 ||
                   lsh_auth_keys_count(strict) != lsh_auth_keys_count(ak))) {
        abort();
    }
    if (r == LSH_EINVAL && lsh_auth_keys_problem_count(ak) == 0) {
        abort();
    }
    lsh_auth_keys_free(strict);
    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
        for (int ca = 0; ca < 2; ca++) {
            lsh_auth_opts o;
            if (lsh_auth_keys_match(ak, key, ca, q[i].addr, q[i].host,
                                    q[i].now, &o) == 0) {
                if (o.cert_authority != ca || o.line == 0) {
                    abort();
                }
                check_opts(&o);
                (void)lsh_auth_opts_principal_ok(&o, "alice");
                lsh_auth_opts_clear(&o);
            }
        }
    }
    lsh_auth_keys_free(ak);

    /* The same bytes as an allowed_signers file. */
    if (lsh_allowed_signers_parse((const char *)data, size, "fuzz", 0,
                                  &as) == 0) {
        lsh_buf out;
        lsh_buf_init(&out, 0);
        (void)lsh_allowed_signers_check(as, "alice@example.com", key, "file",
                                        1893456000u);
        (void)lsh_allowed_signers_check_ca(as, "alice@example.com", key,
                                           NULL, 0);
        r = lsh_allowed_signers_find_principals(as, key, "git", 0, &out);
        if (r == LSH_ENOTFOUND && lsh_buf_len(&out) != 0) {
            abort();
        }
        lsh_buf_free(&out);
        lsh_allowed_signers_free(as);
    }
    return 0;
}
