/*
 * libFuzzer target for SSH_MSG_KEXINIT (src/ssh/transport/kex.c).
 * The input is a peer's KEXINIT payload.  When it parses, it is
 * negotiated against our default preferences (with the initial-KEXINIT
 * markers) in both roles, and the result is checked against RFC 4253
 * §7.1: every chosen name is on both lists, the kex is never a
 * pseudo-algorithm, a failure always names its category, and a parsed
 * message re-encodes to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/rd.h"
#include "ssh/transport/kex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lsh_buf our_buf[2];
static lsh_kexinit our_ki[2];

static void
setup(void)
{
    static const uint8_t cookie[16];
    for (int role = LSH_ROLE_CLIENT; role <= LSH_ROLE_SERVER; role++) {
        lsh_kex_prefs p = lsh_kex_default_prefs(role);
        char *kex;
        if (lsh_kex_list_add_markers(role, p.kex, &kex) != 0) {
            abort();
        }
        p.kex = kex;
        lsh_buf_init(&our_buf[role], 0);
        if (lsh_kexinit_encode(&our_buf[role], cookie, &p, 0) != 0 ||
            lsh_kexinit_parse(lsh_buf_ptr(&our_buf[role]),
                              lsh_buf_len(&our_buf[role]), &our_ki[role]) !=
                0) {
            abort();
        }
        free(kex);
    }
}

static int
on_list(const lsh_kex_namelist *l, const char *name)
{
    return lsh_namelist_contains(l->p, l->len, name);
}

/* A chosen name must be on both lists ("" only for an AEAD's MAC). */
static void
check_choice(const lsh_kexinit *c, const lsh_kexinit *s, int list,
             const char *name)
{
    if (strlen(name) > LSH_KEX_NAME_MAX) {
        abort();
    }
    if (name[0] == '\0' &&
        (list == LSH_KEXINIT_MAC_C2S || list == LSH_KEXINIT_MAC_S2C)) {
        return;
    }
    if (!on_list(&c->list[list], name) || !on_list(&s->list[list], name)) {
        abort();
    }
}

static void
negotiate(int role, const lsh_kexinit *c, const lsh_kexinit *s)
{
    lsh_kex_result res;
    int r = lsh_kex_negotiate(role, c, s, &res);

    if (r != 0) {
        if (r != LSH_ENOALG || strncmp(res.detail, "no common ", 10) != 0) {
            abort();
        }
        return;
    }
    if (lsh_kex_is_pseudo(res.kex, strlen(res.kex)) || res.detail[0] != '\0') {
        abort();
    }
    check_choice(c, s, LSH_KEXINIT_KEX, res.kex);
    check_choice(c, s, LSH_KEXINIT_HOSTKEY, res.hostkey);
    check_choice(c, s, LSH_KEXINIT_CIPHER_C2S, res.cipher_c2s);
    check_choice(c, s, LSH_KEXINIT_CIPHER_S2C, res.cipher_s2c);
    check_choice(c, s, LSH_KEXINIT_MAC_C2S, res.mac_c2s);
    check_choice(c, s, LSH_KEXINIT_MAC_S2C, res.mac_s2c);
    check_choice(c, s, LSH_KEXINIT_COMP_C2S, res.comp_c2s);
    check_choice(c, s, LSH_KEXINIT_COMP_S2C, res.comp_s2c);
    if ((res.mac_c2s[0] == '\0') != lsh_kex_cipher_is_aead(res.cipher_c2s) ||
        (res.mac_s2c[0] == '\0') != lsh_kex_cipher_is_aead(res.cipher_s2c)) {
        abort();
    }
}

/* Rebuilds the payload from the parsed fields; it must match exactly. */
static void
check_reencode(const lsh_kexinit *k, const uint8_t *data, size_t size)
{
    lsh_buf b;
    lsh_buf_init(&b, 0);
    if (lsh_buf_put_u8(&b, LSH_MSG_KEXINIT) != 0 ||
        lsh_buf_put(&b, k->cookie, 16) != 0) {
        abort();
    }
    for (int i = 0; i < LSH_KEXINIT_NLISTS; i++) {
        if (lsh_buf_put_string(&b, k->list[i].p, k->list[i].len) != 0) {
            abort();
        }
    }
    /* A boolean reads any nonzero byte as TRUE (RFC 4251 §5). */
    if (lsh_buf_put_u8(&b, data[size - 5]) != 0 ||
        lsh_buf_put_u32(&b, k->reserved) != 0) {
        abort();
    }
    if (lsh_buf_len(&b) != size || memcmp(lsh_buf_ptr(&b), data, size) != 0 ||
        k->first_kex_follows != (data[size - 5] != 0)) {
        abort();
    }
    lsh_buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    lsh_kexinit peer;

    if (!ready) {
        setup();
        ready = 1;
    }
    if (lsh_kexinit_parse(data, size, &peer) != 0) {
        return 0;
    }
    check_reencode(&peer, data, size);
    /* We are the client and the input is the server's, then the reverse. */
    negotiate(LSH_ROLE_CLIENT, &our_ki[LSH_ROLE_CLIENT], &peer);
    negotiate(LSH_ROLE_SERVER, &peer, &our_ki[LSH_ROLE_SERVER]);
    /* The peer against itself puts arbitrary lists on both sides; kept
     * small because negotiation is linear only when one list is ours. */
    if (size <= 4096) {
        negotiate(LSH_ROLE_CLIENT, &peer, &peer);
    }
    return 0;
}
