/*
 * The key exchange as a flow of messages (RFC 4253 §7-§9, RFC 4419,
 * RFC 5656 §4, RFC 8308, draft-ietf-sshm-strict-kex).
 *
 * IMPLEMENTATION NOTES
 *
 *   either side      KEXINIT  -->  <--  KEXINIT
 *   client           ECDH_INIT / KEXDH_INIT (Q_C, e)  -->
 *                    (GEX: GEX_REQUEST --> <-- GEX_GROUP, then GEX_INIT)
 *   server           <--  REPLY (K_S, Q_S / f, signature of H)
 *   client           verifies the signature; first kex: asks the caller
 *                    about K_S (LSH_EV_HOSTKEY) and pauses input
 *   both             NEWKEYS  -->  <--  NEWKEYS
 *
 * Each side sends NEWKEYS as soon as it has K and H and (client) the host
 * key is accepted, and takes the new outgoing keys right after it; the
 * incoming keys change when the peer's NEWKEYS arrives.  Under strict kex
 * each NEWKEYS also resets that direction's sequence number to zero, and
 * the peer's KEXINIT must have been its very first packet.
 *
 * Either side may start a re-exchange at any time after the first (by
 * bytes, time, or on request); while our KEXINIT is out and our NEWKEYS
 * is not, upper-layer messages wait in c->held (conn.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/rd.h"
#include "ssh/conn_internal.h"
#include "ssh/keys/cert.h"
#include "ssh/transport/cipher.h"
#include "ssh/transport/mac.h"

#define MSG_KEX_30 30
#define MSG_KEX_31 31
#define REKEY_PACKETS ((uint64_t)1 << 31)

/*
 * What only a running exchange needs lives in c->kx (the method's state,
 * the exchange values, K, K_S, H) and in the two KEXINIT buffers: made
 * when the exchange starts, freed (zeroed: K and H are secret) when it
 * ends, so that an established connection holds none of it.  A
 * re-exchange builds each again from its messages.
 */
static int
kex_state_make(lsh_conn *c)
{
    conn_kex *x;
    if (c->kx != NULL) {
        return 0;
    }
    if ((x = calloc(1, sizeof(*x))) == NULL) {
        return LSH_ENOMEM;
    }
    lsh_buf_init(&x->client_pub, 4096);
    lsh_buf_init(&x->server_pub, 4096);
    lsh_buf_init(&x->K, 4096);
    lsh_buf_init(&x->hostkey_blob, 64 * 1024);
    c->kx = x;
    return 0;
}

static void
free_exchange_state(lsh_conn *c)
{
    conn_kex *x = c->kx;
    lsh_buf_free(&c->my_kexinit);
    lsh_buf_free(&c->peer_kexinit);
    lsh_buf_free(&c->scratch);
    if (x == NULL) {
        return;
    }
    lsh_kex_state_free(x->kst);
    lsh_buf_free(&x->client_pub);
    lsh_buf_free(&x->server_pub);
    lsh_buf_free(&x->K);
    lsh_buf_free(&x->hostkey_blob);
    lsh_freezero(x, sizeof(*x));
    c->kx = NULL;
}

/* The exchange hash is computed (and, on a server, the reply built):
 * what only went into it is not needed by this exchange any more. */
static void
drop_hash_inputs(lsh_conn *c)
{
    lsh_buf_free(&c->my_kexinit);
    lsh_buf_free(&c->peer_kexinit);
    lsh_buf_free(&c->kx->client_pub);
    lsh_buf_free(&c->kx->server_pub);
}

static void
drop_pending_rx(lsh_conn *c)
{
    if (c->pending_rx != NULL) {
        lsh_freezero(c->pending_rx, sizeof(*c->pending_rx));
        c->pending_rx = NULL;
    }
}

int
lsh__kex_in_progress(const lsh_conn *c)
{
    return c->kex_sent || c->peer_kexinit_seen;
}

void
lsh__kex_reset(lsh_conn *c)
{
    c->step = KS_NONE;
    c->kex_sent = c->peer_kexinit_seen = 0;
    c->newkeys_sent = c->newkeys_received = 0;
    c->skip_next_kex_packet = 0;
    free_exchange_state(c);
    drop_pending_rx(c);
}

static int
kex_fail(lsh_conn *c, int code, const char *what)
{
    return lsh__conn_fail(c, code, LSH_DISCONNECT_KEY_EXCHANGE_FAILED,
                          "key exchange failed: %s (%s)", what,
                          lsh_strerror(code));
}

static int
malformed(lsh_conn *c, const char *what)
{
    return lsh__conn_fail(c, LSH_EBADPACKET, LSH_DISCONNECT_PROTOCOL_ERROR,
                          "malformed %s", what);
}

/* Sending our KEXINIT */

int
lsh__kex_start(lsh_conn *c)
{
    lsh_kex_prefs p;
    uint8_t cookie[16];
    char *kex = NULL;
    int r;

    if (c->kex_sent) {
        return 0;
    }
    if ((r = kex_state_make(c)) != 0) {
        return c->version_done ? kex_fail(c, r, "cannot start") : r;
    }
    /* RFC 8308 §2.1 and strict kex: the signalling names go in the first
     * KEXINIT only. */
    if (!c->first_kex_done) {
        if ((r = lsh_kex_list_add_markers(c->role, c->kex_list, &kex)) != 0) {
            return r;
        }
    }
    p.kex = kex ? kex : c->kex_list;
    p.hostkey = c->hostkey_list;
    p.cipher_c2s = p.cipher_s2c = c->cipher_list;
    p.mac_c2s = p.mac_s2c = c->mac_list;
    p.comp_c2s = p.comp_s2c = c->comp_list;
    if (c->cfg.rng(c->cfg.rng_ctx, cookie, sizeof(cookie)) != 0) {
        free(kex);
        return LSH_ECRYPTO;
    }
    lsh_buf_reset(&c->my_kexinit);
    r = lsh_kexinit_encode(&c->my_kexinit, cookie, &p, 0);
    free(kex);
    if (r == 0) {
        c->kexinit_seqnr = c->tx.seqnr;
        r = lsh__conn_send_now(c, lsh_buf_ptr(&c->my_kexinit),
                               lsh_buf_len(&c->my_kexinit));
    }
    if (r != 0) {
        return c->version_done ? kex_fail(c, r, "cannot send KEXINIT") : r;
    }
    c->kex_sent = 1;
    c->kex_started_ms = lsh__conn_now(c);
    lsh__conn_log(c, LSH_LOG_DEBUG, "sent KEXINIT");
    return 0;
}

/* Negotiation and the first method message */

static int
send_msg(lsh_conn *c, lsh_buf *b)
{
    int r = lsh__conn_send_now(c, lsh_buf_ptr(b), lsh_buf_len(b));
    return r == 0 ? 0 : kex_fail(c, r, "cannot send");
}

static size_t
key_bytes_needed(const conn_neg *n)
{
    const lsh_cipher_info *ci[2] = {lsh_cipher_lookup(n->cipher_c2s),
                                    lsh_cipher_lookup(n->cipher_s2c)};
    size_t need = 0;
    for (int i = 0; i < 2; i++) {
        if (ci[i] != NULL && ci[i]->key_len > need) {
            need = ci[i]->key_len;
        }
        if (ci[i] != NULL && ci[i]->block_size > need) {
            need = ci[i]->block_size;
        }
    }
    return need;
}

static int
client_first_method_message(lsh_conn *c)
{
    lsh_buf *b = &c->scratch;
    int r;
    lsh_buf_reset(b);
    if (c->kx->method->kind == LSH_KEX_KIND_GEX) {
        /* RFC 4419 §3; min 2048 as RFC 8270 asks. */
        c->kx->gex_min = LSH_KEX_GEX_MIN_BITS;
        c->kx->gex_n = lsh_kex_gex_bits_for(key_bytes_needed(&c->neg));
        c->kx->gex_max = LSH_KEX_GEX_MAX_BITS;
        c->kx->gex_old = 0;
        if ((r = lsh_buf_put_u8(b, LSH_MSG_KEX_DH_GEX_REQUEST)) != 0 ||
            (r = lsh_buf_put_u32(b, c->kx->gex_min)) != 0 ||
            (r = lsh_buf_put_u32(b, c->kx->gex_n)) != 0 ||
            (r = lsh_buf_put_u32(b, c->kx->gex_max)) != 0) {
            return kex_fail(c, r, "cannot build GEX_REQUEST");
        }
        c->step = KS_WAIT_GEX_GROUP;
        return send_msg(c, b);
    }
    lsh_buf_reset(&c->kx->client_pub);
    if ((r = lsh_kex_client_init(c->kx->kst, c->cfg.rng, c->cfg.rng_ctx,
                                 &c->kx->client_pub)) != 0 ||
        (r = lsh_buf_put_u8(b, MSG_KEX_30)) != 0 ||
        (r = lsh_kex_put_pub(b, c->kx->method, lsh_buf_ptr(&c->kx->client_pub),
                             lsh_buf_len(&c->kx->client_pub))) != 0) {
        return kex_fail(c, r, "cannot build the client's kex value");
    }
    c->step = KS_WAIT_REPLY;
    return send_msg(c, b);
}

/*
 * Keeps the negotiated names in c->neg: one block for the eight of them
 * instead of eight fixed arrays.  A re-exchange that agrees on the same
 * names keeps the block (and the pointers lsh_conn_info gave out).
 */
static int
keep_names(lsh_conn *c, const lsh_kex_result *res)
{
    const char *src[8] = {res->kex,        res->hostkey,  res->cipher_c2s,
                          res->cipher_s2c, res->mac_c2s,  res->mac_s2c,
                          res->comp_c2s,   res->comp_s2c};
    const char **dst[8] = {&c->neg.kex,        &c->neg.hostkey,
                           &c->neg.cipher_c2s, &c->neg.cipher_s2c,
                           &c->neg.mac_c2s,    &c->neg.mac_s2c,
                           &c->neg.comp_c2s,   &c->neg.comp_s2c};
    size_t total = 0, at = 0;
    int same = c->neg.block != NULL;
    char *block;
    for (int i = 0; i < 8; i++) {
        total += strlen(src[i]) + 1;
        same = same && strcmp(*dst[i], src[i]) == 0;
    }
    if (same) {
        return 0;
    }
    if ((block = malloc(total)) == NULL) {
        return LSH_ENOMEM;
    }
    for (int i = 0; i < 8; i++) {
        size_t n = strlen(src[i]) + 1;
        memcpy(block + at, src[i], n);
        *dst[i] = block + at;
        at += n;
    }
    free(c->neg.block);
    c->neg.block = block;
    return 0;
}

static int
begin_method(lsh_conn *c)
{
    lsh_kexinit mine, peer;
    lsh_kex_result res;
    int r;

    if ((r = lsh_kexinit_parse(lsh_buf_ptr(&c->my_kexinit),
                               lsh_buf_len(&c->my_kexinit), &mine)) != 0 ||
        (r = lsh_kexinit_parse(lsh_buf_ptr(&c->peer_kexinit),
                               lsh_buf_len(&c->peer_kexinit), &peer)) != 0) {
        return malformed(c, "SSH_MSG_KEXINIT");
    }
    memset(&res, 0, sizeof(res));
    r = c->role == LSH_ROLE_CLIENT
            ? lsh_kex_negotiate(c->role, &mine, &peer, &res)
            : lsh_kex_negotiate(c->role, &peer, &mine, &res);
    if (r != 0) {
        return lsh__conn_fail(c, r, LSH_DISCONNECT_KEY_EXCHANGE_FAILED,
                              "key exchange failed: %s", res.detail);
    }
    if ((r = keep_names(c, &res)) != 0) {
        return kex_fail(c, r, "cannot keep the negotiated names");
    }
    c->have_neg = 1;
    if (!c->first_kex_done) {
        c->strict = res.strict && !c->cfg.disable_strict_kex;
        c->peer_ext_info = res.peer_ext_info;
        if (c->strict && c->packets_before_kexinit > 0) {
            return lsh__conn_fail(c, LSH_EUNEXPECTED,
                                  LSH_DISCONNECT_PROTOCOL_ERROR,
                                  "strict kex: KEXINIT was not the peer's "
                                  "first packet");
        }
    }
    c->skip_next_kex_packet = res.guess_wrong;
    c->kx->method = lsh_kex_method_lookup(c->neg.kex);
    if (c->kx->method == NULL) {
        return kex_fail(c, LSH_ENOALG, c->neg.kex);
    }
    lsh_kex_state_free(c->kx->kst);
    c->kx->kst = NULL;
    if ((r = lsh_kex_state_new(c->kx->method, &c->kx->kst)) != 0) {
        return kex_fail(c, r, "cannot start the method");
    }
    lsh__conn_log(c, LSH_LOG_DEBUG,
                  "kex: %s, host key %s, c2s %s/%s/%s, s2c %s/%s/%s%s",
                  c->neg.kex, c->neg.hostkey, c->neg.cipher_c2s,
                  c->neg.mac_c2s, c->neg.comp_c2s, c->neg.cipher_s2c,
                  c->neg.mac_s2c, c->neg.comp_s2c,
                  c->strict ? ", strict" : "");
    if (c->role == LSH_ROLE_CLIENT) {
        return client_first_method_message(c);
    }
    c->step = c->kx->method->kind == LSH_KEX_KIND_GEX ? KS_WAIT_GEX_REQUEST
                                                   : KS_WAIT_INIT;
    return 0;
}

int
lsh__kex_on_kexinit(lsh_conn *c, const uint8_t *p, size_t n)
{
    lsh_kexinit check;
    int r;
    if (c->peer_kexinit_seen) {
        return lsh__conn_fail(c, LSH_EUNEXPECTED,
                              LSH_DISCONNECT_PROTOCOL_ERROR,
                              "second KEXINIT during a key exchange");
    }
    if (lsh_kexinit_parse(p, n, &check) != 0) {
        return malformed(c, "SSH_MSG_KEXINIT");
    }
    /* RFC 4253 §7.1: "reserved for future extension", sent as 0. */
    if (check.reserved != 0) {
        return malformed(c, "SSH_MSG_KEXINIT (reserved field not zero)");
    }
    lsh_buf_reset(&c->peer_kexinit);
    if ((r = lsh_buf_put(&c->peer_kexinit, p, n)) != 0) {
        return kex_fail(c, r, "KEXINIT too large");
    }
    c->peer_kexinit_seen = 1;
    if (!c->kex_sent && (r = lsh__kex_start(c)) != 0) {
        return r;
    }
    return begin_method(c);
}

/* Exchange hash, key derivation and NEWKEYS */

static int
compute_hash(lsh_conn *c)
{
    lsh_kex_hash_input in;
    const char *vc, *vs;
    const lsh_buf *ic, *is;
    int r;

    memset(&in, 0, sizeof(in));
    vc = c->role == LSH_ROLE_CLIENT ? c->our_version : c->peer_version;
    vs = c->role == LSH_ROLE_CLIENT ? c->peer_version : c->our_version;
    ic = c->role == LSH_ROLE_CLIENT ? &c->my_kexinit : &c->peer_kexinit;
    is = c->role == LSH_ROLE_CLIENT ? &c->peer_kexinit : &c->my_kexinit;
    in.v_c = (const uint8_t *)vc;
    in.v_c_len = strlen(vc);
    in.v_s = (const uint8_t *)vs;
    in.v_s_len = strlen(vs);
    in.i_c = lsh_buf_ptr(ic);
    in.i_c_len = lsh_buf_len(ic);
    in.i_s = lsh_buf_ptr(is);
    in.i_s_len = lsh_buf_len(is);
    in.k_s = lsh_buf_ptr(&c->kx->hostkey_blob);
    in.k_s_len = lsh_buf_len(&c->kx->hostkey_blob);
    if (c->kx->method->kind == LSH_KEX_KIND_GEX) {
        in.gex_min = c->kx->gex_min;
        in.gex_n = c->kx->gex_n;
        in.gex_max = c->kx->gex_max;
        in.gex_old = c->kx->gex_old;
        if ((r = lsh_kex_state_group(c->kx->kst, &in.gex_p, &in.gex_p_len,
                                     &in.gex_g, &in.gex_g_len)) != 0) {
            return r;
        }
    }
    in.client_pub = lsh_buf_ptr(&c->kx->client_pub);
    in.client_pub_len = lsh_buf_len(&c->kx->client_pub);
    in.server_pub = lsh_buf_ptr(&c->kx->server_pub);
    in.server_pub_len = lsh_buf_len(&c->kx->server_pub);
    in.k = lsh_buf_ptr(&c->kx->K);
    in.k_len = lsh_buf_len(&c->kx->K);
    c->kx->hlen = sizeof(c->kx->H);
    if ((r = lsh_kex_exchange_hash(c->kx->method, &in, c->kx->H,
                                   &c->kx->hlen)) != 0) {
        return r;
    }
    if (c->sid_len == 0) {
        /* RFC 4253 §7.2: the first H is the session identifier. */
        memcpy(c->session_id, c->kx->H, c->kx->hlen);
        c->sid_len = c->kx->hlen;
    }
    return 0;
}

/* Derives one direction's keys: letters (iv, key, mac) per RFC 4253 §7.2. */
static int
derive_dir(lsh_conn *c, dir_keys *d, const char *cipher, const char *mac,
           const char *comp, char l_iv, char l_key, char l_mac)
{
    const lsh_cipher_info *ci = lsh_cipher_lookup(cipher);
    const lsh_mac_info *mi = ci && ci->aead ? NULL : lsh_mac_lookup(mac);
    const uint8_t *K = lsh_buf_ptr(&c->kx->K);
    size_t klen = lsh_buf_len(&c->kx->K);
    int r;

    if (ci == NULL || (!ci->aead && mi == NULL) ||
        ci->key_len > sizeof(d->key) || ci->iv_len > sizeof(d->iv) ||
        (mi && mi->key_len > sizeof(d->mac_key))) {
        return LSH_ENOALG;
    }
    snprintf(d->cipher, sizeof(d->cipher), "%s", cipher);
    snprintf(d->mac, sizeof(d->mac), "%s", mac);
    snprintf(d->comp, sizeof(d->comp), "%s", comp);
    if ((ci->iv_len &&
         (r = lsh_kex_derive(c->kx->method, K, klen, c->kx->H, c->kx->hlen,
                             c->session_id, c->sid_len, l_iv, ci->iv_len,
                             d->iv)) != 0) ||
        (ci->key_len &&
         (r = lsh_kex_derive(c->kx->method, K, klen, c->kx->H, c->kx->hlen,
                             c->session_id, c->sid_len, l_key, ci->key_len,
                             d->key)) != 0) ||
        (mi && mi->key_len &&
         (r = lsh_kex_derive(c->kx->method, K, klen, c->kx->H, c->kx->hlen,
                             c->session_id, c->sid_len, l_mac, mi->key_len,
                             d->mac_key)) != 0)) {
        return r;
    }
    return 0;
}

static int
send_ext_info(lsh_conn *c)
{
    lsh_buf *b = &c->scratch;
    const char *sigalgs = c->sig_algs ? c->sig_algs : LSH_DEFAULT_SIG_ALGS;
    int r;
    lsh_buf_reset(b);
    if ((r = lsh_buf_put_u8(b, LSH_MSG_EXT_INFO)) != 0 ||
        (r = lsh_buf_put_u32(b, 2)) != 0 ||
        (r = lsh_buf_put_cstring(b, "server-sig-algs")) != 0 ||
        (r = lsh_buf_put_cstring(b, sigalgs)) != 0 ||
        (r = lsh_buf_put_cstring(b, "ping@openssh.com")) != 0 ||
        (r = lsh_buf_put_cstring(b, "0")) != 0) {
        return r;
    }
    return lsh__conn_send_now(c, lsh_buf_ptr(b), lsh_buf_len(b));
}

/* Sends NEWKEYS and takes the outgoing keys into use; keeps the incoming
 * ones for the peer's NEWKEYS. */
static int
send_newkeys(lsh_conn *c)
{
    dir_keys c2s, s2c, *tx;
    const conn_neg *n = &c->neg;
    uint8_t msg = LSH_MSG_NEWKEYS;
    int r;

    memset(&c2s, 0, sizeof(c2s));
    memset(&s2c, 0, sizeof(s2c));
    if ((r = derive_dir(c, &c2s, n->cipher_c2s, n->mac_c2s, n->comp_c2s,
                        'A', 'C', 'E')) != 0 ||
        (r = derive_dir(c, &s2c, n->cipher_s2c, n->mac_s2c, n->comp_s2c,
                        'B', 'D', 'F')) != 0) {
        lsh_memzero(&c2s, sizeof(c2s));
        lsh_memzero(&s2c, sizeof(s2c));
        return kex_fail(c, r, "cannot derive keys");
    }
    lsh_buf_free(&c->kx->K); /* zeroed: the keys are all derived from it */
    tx = c->role == LSH_ROLE_CLIENT ? &c2s : &s2c;
    /* The incoming keys wait for the peer's NEWKEYS (only that long). */
    drop_pending_rx(c);
    if ((c->pending_rx = malloc(sizeof(*c->pending_rx))) == NULL) {
        lsh_memzero(&c2s, sizeof(c2s));
        lsh_memzero(&s2c, sizeof(s2c));
        return kex_fail(c, LSH_ENOMEM, "cannot keep the incoming keys");
    }
    *c->pending_rx = c->role == LSH_ROLE_CLIENT ? s2c : c2s;
    r = lsh__conn_send_now(c, &msg, 1);
    if (r == 0) {
        r = lsh_pkt_dir_set_keys(&c->tx, 1, tx->cipher, tx->mac, tx->comp,
                                 tx->key, tx->iv, tx->mac_key);
    }
    lsh_memzero(&c2s, sizeof(c2s));
    lsh_memzero(&s2c, sizeof(s2c));
    if (r != 0) {
        return kex_fail(c, r, "cannot take new keys into use");
    }
    if (c->strict) {
        lsh_pkt_dir_reset_seqnr(&c->tx);
    }
    c->newkeys_sent = 1;
    c->step = KS_WAIT_NEWKEYS;
    /* RFC 8308 §2.4: the server's EXT_INFO is its next packet. */
    if (c->role == LSH_ROLE_SERVER && !c->first_kex_done &&
        c->peer_ext_info && (r = send_ext_info(c)) != 0) {
        return kex_fail(c, r, "cannot send EXT_INFO");
    }
    if (c->first_kex_done || c->newkeys_received) {
        lsh__conn_flush_held(c);
    }
    return 0;
}

static void
kex_complete(lsh_conn *c)
{
    lsh_event ev = {.type = LSH_EV_KEX_DONE, .first = !c->first_kex_done};
    int first = !c->first_kex_done;
    char text[256];
    snprintf(text, sizeof(text), "%s", c->neg.kex);
    c->first_kex_done = 1;
    c->kex_count++;
    c->last_kex_ms = lsh__conn_now(c);
    c->kex_sent = c->peer_kexinit_seen = 0;
    c->newkeys_sent = c->newkeys_received = 0;
    c->step = KS_NONE;
    free_exchange_state(c);
    if (first && c->role == LSH_ROLE_SERVER) {
        /* The client's EXT_INFO may be its next packet. */
        c->ext_info_window = 1;
    }
    if (first && c->role == LSH_ROLE_CLIENT && c->peer_ext_info) {
        c->ext_info_window = 1;
    }
    lsh__conn_flush_held(c);
    (void)lsh__conn_event(c, &ev, text);
}

int
lsh__kex_on_newkeys(lsh_conn *c, const uint8_t *p, size_t n)
{
    (void)p;
    dir_keys *d = c->pending_rx;
    int r;
    if (n != 1) {
        return malformed(c, "SSH_MSG_NEWKEYS");
    }
    if (!c->newkeys_sent || c->newkeys_received || d == NULL) {
        return lsh__conn_fail(c, LSH_EUNEXPECTED,
                              LSH_DISCONNECT_PROTOCOL_ERROR,
                              "SSH_MSG_NEWKEYS out of sequence");
    }
    r = lsh_pkt_dir_set_keys(&c->rx, 0, d->cipher, d->mac, d->comp, d->key,
                             d->iv, d->mac_key);
    drop_pending_rx(c);
    if (r != 0) {
        return kex_fail(c, r, "cannot take new keys into use");
    }
    if (c->strict) {
        lsh_pkt_dir_reset_seqnr(&c->rx);
    }
    c->newkeys_received = 1;
    kex_complete(c);
    return 0;
}

/* Client side of the method */

static int
client_on_gex_group(lsh_conn *c, lsh_rd *rd)
{
    const uint8_t *pp, *g;
    size_t plen, glen;
    int r;
    if (lsh_rd_mpint_unsigned(rd, 1025, &pp, &plen) != 0 ||
        lsh_rd_mpint_unsigned(rd, 1025, &g, &glen) != 0 ||
        lsh_rd_end(rd) != 0) {
        return malformed(c, "SSH_MSG_KEX_DH_GEX_GROUP");
    }
    /* Primality of a group the server chose is not re-proven here (it
     * would cost seconds on the event loop for 8192-bit groups, and the
     * server picks the group for its own connection): size, oddness and
     * the generator's range are checked. */
    if ((r = lsh_kex_gex_check_group(c->kx->gex_min, c->kx->gex_n,
                                     c->kx->gex_max, pp, plen, g, glen,
                                     LSH_KEX_GEX_SKIP_PRIME)) != 0 ||
        (r = lsh_kex_state_set_group(c->kx->kst, pp, plen, g, glen)) != 0) {
        return kex_fail(c, r, "unacceptable group from the server");
    }
    lsh_buf_reset(&c->kx->client_pub);
    lsh_buf_reset(&c->scratch);
    if ((r = lsh_kex_client_init(c->kx->kst, c->cfg.rng, c->cfg.rng_ctx,
                                 &c->kx->client_pub)) != 0 ||
        (r = lsh_buf_put_u8(&c->scratch, LSH_MSG_KEX_DH_GEX_INIT)) != 0 ||
        (r = lsh_kex_put_pub(&c->scratch, c->kx->method,
                             lsh_buf_ptr(&c->kx->client_pub),
                             lsh_buf_len(&c->kx->client_pub))) != 0) {
        return kex_fail(c, r, "cannot build GEX_INIT");
    }
    c->step = KS_WAIT_GEX_REPLY;
    return send_msg(c, &c->scratch);
}

#define CERT_SUFFIX "-cert-v01@openssh.com"

/*
 * The server's host key K_S (RFC 4253 §8).  For a certificate algorithm
 * (PROTOCOL.certkeys) K_S is a certificate: the exchange hash is signed
 * with the certified key, by the plain algorithm the name starts with
 * ("rsa-sha2-512-cert-v01@openssh.com" signs with rsa-sha2-512).  Whether
 * the certificate is trusted is the caller's decision (LSH_EV_HOSTKEY
 * carries its blob).  *sigalg gets the plain algorithm.
 */
static int
host_key_of(const lsh_conn *c, const uint8_t *ks, size_t kslen,
            lsh_key **key, char *sigalg, size_t salen)
{
    const char *alg = c->neg.hostkey;
    size_t n = strlen(alg), sl = strlen(CERT_SUFFIX);
    lsh_cert *cert = NULL;
    int r;

    if (n >= salen) {
        return LSH_ENOALG;
    }
    memcpy(sigalg, alg, n + 1);
    if (n <= sl || strcmp(alg + n - sl, CERT_SUFFIX) != 0) {
        return lsh_key_from_blob(ks, kslen, key);
    }
    sigalg[n - sl] = '\0';
    if ((r = lsh_cert_from_blob(ks, kslen, &cert)) != 0) {
        return r;
    }
    *key = lsh_key_ref(lsh_cert_key(cert));
    lsh_cert_free(cert);
    return 0;
}

static int
client_on_reply(lsh_conn *c, lsh_rd *rd)
{
    const uint8_t *ks, *spub, *sig;
    size_t kslen, spublen, siglen;
    lsh_key *key = NULL;
    lsh_event ev = {.type = LSH_EV_HOSTKEY};
    char fp[LSH_KEY_FP_MAX], sigalg[64];
    int r;

    if (lsh_rd_string(rd, &ks, &kslen) != 0 ||
        lsh_kex_get_pub(rd, c->kx->method, &spub, &spublen) != 0 ||
        lsh_rd_string(rd, &sig, &siglen) != 0 || lsh_rd_end(rd) != 0) {
        return malformed(c, "key exchange reply");
    }
    if ((r = host_key_of(c, ks, kslen, &key, sigalg, sizeof(sigalg))) != 0) {
        return kex_fail(c, r, "cannot parse the server's host key");
    }
    if (!lsh_key_sigalg_ok(key, sigalg)) {
        lsh_key_free(key);
        return kex_fail(c, LSH_EKEYTYPE,
                        "host key does not match the negotiated algorithm");
    }
    lsh_buf_reset(&c->kx->hostkey_blob);
    lsh_buf_reset(&c->kx->server_pub);
    lsh_buf_reset(&c->kx->K);
    if ((r = lsh_buf_put(&c->kx->hostkey_blob, ks, kslen)) != 0 ||
        (r = lsh_buf_put(&c->kx->server_pub, spub, spublen)) != 0 ||
        (r = lsh_kex_client_finish(c->kx->kst, spub, spublen,
                                   &c->kx->K)) != 0 ||
        (r = compute_hash(c)) != 0) {
        lsh_key_free(key);
        return kex_fail(c, r, "invalid server key exchange value");
    }
    /* RFC 4253 §8: the signature of H by the host key proves the server
     * holds it. */
    if ((r = lsh_key_verify(key, sigalg, sig, siglen, c->kx->H,
                            c->kx->hlen)) != 0) {
        lsh_key_free(key);
        return kex_fail(c, LSH_EBADSIG,
                        "the server's signature of the exchange hash does "
                        "not verify");
    }
    /* K_S stays for the LSH_EV_HOSTKEY event (until kex_complete). */
    drop_hash_inputs(c);
    if (c->first_kex_done) {
        /* A re-exchange must present the key verified the first time. */
        int same = c->peer_hostkey && lsh_key_equal_public(key,
                                                           c->peer_hostkey);
        lsh_key_free(key);
        if (!same) {
            return lsh__conn_fail(c, LSH_EHOSTKEY,
                                  LSH_DISCONNECT_HOST_KEY_NOT_VERIFIABLE,
                                  "the server's host key changed during a "
                                  "re-exchange");
        }
        return send_newkeys(c);
    }
    lsh_key_free(c->peer_hostkey);
    c->peer_hostkey = key;
    c->step = KS_WAIT_VERDICT;
    if (lsh_key_fingerprint(key, "sha256", fp, sizeof(fp)) != 0) {
        fp[0] = '\0';
    }
    ev.key = key;
    ev.data = lsh_buf_ptr(&c->kx->hostkey_blob);
    ev.len = lsh_buf_len(&c->kx->hostkey_blob);
    (void)lsh__conn_event(c, &ev, fp);
    return 0;
}

int
lsh__kex_verdict(lsh_conn *c, int accept, const char *why)
{
    if (!accept) {
        return lsh__conn_fail(c, LSH_EHOSTKEY,
                              LSH_DISCONNECT_HOST_KEY_NOT_VERIFIABLE, "%s",
                              why ? why : "host key not accepted");
    }
    return send_newkeys(c);
}

/* Server side of the method */

/* The private host key whose public half is k's, or NULL. */
static lsh_key *
private_host_key(const lsh_conn *c, const lsh_key *k)
{
    for (size_t i = 0; i < c->cfg.n_host_keys; i++) {
        if (lsh_key_has_private(c->cfg.host_keys[i]) &&
            lsh_key_equal_public(c->cfg.host_keys[i], k)) {
            return c->cfg.host_keys[i];
        }
    }
    return NULL;
}

lsh_key *
lsh__kex_host_key_for(const lsh_conn *c, const char *alg,
                      const lsh_cert **cert, char *sigalg, size_t salen)
{
    size_t n = strlen(alg), sl = strlen(CERT_SUFFIX);
    char plain[LSH_KEX_NAME_MAX + 1];

    if (cert != NULL) {
        *cert = NULL;
    }
    if (n > LSH_KEX_NAME_MAX || (sigalg != NULL && salen <= n)) {
        return NULL;
    }
    memcpy(plain, alg, n + 1);
    if (sigalg != NULL) {
        memcpy(sigalg, alg, n + 1);
    }
    if (n <= sl || strcmp(alg + n - sl, CERT_SUFFIX) != 0) {
        for (size_t i = 0; i < c->cfg.n_host_keys; i++) {
            if (lsh_key_sigalg_ok(c->cfg.host_keys[i], alg) &&
                lsh_key_has_private(c->cfg.host_keys[i])) {
                return c->cfg.host_keys[i];
            }
        }
        return NULL;
    }
    /* PROTOCOL.certkeys: "rsa-sha2-512-cert-v01@openssh.com" is a
     * certificate of an RSA key, signing with rsa-sha2-512. */
    plain[n - sl] = '\0';
    if (sigalg != NULL) {
        sigalg[n - sl] = '\0';
    }
    for (size_t i = 0; i < c->cfg.n_host_certs; i++) {
        const lsh_key *ck = lsh_cert_key(c->cfg.host_certs[i]);
        lsh_key *hk;
        if (!lsh_key_sigalg_ok(ck, plain) ||
            (hk = private_host_key(c, ck)) == NULL) {
            continue;
        }
        if (cert != NULL) {
            *cert = c->cfg.host_certs[i];
        }
        return hk;
    }
    return NULL;
}

int
lsh__kex_hold_host_certs(lsh_conn *c, lsh_cert *const *certs, size_t n)
{
    lsh_cert **mine;
    c->cfg.host_certs = NULL;
    c->cfg.n_host_certs = 0;
    if (c->role != LSH_ROLE_SERVER || n == 0) {
        return 0;
    }
    if (certs == NULL) {
        return LSH_EINVAL;
    }
    if ((mine = calloc(n, sizeof(*mine))) == NULL) {
        return LSH_ENOMEM;
    }
    /* Held from here on: lsh__kex_drop_host_certs releases what is. */
    c->cfg.host_certs = mine;
    for (size_t i = 0; i < n; i++) {
        /* A certificate is usable only as a host certificate of one of
         * our private host keys: anything else is a configuration
         * mistake. */
        if (certs[i] == NULL || lsh_cert_type(certs[i]) != LSH_CERT_HOST ||
            private_host_key(c, lsh_cert_key(certs[i])) == NULL) {
            return LSH_EINVAL;
        }
        mine[i] = lsh_cert_ref(certs[i]);
        c->cfg.n_host_certs = i + 1;
    }
    return 0;
}

void
lsh__kex_drop_host_certs(lsh_conn *c)
{
    for (size_t i = 0; i < c->cfg.n_host_certs; i++) {
        lsh_cert_free(c->cfg.host_certs[i]);
    }
    free((void *)c->cfg.host_certs);
    c->cfg.host_certs = NULL;
    c->cfg.n_host_certs = 0;
}

static int
server_on_gex_request(lsh_conn *c, lsh_rd *rd, int old)
{
    const lsh_kex_group *grp;
    int r;
    if (old) {
        /* RFC 4419 §5: only n; treat the range as [n, n]. */
        if (lsh_rd_u32(rd, &c->kx->gex_n) != 0 || lsh_rd_end(rd) != 0) {
            return malformed(c, "SSH_MSG_KEX_DH_GEX_REQUEST_OLD");
        }
        c->kx->gex_min = c->kx->gex_max = c->kx->gex_n;
    } else if (lsh_rd_u32(rd, &c->kx->gex_min) != 0 ||
               lsh_rd_u32(rd, &c->kx->gex_n) != 0 ||
               lsh_rd_u32(rd, &c->kx->gex_max) != 0 || lsh_rd_end(rd) != 0) {
        return malformed(c, "SSH_MSG_KEX_DH_GEX_REQUEST");
    }
    c->kx->gex_old = old;
    if ((r = lsh_kex_gex_choose(c->kx->gex_min, c->kx->gex_n,
                                c->kx->gex_max, 0, &grp)) != 0 ||
        (r = lsh_kex_state_use_group(c->kx->kst, grp)) != 0) {
        return kex_fail(c, r, "no group in the requested size range");
    }
    lsh_buf_reset(&c->scratch);
    if ((r = lsh_buf_put_u8(&c->scratch, LSH_MSG_KEX_DH_GEX_GROUP)) != 0 ||
        (r = lsh_kex_group_put(&c->scratch, grp)) != 0) {
        return kex_fail(c, r, "cannot build GEX_GROUP");
    }
    c->step = KS_WAIT_GEX_INIT;
    return send_msg(c, &c->scratch);
}

static int
server_on_init(lsh_conn *c, lsh_rd *rd, uint8_t reply_type)
{
    const uint8_t *cpub;
    size_t cpublen;
    const lsh_cert *cert;
    char sigalg[LSH_KEX_NAME_MAX + 1];
    lsh_key *hk = lsh__kex_host_key_for(c, c->neg.hostkey, &cert, sigalg,
                                        sizeof(sigalg));
    lsh_buf *b = &c->scratch;
    int r;

    if (lsh_kex_get_pub(rd, c->kx->method, &cpub, &cpublen) != 0 ||
        lsh_rd_end(rd) != 0) {
        return malformed(c, "client key exchange value");
    }
    if (hk == NULL) {
        return kex_fail(c, LSH_ENOALG, "no host key for the algorithm");
    }
    lsh_buf_reset(&c->kx->client_pub);
    lsh_buf_reset(&c->kx->server_pub);
    lsh_buf_reset(&c->kx->K);
    lsh_buf_reset(&c->kx->hostkey_blob);
    if ((r = lsh_buf_put(&c->kx->client_pub, cpub, cpublen)) != 0 ||
        (r = lsh_kex_server_reply(c->kx->kst, cpub, cpublen, c->cfg.rng,
                                  c->cfg.rng_ctx, &c->kx->server_pub,
                                  &c->kx->K)) != 0) {
        return kex_fail(c, r, "invalid client key exchange value");
    }
    /* K_S: the host key, or for a certificate algorithm the certificate
     * (PROTOCOL.certkeys), signed below by the certified key. */
    if (cert != NULL) {
        size_t cl;
        const uint8_t *cb = lsh_cert_blob(cert, &cl);
        r = lsh_buf_put(&c->kx->hostkey_blob, cb, cl);
    } else {
        r = lsh_key_to_blob(hk, &c->kx->hostkey_blob);
    }
    if (r != 0 || (r = compute_hash(c)) != 0) {
        return kex_fail(c, r, "cannot compute the exchange hash");
    }
    lsh_buf_reset(b);
    if ((r = lsh_buf_put_u8(b, reply_type)) != 0 ||
        (r = lsh_buf_put_stringb(b, &c->kx->hostkey_blob)) != 0 ||
        (r = lsh_kex_put_pub(b, c->kx->method, lsh_buf_ptr(&c->kx->server_pub),
                             lsh_buf_len(&c->kx->server_pub))) != 0) {
        return kex_fail(c, r, "cannot build the reply");
    }
    {
        /* The signature is a string holding the signature blob. */
        size_t at = lsh_buf_len(b);
        if ((r = lsh_buf_put_u32(b, 0)) != 0 ||
            (r = lsh_key_sign(hk, sigalg, c->kx->H, c->kx->hlen, b)) != 0 ||
            (r = lsh_buf_poke_u32(b, at, (uint32_t)(lsh_buf_len(b) - at -
                                                    4))) != 0) {
            return kex_fail(c, r, "cannot sign the exchange hash");
        }
    }
    drop_hash_inputs(c);
    lsh_buf_free(&c->kx->hostkey_blob);
    if ((r = send_msg(c, b)) != 0) {
        return r;
    }
    return send_newkeys(c);
}

int
lsh__kex_on_method(lsh_conn *c, const uint8_t *p, size_t n)
{
    lsh_rd rd;
    uint8_t t = p[0];
    enum kex_step s = c->step;

    if (c->skip_next_kex_packet) {
        /* RFC 4253 §7: a wrong guess's packet is ignored. */
        c->skip_next_kex_packet = 0;
        return 0;
    }
    lsh_rd_init(&rd, p + 1, n - 1);
    if (c->role == LSH_ROLE_CLIENT) {
        if (s == KS_WAIT_GEX_GROUP && t == LSH_MSG_KEX_DH_GEX_GROUP) {
            return client_on_gex_group(c, &rd);
        }
        if ((s == KS_WAIT_REPLY && t == MSG_KEX_31) ||
            (s == KS_WAIT_GEX_REPLY && t == LSH_MSG_KEX_DH_GEX_REPLY)) {
            return client_on_reply(c, &rd);
        }
    } else {
        if (s == KS_WAIT_GEX_REQUEST &&
            (t == LSH_MSG_KEX_DH_GEX_REQUEST ||
             t == LSH_MSG_KEX_DH_GEX_REQUEST_OLD)) {
            return server_on_gex_request(
                c, &rd, t == LSH_MSG_KEX_DH_GEX_REQUEST_OLD);
        }
        if (s == KS_WAIT_INIT && t == MSG_KEX_30) {
            return server_on_init(c, &rd, MSG_KEX_31);
        }
        if (s == KS_WAIT_GEX_INIT && t == LSH_MSG_KEX_DH_GEX_INIT) {
            return server_on_init(c, &rd, LSH_MSG_KEX_DH_GEX_REPLY);
        }
    }
    return lsh__conn_fail(c, LSH_EUNEXPECTED, LSH_DISCONNECT_PROTOCOL_ERROR,
                          "key exchange message %u out of sequence", t);
}

/* Re-exchange triggers */

/* The next re-exchange is due, or the running one must have finished. */
uint64_t
lsh__kex_rekey_deadline(const lsh_conn *c)
{
    uint64_t ms = c->cfg.rekey_seconds * 1000;
    if (lsh__kex_in_progress(c)) {
        return c->first_kex_done ? c->kex_started_ms + LSH_REKEY_TIMEOUT_MS
                                 : UINT64_MAX;
    }
    return c->last_kex_ms + ms;
}

int
lsh__kex_maybe_rekey(lsh_conn *c)
{
    uint64_t bytes = c->tx.bytes + c->rx.bytes;
    if (c->closed || !c->first_kex_done) {
        return 0;
    }
    if (lsh__kex_in_progress(c)) {
        /* A stalled re-exchange would hold our queued output forever
         * (reliability-plan P-8, Go CVE-2025-22869). */
        if (lsh__conn_now(c) >= lsh__kex_rekey_deadline(c)) {
            return lsh__conn_fail(c, LSH_ETIMEOUT,
                                  LSH_DISCONNECT_KEY_EXCHANGE_FAILED,
                                  "the peer did not complete a key "
                                  "re-exchange within %llu seconds",
                                  (unsigned long long)(LSH_REKEY_TIMEOUT_MS /
                                                       1000));
        }
        return 0;
    }
    if (bytes >= c->cfg.rekey_bytes || c->tx.packets >= REKEY_PACKETS ||
        c->rx.packets >= REKEY_PACKETS ||
        lsh__conn_now(c) >= lsh__kex_rekey_deadline(c)) {
        lsh__conn_log(c, LSH_LOG_DEBUG, "starting a re-exchange");
        return lsh__kex_start(c);
    }
    return 0;
}
