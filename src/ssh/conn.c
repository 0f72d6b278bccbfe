/*
 * IMPLEMENTATION NOTES
 *
 * lsh_conn wires the transport's parts together: version exchange
 * (transport/version.c), the binary packet protocol (transport/packet.c),
 * the incoming-message filter (transport/filter.c) and the key exchange
 * flow (transport/kex_flow.c).
 *
 * Input is processed lazily: lsh_conn_feed only stores bytes, and
 * lsh_conn_next_event decodes packets one at a time until one of them
 * produces an event.  An LSH_EV_MESSAGE event points into `payload`, which
 * the next decode overwrites: hence "valid until the next call".  Events
 * produced by API calls or timers wait in a small ring (evq), at most
 * LSH_CONN_EVQ of them.
 *
 * While the client waits for a host key verdict, input processing stops,
 * so the peer's NEWKEYS (and anything after it) waits in `in`.
 *
 * The first fatal error is sticky (err, detail): DISCONNECT goes out when
 * the transport can still send, a CLOSED event is queued, and every later
 * call is refused.
 *
 * Memory (issue 6: an idle authenticated connection should cost a few
 * KiB): nothing is sized for the worst case while idle.  The event ring
 * grows as it fills and goes when it empties, event texts are malloc'd
 * copies (or point at the detail, which exists only after a failure),
 * the negotiated names share one block, what only a key exchange needs
 * lives in c->kx and the KEXINIT buffers from its start to its hash or
 * its end (kex_flow.c), and the auth layer's state goes at SUCCESS.
 * Buffers give their storage back when they empty (release_or_keep):
 * small storage at once, big storage (a bulk stream's, which empties its
 * buffers at every turn of the loop) once the connection has been idle
 * for LSH_CONN_TRIM_MS, through lsh_conn_next_deadline / lsh_conn_tick.
 */
#include "ssh/conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/rd.h"
#include "ssh/conn_internal.h"
#include "ssh/connection/channel.h"

#ifndef LSH_VERSION
#define LSH_VERSION "0.0.0"
#endif

#define DEFAULT_REKEY_BYTES ((uint64_t)1 << 30)
#define DEFAULT_REKEY_SECONDS 3600
#define DEFAULT_LOGIN_TIMEOUT_MS 120000

/* The one service every connection names (RFC 4252 §1): shared. */
static const char USERAUTH[] = "ssh-userauth";

uint64_t
lsh__conn_now(lsh_conn *c)
{
    return c->cfg.clock(c->cfg.clock_ctx);
}

void
lsh__conn_log(lsh_conn *c, int level, const char *fmt, ...)
{
    char msg[LSH_CONN_TEXT];
    va_list ap;
    if (c->cfg.log == NULL || level > c->cfg.log_level) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->cfg.log(c->cfg.log_ctx, level, msg);
}

/* Events */

/* A malloc'd copy of text[0..n), cut at LSH_CONN_TEXT - 1 bytes as the
 * fixed slots of old did; NULL for none (n == 0) or on failure (*bad). */
static char *
text_copy(const char *text, size_t n, int *bad)
{
    char *t;
    *bad = 0;
    if (text == NULL || n == 0) {
        return NULL;
    }
    if (n > LSH_CONN_TEXT - 1) {
        n = LSH_CONN_TEXT - 1;
    }
    if ((t = malloc(n + 1)) == NULL) {
        *bad = 1;
        return NULL;
    }
    memcpy(t, text, n);
    t[n] = '\0';
    return t;
}

static void
slot_clear(queued_event *q)
{
    if (q->owned) {
        free(q->text);
    }
    q->text = NULL;
    q->owned = 0;
}

/* Room for one more queued event: grows the ring (4, 8, 16) as it
 * fills.  0, or LSH_ENOMEM when it holds LSH_CONN_EVQ already or cannot
 * grow. */
static int
ring_room(lsh_conn *c)
{
    unsigned ncap;
    queued_event *nq;
    if (c->evcount < c->evcap) {
        return 0;
    }
    if (c->evcap >= LSH_CONN_EVQ) {
        return LSH_ENOMEM;
    }
    ncap = c->evcap ? c->evcap * 2 : 4;
    if (ncap > LSH_CONN_EVQ) {
        ncap = LSH_CONN_EVQ;
    }
    if ((nq = malloc(ncap * sizeof(*nq))) == NULL) {
        return LSH_ENOMEM;
    }
    /* Unrolled into the new array in order: the head goes to 0. */
    for (unsigned i = 0; i < c->evcount; i++) {
        nq[i] = c->evq[(c->evhead + i) % c->evcap];
    }
    free(c->evq);
    c->evq = nq;
    c->evcap = ncap;
    c->evhead = 0;
    return 0;
}

/* Queues ev with text (owned: a malloc'd copy the slot takes over;
 * else borrowed, stable storage).  On failure an owned text is freed. */
static int
ring_push(lsh_conn *c, const lsh_event *ev, char *text, int owned)
{
    queued_event *q;
    if (ring_room(c) != 0) {
        if (owned) {
            free(text);
        }
        return LSH_ENOMEM;
    }
    q = &c->evq[(c->evhead + c->evcount) % c->evcap];
    q->ev = *ev;
    q->ev.text = NULL; /* pointed at the text when handed out */
    q->text = text;
    q->owned = owned && text != NULL;
    c->evcount++;
    return 0;
}

/* Takes the oldest queued event into c->current; frees the ring once it
 * is empty (an idle connection holds none). */
static void
ring_pop(lsh_conn *c)
{
    c->current = c->evq[c->evhead];
    c->evhead = (c->evhead + 1) % c->evcap;
    if (--c->evcount == 0) {
        free(c->evq);
        c->evq = NULL;
        c->evcap = c->evhead = 0;
    }
}

int
lsh__conn_event(lsh_conn *c, const lsh_event *ev, const char *text)
{
    char *t;
    int bad;
    if (c->evcount >= LSH_CONN_EVQ) {
        return LSH_ENOMEM;
    }
    t = text_copy(text, text ? strlen(text) : 0, &bad);
    if (bad) {
        return LSH_ENOMEM;
    }
    return ring_push(c, ev, t, 1);
}

int
lsh__conn_emit(lsh_conn *c, const lsh_event *ev, const char *text, size_t n)
{
    int bad;
    slot_clear(&c->current);
    c->current.ev = *ev;
    c->current.text = text_copy(text, n, &bad);
    c->current.owned = c->current.text != NULL;
    if (bad) {
        return lsh__conn_fail(c, LSH_ENOMEM, LSH_DISCONNECT_BY_APPLICATION,
                              "out of memory");
    }
    return 1;
}

static void
queue_closed(lsh_conn *c, int code, uint32_t reason)
{
    lsh_event ev = {.type = LSH_EV_CLOSED, .code = code, .reason = reason};
    /* CLOSED must get out even when the ring is full: drop the oldest. */
    if (c->evcount == LSH_CONN_EVQ) {
        slot_clear(&c->evq[c->evhead]);
        c->evhead = (c->evhead + 1) % c->evcap;
        c->evcount--;
    }
    /* Its text is the detail, which stays until lsh_conn_free (or a
     * static string if the detail could not be allocated). */
    if (ring_push(c, &ev,
                  c->detail ? c->detail : (char *)lsh_strerror(code),
                  0) != 0) {
        c->closed_spill = 1;
        c->spill_reason = reason;
    }
}

int
lsh__conn_send_now(lsh_conn *c, const uint8_t *payload, size_t n)
{
    return lsh__conn_send_now2(c, payload, n, NULL, 0);
}

/*
 * A two-part payload.  Without compression the parts go to the packet
 * encoder as they are (the data is copied once, into c->out).  With it,
 * they are joined first in a buffer of their own, so that the deflate
 * stream is the same as for one part (one partial flush per packet).
 */
int
lsh__conn_send_now2(lsh_conn *c, const uint8_t *hdr, size_t hn,
                    const uint8_t *data, size_t dn)
{
    int r;
    size_t before = lsh_buf_len(&c->out);
    if (hn + dn > lsh_pkt_dir_max_payload(&c->tx)) {
        return LSH_ETOOLARGE;
    }
    if (dn > 0 && lsh_pkt_dir_compressing(&c->tx)) {
        lsh_buf joined;
        lsh_buf_init(&joined, LSH_PKT_MAX);
        if ((r = lsh_buf_reserve(&joined, hn + dn)) == 0 &&
            (r = lsh_buf_put(&joined, hdr, hn)) == 0 &&
            (r = lsh_buf_put(&joined, data, dn)) == 0) {
            r = lsh_pkt_encode(&c->tx, lsh_buf_ptr(&joined),
                               lsh_buf_len(&joined), c->cfg.rng,
                               c->cfg.rng_ctx, &c->out);
        }
        lsh_buf_free(&joined); /* zeroed: it held the plaintext */
    } else {
        r = lsh_pkt_encode2(&c->tx, hdr, hn, data, dn, c->cfg.rng,
                            c->cfg.rng_ctx, &c->out);
    }
    if (r == 0) {
        c->bytes_out += lsh_buf_len(&c->out) - before;
    }
    return r;
}

static void
send_disconnect(lsh_conn *c, uint32_t reason, const char *text)
{
    uint8_t tmp[LSH_CONN_TEXT + 32];
    lsh_buf b;
    /* Borrow a stack buffer through a capped lsh_buf. */
    lsh_buf_init(&b, sizeof(tmp));
    if (lsh_buf_put_u8(&b, LSH_MSG_DISCONNECT) == 0 &&
        lsh_buf_put_u32(&b, reason) == 0 &&
        lsh_buf_put_cstring(&b, text) == 0 &&
        lsh_buf_put_cstring(&b, "") == 0) {
        (void)lsh__conn_send_now(c, lsh_buf_ptr(&b), lsh_buf_len(&b));
    }
    lsh_buf_free(&b);
}

int
lsh__conn_fail(lsh_conn *c, int code, uint32_t reason, const char *fmt, ...)
{
    char text[LSH_CONN_TEXT];
    va_list ap;
    if (c->err != 0) {
        return c->err;
    }
    c->err = code;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    /* Allocated only now: a healthy connection carries no detail.  If
     * that fails, the CLOSED event and lsh_conn_last_error say why in
     * fewer words (lsh_strerror). */
    c->detail = strdup(text);
    lsh__conn_log(c, LSH_LOG_INFO, "closing: %s", text);
    /* A DISCONNECT is only meaningful once the peer speaks SSH with us,
     * and not after the peer itself disconnected. */
    if (c->version_done && reason != 0 && code != LSH_EDISCONNECTED &&
        lsh_pkt_dir_error(&c->tx) == 0) {
        send_disconnect(c, reason, text);
    }
    c->closed = 1;
    queue_closed(c, code, reason);
    return code;
}

/* Creation */

/* The default list itself when the config names none: the defaults
 * are static and every connection of a role shares them. */
static int
resolve_list(const char *deflt, const char *all, const char *spec,
             const char **out)
{
    char *res = NULL;
    int r;
    if (spec == NULL || spec[0] == '\0') {
        *out = deflt;
        return 0;
    }
    r = lsh_kex_list_resolve(deflt, all, spec, &res);
    if (r == 0 && res != NULL) {
        /* Kept for the connection's life: only its own length. */
        char *small = realloc(res, strlen(res) + 1);
        if (small != NULL) {
            res = small;
        }
    }
    *out = res;
    return r;
}

/* Frees a list resolve_list made (not a shared default). */
static void
free_list(const char *list, const char *deflt)
{
    if (list != deflt) {
        free((char *)list);
    }
}

/* Server: only host key algorithms we have a key for (RFC 4253 §7.1). */
static int
filter_hostkey_algs(lsh_conn *c, const char *deflt)
{
    size_t pos = 0, n, outlen = 0, len = strlen(c->hostkey_list);
    const char *name;
    char *res = malloc(len + 1), *small, alg[LSH_KEX_NAME_MAX + 1];
    if (res == NULL) {
        return LSH_ENOMEM;
    }
    res[0] = '\0';
    while (lsh_namelist_next(c->hostkey_list, len, &pos, &name, &n)) {
        int have = 0;
        if (n > LSH_KEX_NAME_MAX) {
            continue;
        }
        memcpy(alg, name, n);
        alg[n] = '\0';
        have = lsh__kex_host_key_for(c, alg, NULL, NULL, 0) != NULL;
        if (have) {
            if (outlen > 0) {
                res[outlen++] = ',';
            }
            memcpy(res + outlen, alg, n);
            outlen += n;
            res[outlen] = '\0';
        }
    }
    /* Usually a name or two of the long default: keep only those. */
    if ((small = realloc(res, outlen + 1)) != NULL) {
        res = small;
    }
    free_list(c->hostkey_list, deflt);
    c->hostkey_list = res;
    return outlen > 0 ? 0 : LSH_ENOALG;
}

/* lsh_config.sig_algs: a name-list (RFC 4251 §5) of at most
 * LSH_SIG_ALGS_MAX bytes, copied. */
static int
keep_sig_algs(lsh_conn *c, const char *algs)
{
    size_t n;
    if (algs == NULL) {
        return 0;
    }
    n = strlen(algs);
    if (n == 0 || n > LSH_SIG_ALGS_MAX || lsh_namelist_check(algs, n) != 0) {
        return LSH_EINVAL;
    }
    if ((c->sig_algs = strdup(algs)) == NULL) {
        return LSH_ENOMEM;
    }
    return 0;
}

static int
resolve_lists(lsh_conn *c)
{
    lsh_kex_prefs d = lsh_kex_default_prefs(c->role);
    int r;
    if ((r = resolve_list(d.kex, lsh_kex_supported(LSH_KEX_CAT_KEX),
                          c->cfg.kex_algs, &c->kex_list)) != 0 ||
        (r = resolve_list(d.hostkey, lsh_kex_supported(LSH_KEX_CAT_HOSTKEY),
                          c->cfg.host_key_algs, &c->hostkey_list)) != 0 ||
        (r = resolve_list(d.cipher_c2s,
                          lsh_kex_supported(LSH_KEX_CAT_CIPHER),
                          c->cfg.encryption_algs, &c->cipher_list)) != 0 ||
        (r = resolve_list(d.mac_c2s, lsh_kex_supported(LSH_KEX_CAT_MAC),
                          c->cfg.mac_algs, &c->mac_list)) != 0 ||
        (r = resolve_list(d.comp_c2s, lsh_kex_supported(LSH_KEX_CAT_COMP),
                          c->cfg.compression_algs, &c->comp_list)) != 0) {
        return r;
    }
    if (c->role == LSH_ROLE_SERVER) {
        return filter_hostkey_algs(c, d.hostkey);
    }
    return 0;
}

static void
free_lists(lsh_conn *c)
{
    lsh_kex_prefs d = lsh_kex_default_prefs(c->role);
    free_list(c->kex_list, d.kex);
    free_list(c->hostkey_list, d.hostkey);
    free_list(c->cipher_list, d.cipher_c2s);
    free_list(c->mac_list, d.mac_c2s);
    free_list(c->comp_list, d.comp_c2s);
}

int
lsh_conn_new(const lsh_config *cfg, lsh_conn **out)
{
    lsh_conn *c;
    int r;

    if (cfg == NULL || cfg->rng == NULL || cfg->clock == NULL ||
        (cfg->role != LSH_ROLE_CLIENT && cfg->role != LSH_ROLE_SERVER) ||
        (cfg->role == LSH_ROLE_SERVER && cfg->n_host_keys == 0)) {
        return LSH_EINVAL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return LSH_ENOMEM;
    }
    c->cfg = *cfg;
    c->role = cfg->role;
    if (c->cfg.rekey_bytes == 0) {
        c->cfg.rekey_bytes = DEFAULT_REKEY_BYTES;
    }
    if (c->cfg.rekey_seconds == 0) {
        c->cfg.rekey_seconds = DEFAULT_REKEY_SECONDS;
    }
    if (c->cfg.login_timeout_ms == 0) {
        c->cfg.login_timeout_ms = DEFAULT_LOGIN_TIMEOUT_MS;
    }
    /* The host key array is the caller's; hold references to the keys. */
    c->cfg.host_keys = NULL;
    if (cfg->n_host_keys > 0) {
        lsh_key **keys = calloc(cfg->n_host_keys, sizeof(*keys));
        if (keys == NULL) {
            free(c);
            return LSH_ENOMEM;
        }
        for (size_t i = 0; i < cfg->n_host_keys; i++) {
            keys[i] = lsh_key_ref(cfg->host_keys[i]);
        }
        c->cfg.host_keys = keys;
    }
    c->cfg.host_certs = NULL; /* the caller's until held below */
    c->cfg.n_host_certs = 0;
    lsh_buf_init(&c->in, LSH_CONN_IN_MAX);
    lsh_buf_init(&c->out, LSH_CONN_OUT_MAX);
    /* c->out holds only bytes as they go on the wire (the version line,
     * packets encrypted where they were encoded; a failed encode zeroes
     * what it wrote, packet.c), so it is a bulk buffer: sent bytes are
     * not wiped one by one; its storage is zeroed before it is freed. */
    lsh_buf_set_bulk(&c->out, 1);
    /* c->in holds ciphertext only once keys are in use (packet.c zeroes
     * what it decrypts in place) and public bytes before: bulk too. */
    lsh_buf_set_bulk(&c->in, 1);
    /* c->payload holds one message's plaintext at a time: bulk, because
     * channel data goes on to the application, which keeps copies of its
     * own; every other message is wiped once handled (payload_done). */
    lsh_buf_init(&c->payload, LSH_PKT_MAX + 64);
    lsh_buf_set_bulk(&c->payload, 1);
    lsh_buf_init(&c->scratch, LSH_PKT_MAX + 64);
    lsh_buf_init(&c->held, LSH_CONN_HELD_MAX);
    lsh_buf_init(&c->my_kexinit, 64 * 1024);
    lsh_buf_init(&c->peer_kexinit, 64 * 1024);
    c->login_deadline = lsh__conn_now(c) + c->cfg.login_timeout_ms;
    /* Room for the longest identification line until it has arrived
     * (process_input trims it to what it is). */
    if ((c->peer_version = calloc(1, LSH_VERSION_LINE_MAX + 1)) == NULL) {
        lsh_conn_free(c);
        return LSH_ENOMEM;
    }

    {
        /* The software version must not carry spaces or control bytes. */
        const char *sv = cfg->software_version;
        char tmp[128];
        if (sv == NULL || sv[0] == '\0') {
            sv = "luassh_" LSH_VERSION;
        }
        snprintf(tmp, sizeof(tmp), "%s", sv);
        for (char *p = tmp; *p; p++) {
            if (*p <= ' ' || *p >= 0x7f) {
                *p = '_';
            }
        }
        if ((c->our_version = malloc(8 + strlen(tmp) + 1)) == NULL) {
            lsh_conn_free(c);
            return LSH_ENOMEM;
        }
        /* RFC 4253 §4.2: at most 255 bytes with CR LF: 8 + 127 + 2. */
        memcpy(c->our_version, "SSH-2.0-", 8);
        memcpy(c->our_version + 8, tmp, strlen(tmp) + 1);
    }
    if ((r = lsh__kex_hold_host_certs(c, cfg->host_certs,
                                      cfg->n_host_certs)) == 0 &&
        (r = keep_sig_algs(c, cfg->sig_algs)) == 0) {
        r = resolve_lists(c);
    }
    /* The caller's strings are not kept: the lists are resolved copies. */
    c->cfg.kex_algs = c->cfg.host_key_algs = NULL;
    c->cfg.encryption_algs = c->cfg.mac_algs = NULL;
    c->cfg.compression_algs = c->cfg.software_version = NULL;
    c->cfg.sig_algs = NULL;
    if (r != 0 || (r = lsh__version_make(c)) != 0 ||
        (r = lsh__kex_start(c)) != 0) {
        lsh_conn_free(c);
        return r;
    }
    *out = c;
    return 0;
}

void
lsh_conn_free(lsh_conn *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < c->cfg.n_host_keys && c->cfg.host_keys; i++) {
        lsh_key_free(c->cfg.host_keys[i]);
    }
    free((void *)c->cfg.host_keys);
    lsh__kex_drop_host_certs(c);
    lsh__kex_reset(c);
    lsh__auth_free(c);
    lsh__chan_free(c);
    lsh_key_free(c->peer_hostkey);
    lsh_pkt_dir_free(&c->tx);
    lsh_pkt_dir_free(&c->rx);
    lsh_buf_free(&c->in);
    lsh_buf_free(&c->out);
    lsh_buf_free(&c->payload);
    lsh_buf_free(&c->scratch);
    lsh_buf_free(&c->held);
    lsh_buf_free(&c->my_kexinit);
    lsh_buf_free(&c->peer_kexinit);
    free_lists(c);
    free(c->server_sig_algs);
    free(c->sig_algs);
    free(c->neg.block);
    if (c->service != USERAUTH) {
        free((char *)c->service);
    }
    free(c->our_version);
    free(c->peer_version);
    free(c->detail);
    while (c->evcount > 0) {
        slot_clear(&c->evq[c->evhead]);
        c->evhead = (c->evhead + 1) % c->evcap;
        c->evcount--;
    }
    free(c->evq);
    slot_clear(&c->current);
    lsh_freezero(c, sizeof(*c));
}

/* Idle storage */

void
lsh__conn_trim_later(lsh_conn *c)
{
    if (c->trim_at == 0) {
        c->trim_at = lsh__conn_now(c) + LSH_CONN_TRIM_MS;
    }
}

/*
 * The message in `payload` has been handled.  It is wiped unless it was
 * channel data (RFC 4254 §5.2), whose bytes the application holds anyway:
 * a userauth request's password, kex secrets and the like must not stay
 * behind.  lsh_buf_wipe zeroes up to the high-water mark, so stale bytes
 * of a longer message before (and padding) go too.
 */
static void
payload_done(lsh_conn *c)
{
    const uint8_t *p = lsh_buf_ptr(&c->payload);
    size_t n = lsh_buf_len(&c->payload);
    if (n > 0 && p[0] != LSH_MSG_CHANNEL_DATA &&
        p[0] != LSH_MSG_CHANNEL_EXTENDED_DATA) {
        lsh_buf_wipe(&c->payload);
    } else {
        lsh_buf_reset(&c->payload);
    }
}

/*
 * An empty buffer gives small storage back at once (the next burst
 * allocates again, at once to the size of its first packet), and keeps
 * big storage until the connection has been idle a while: a bulk stream
 * empties its buffers at every turn of the loop, and making 256 KiB
 * again each time would cost more than the bytes it moves.
 */
static void
release_or_keep(lsh_conn *c, lsh_buf *b)
{
    if (b->data == NULL || lsh_buf_len(b) > 0) {
        return;
    }
    if (b->cap <= LSH_CONN_KEEP_SMALL) {
        lsh_buf_release(b);
        return;
    }
    /* Busy: the idle time counts from the last use. */
    c->trim_at = 0;
    lsh__conn_trim_later(c);
}

/* Idle for LSH_CONN_TRIM_MS: big storage goes too. */
static void
trim_idle(lsh_conn *c)
{
    c->trim_at = 0;
    lsh_buf_release(&c->in);
    lsh_buf_release(&c->out);
    if (c->evcount == 0) {
        /* No queued event refers to the last payload. */
        payload_done(c);
        lsh_buf_release(&c->payload);
    }
    lsh__chan_trim(c);
}

/* Feeding and output */

int
lsh_conn_feed(lsh_conn *c, const uint8_t *data, size_t n, size_t *used)
{
    size_t room = c->in.max - lsh_buf_len(&c->in);
    size_t take = n < room ? n : room;
    int r;
    *used = 0;
    if (c->closed) {
        *used = n; /* discard: nothing more will be read */
        return c->err;
    }
    if (take == 0) {
        return 0;
    }
    if ((r = lsh_buf_put(&c->in, data, take)) != 0) {
        return r;
    }
    c->bytes_in += take;
    *used = take;
    return 0;
}

int
lsh_conn_feed_space(lsh_conn *c, size_t n, uint8_t **p, size_t *room)
{
    *p = NULL;
    *room = 0;
    if (c->closed) {
        return 0;
    }
    return lsh_buf_space(&c->in, n, p, room);
}

void
lsh_conn_feed_commit(lsh_conn *c, size_t k)
{
    lsh_buf_commit(&c->in, k);
    c->bytes_in += k;
}

void
lsh_conn_feed_eof(lsh_conn *c)
{
    c->eof = 1;
}

void
lsh_conn_out(lsh_conn *c, const uint8_t **p, size_t *n)
{
    *p = lsh_buf_ptr(&c->out);
    *n = lsh_buf_len(&c->out);
}

void
lsh_conn_out_ack(lsh_conn *c, size_t n)
{
    if (n > lsh_buf_len(&c->out)) {
        n = lsh_buf_len(&c->out);
    }
    (void)lsh_buf_consume(&c->out, n);
    release_or_keep(c, &c->out); /* when everything went out */
    lsh__chan_on_drain(c);
}

/* Transport messages (RFC 4253 §11, RFC 8308, PROTOCOL ping) */

static void
sanitize(char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 && *s != '\t') {
            *s = '?';
        }
    }
}

static void
copy_text(char *dst, size_t room, const uint8_t *p, size_t n)
{
    if (n >= room) {
        n = room - 1;
    }
    memcpy(dst, p, n);
    dst[n] = '\0';
    sanitize(dst);
}

static int
on_disconnect(lsh_conn *c, lsh_rd *rd)
{
    uint32_t reason;
    const uint8_t *desc, *lang;
    size_t dlen, llen;
    char text[LSH_CONN_TEXT];
    if (lsh_rd_u32(rd, &reason) != 0 ||
        lsh_rd_string(rd, &desc, &dlen) != 0 ||
        lsh_rd_string(rd, &lang, &llen) != 0) {
        /* Some peers omit the language tag: take what is there. */
        desc = (const uint8_t *)"";
        dlen = 0;
    }
    copy_text(text, sizeof(text), desc, dlen);
    return lsh__conn_fail(c, LSH_EDISCONNECTED, reason,
                          "peer disconnected (reason %u): %s", reason, text);
}

static int
on_debug(lsh_conn *c, lsh_rd *rd)
{
    int display;
    const uint8_t *msg, *lang;
    size_t mlen, llen;
    char text[LSH_CONN_TEXT];
    lsh_event ev = {.type = LSH_EV_DEBUG};
    if (lsh_rd_bool(rd, &display) != 0 ||
        lsh_rd_string(rd, &msg, &mlen) != 0 ||
        lsh_rd_string(rd, &lang, &llen) != 0 || lsh_rd_end(rd) != 0) {
        return lsh__conn_fail(c, LSH_EBADPACKET,
                              LSH_DISCONNECT_PROTOCOL_ERROR,
                              "malformed SSH_MSG_DEBUG");
    }
    copy_text(text, sizeof(text), msg, mlen);
    ev.code = display;
    (void)lsh__conn_event(c, &ev, text);
    return 0;
}

static int
on_service_request(lsh_conn *c, lsh_rd *rd)
{
    const uint8_t *name;
    size_t n;
    uint8_t reply[64];
    lsh_buf b;
    lsh_event ev = {.type = LSH_EV_SERVICE_REQUEST};
    int r;
    if (lsh_rd_text(rd, &name, &n) != 0 || lsh_rd_end(rd) != 0) {
        return lsh__conn_fail(c, LSH_EBADPACKET,
                              LSH_DISCONNECT_PROTOCOL_ERROR,
                              "malformed SSH_MSG_SERVICE_REQUEST");
    }
    /* RFC 4253 §10: only ssh-userauth is offered before authentication
     * (the filter refuses SERVICE_REQUEST after it).  Asking again is
     * allowed: paramiko sends one before every authentication attempt,
     * and OpenSSH's sshd accepts each. */
    if (n != 12 || memcmp(name, "ssh-userauth", 12) != 0) {
        char svc[64];
        copy_text(svc, sizeof(svc), name, n);
        return lsh__conn_fail(c, LSH_EPROTOCOL,
                              LSH_DISCONNECT_SERVICE_NOT_AVAILABLE,
                              "service '%s' not available", svc);
    }
    c->service_accepted = 1;
    if (c->service != USERAUTH) {
        free((char *)c->service);
        c->service = USERAUTH;
    }
    lsh_buf_init(&b, sizeof(reply));
    if ((r = lsh_buf_put_u8(&b, LSH_MSG_SERVICE_ACCEPT)) != 0 ||
        (r = lsh_buf_put_cstring(&b, "ssh-userauth")) != 0 ||
        (r = lsh__conn_send_now(c, lsh_buf_ptr(&b), lsh_buf_len(&b))) != 0) {
        lsh_buf_free(&b);
        return lsh__conn_fail(c, r, LSH_DISCONNECT_PROTOCOL_ERROR,
                              "cannot send SERVICE_ACCEPT: %s",
                              lsh_strerror(r));
    }
    lsh_buf_free(&b);
    (void)lsh__conn_event(c, &ev, c->service);
    return 0;
}

static int
on_service_accept(lsh_conn *c, lsh_rd *rd)
{
    const uint8_t *name;
    size_t n;
    lsh_event ev = {.type = LSH_EV_SERVICE_ACCEPT};
    if (lsh_rd_text(rd, &name, &n) != 0 || lsh_rd_end(rd) != 0) {
        return lsh__conn_fail(c, LSH_EBADPACKET,
                              LSH_DISCONNECT_PROTOCOL_ERROR,
                              "malformed SSH_MSG_SERVICE_ACCEPT");
    }
    if (!c->service_requested || c->service_accepted ||
        n != strlen(c->service) || memcmp(name, c->service, n) != 0) {
        return lsh__conn_fail(c, LSH_EUNEXPECTED,
                              LSH_DISCONNECT_PROTOCOL_ERROR,
                              "unexpected SSH_MSG_SERVICE_ACCEPT");
    }
    c->service_accepted = 1;
    (void)lsh__conn_event(c, &ev, c->service);
    return lsh__auth_on_service_accept(c);
}

static int
on_ext_info(lsh_conn *c, lsh_rd *rd, int in_window)
{
    uint32_t count;
    lsh_event ev = {.type = LSH_EV_EXT_INFO};
    /* RFC 8308 §2.4: the server's EXT_INFO comes right after its first
     * NEWKEYS or before USERAUTH_SUCCESS; the client's only right after
     * its first NEWKEYS. */
    if (!in_window &&
        !(c->role == LSH_ROLE_CLIENT && !c->authenticated)) {
        return lsh__conn_fail(c, LSH_EUNEXPECTED,
                              LSH_DISCONNECT_PROTOCOL_ERROR,
                              "SSH_MSG_EXT_INFO out of place");
    }
    /* RFC 8308 §2.3; a count beyond any real use is refused outright
     * (the loop is also bounded by the bytes present). */
    if (lsh_rd_u32(rd, &count) != 0 || count > 1024) {
        goto bad;
    }
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *name, *value;
        size_t nl, vl;
        if (lsh_rd_text(rd, &name, &nl) != 0 ||
            lsh_rd_string(rd, &value, &vl) != 0) {
            goto bad;
        }
        if (nl == 15 && memcmp(name, "server-sig-algs", 15) == 0 &&
            c->role == LSH_ROLE_CLIENT) {
            if (lsh_namelist_check((const char *)value, vl) != 0) {
                goto bad;
            }
            free(c->server_sig_algs);
            c->server_sig_algs = malloc(vl + 1);
            if (c->server_sig_algs == NULL) {
                return lsh__conn_fail(c, LSH_ENOMEM, 0, "out of memory");
            }
            memcpy(c->server_sig_algs, value, vl);
            c->server_sig_algs[vl] = '\0';
        } else if (nl == 16 && memcmp(name, "ping@openssh.com", 16) == 0 &&
                   vl == 1 && value[0] == '0') {
            c->peer_ping = 1;
        }
    }
    if (lsh_rd_end(rd) != 0) {
        goto bad;
    }
    (void)lsh__conn_event(c, &ev, c->server_sig_algs);
    return 0;
bad:
    return lsh__conn_fail(c, LSH_EBADPACKET, LSH_DISCONNECT_PROTOCOL_ERROR,
                          "malformed SSH_MSG_EXT_INFO");
}

static int
on_ping(lsh_conn *c, const uint8_t *p, size_t n, lsh_rd *rd)
{
    const uint8_t *data;
    size_t len;
    if (lsh_rd_string(rd, &data, &len) != 0 || lsh_rd_end(rd) != 0) {
        return lsh__conn_fail(c, LSH_EBADPACKET,
                              LSH_DISCONNECT_PROTOCOL_ERROR,
                              "malformed ping message");
    }
    if (p[0] == LSH_MSG_PONG) {
        lsh_event ev = {.type = LSH_EV_PONG, .data = data, .len = len};
        return lsh__conn_emit(c, &ev, NULL, 0);
    }
    /* draft-miller-ssh-ping §4: no replies before authentication, none
     * during key exchange (dropping is allowed). */
    if (!c->authenticated || lsh__kex_in_progress(c)) {
        return 0;
    }
    lsh_buf_reset(&c->scratch);
    if (lsh_buf_put_u8(&c->scratch, LSH_MSG_PONG) != 0 ||
        lsh_buf_put_string(&c->scratch, data, len) != 0) {
        return 0;
    }
    (void)n;
    (void)lsh__conn_send_now(c, lsh_buf_ptr(&c->scratch),
                             lsh_buf_len(&c->scratch));
    return 0;
}

/* RFC 4253 §11.4.  A peer that refuses our KEXINIT (OpenSSH's sshd does
 * before authentication) would otherwise leave the exchange hanging. */
static int
on_unimplemented(lsh_conn *c, lsh_rd *rd)
{
    uint32_t seqnr;
    if (lsh_rd_u32(rd, &seqnr) != 0 || lsh_rd_end(rd) != 0) {
        return lsh__conn_fail(c, LSH_EBADPACKET,
                              LSH_DISCONNECT_PROTOCOL_ERROR,
                              "malformed SSH_MSG_UNIMPLEMENTED");
    }
    if (c->kex_sent && !c->peer_kexinit_seen && seqnr == c->kexinit_seqnr) {
        return lsh__conn_fail(c, LSH_EPROTOCOL,
                              LSH_DISCONNECT_PROTOCOL_ERROR,
                              "the peer refused a key re-exchange at this "
                              "point (before authentication)");
    }
    lsh__conn_log(c, LSH_LOG_DEBUG, "peer: message %u unimplemented",
                  seqnr);
    return 0;
}

static int
send_unimplemented(lsh_conn *c, uint32_t seqnr)
{
    uint8_t msg[5];
    msg[0] = LSH_MSG_UNIMPLEMENTED;
    lsh_poke_u32(msg + 1, seqnr);
    return lsh__conn_send_now(c, msg, sizeof(msg));
}

/*
 * Handles one decoded packet.  Returns 1 when it produced an event in
 * c->current (a message for the layers above), 0 otherwise, negative on
 * failure (already recorded).
 */
static int
dispatch(lsh_conn *c, const uint8_t *p, size_t n, uint32_t seqnr)
{
    lsh_rd rd;
    uint8_t type;
    int window = c->ext_info_window;
    enum filter_verdict v;

    c->ext_info_window = 0;
    if (n == 0) {
        return lsh__conn_fail(c, LSH_EBADPACKET,
                              LSH_DISCONNECT_PROTOCOL_ERROR,
                              "empty packet payload");
    }
    type = p[0];
    if (!c->first_kex_done && seqnr == UINT32_MAX) {
        /* draft-ietf-sshm-strict-kex §3.2: no wrap during the first kex. */
        return lsh__conn_fail(c, LSH_EPROTOCOL, LSH_DISCONNECT_PROTOCOL_ERROR,
                              "sequence number wrapped during the initial "
                              "key exchange");
    }
    if (!c->peer_kexinit_seen && !c->first_kex_done &&
        type != LSH_MSG_KEXINIT) {
        c->packets_before_kexinit++;
    }
    v = lsh__filter(c, type);
    if (v == FV_FATAL) {
        return lsh__conn_fail(c, LSH_EUNEXPECTED,
                              LSH_DISCONNECT_PROTOCOL_ERROR,
                              "message type %u not allowed %s", type,
                              c->first_kex_done
                                  ? (c->authenticated
                                         ? "after authentication"
                                         : (lsh__conn_phase(c) == PH_KEX
                                                ? "during key exchange"
                                                : "before authentication"))
                                  : "during the initial key exchange");
    }
    if (v == FV_UNIMPL) {
        lsh__conn_log(c, LSH_LOG_DEBUG, "unimplemented message type %u",
                      type);
        return send_unimplemented(c, seqnr) == 0 ? 0 : -1;
    }
    lsh_rd_init(&rd, p + 1, n - 1);
    switch (type) {
    case LSH_MSG_DISCONNECT:
        return on_disconnect(c, &rd);
    case LSH_MSG_IGNORE:
        return 0;
    case LSH_MSG_UNIMPLEMENTED:
        return on_unimplemented(c, &rd);
    case LSH_MSG_DEBUG:
        return on_debug(c, &rd);
    case LSH_MSG_SERVICE_REQUEST:
        return on_service_request(c, &rd);
    case LSH_MSG_SERVICE_ACCEPT:
        return on_service_accept(c, &rd);
    case LSH_MSG_EXT_INFO:
        return on_ext_info(c, &rd, window);
    case LSH_MSG_KEXINIT:
        return lsh__kex_on_kexinit(c, p, n);
    case LSH_MSG_NEWKEYS:
        return lsh__kex_on_newkeys(c, p, n);
    case LSH_MSG_PING:
    case LSH_MSG_PONG:
        return on_ping(c, p, n, &rd);
    default:
        break;
    }
    if (type >= 30 && type <= 49) {
        return lsh__kex_on_method(c, p, n);
    }
    if (type >= 50 && type <= 79) {
        return lsh__auth_on_message(c, p, n);
    }
    if (type >= 80 && type <= 127) {
        return lsh__chan_on_message(c, p, n);
    }
    /* An upper-layer message: hand it out. */
    {
        lsh_event ev = {.type = LSH_EV_MESSAGE, .data = p, .len = n};
        return lsh__conn_emit(c, &ev, NULL, 0);
    }
}

static int
decode_error(lsh_conn *c, int r)
{
    uint32_t reason = r == LSH_EBADMAC       ? LSH_DISCONNECT_MAC_ERROR
                      : r == LSH_ECOMPRESSION ? LSH_DISCONNECT_COMPRESSION_ERROR
                                              : LSH_DISCONNECT_PROTOCOL_ERROR;
    return lsh__conn_fail(c, r, reason, "bad packet from peer: %s",
                          lsh_strerror(r));
}

/* The peer's identification string arrived: keep only what it needs. */
static void
trim_peer_version(lsh_conn *c)
{
    char *t = realloc(c->peer_version, strlen(c->peer_version) + 1);
    if (t != NULL) {
        c->peer_version = t;
    }
}

/* Decodes and dispatches packets until one yields an event. */
static int
process_input(lsh_conn *c)
{
    while (!c->closed && c->step != KS_WAIT_VERDICT) {
        uint32_t seqnr;
        int r;
        if (!c->version_done) {
            r = lsh__version_process(c);
            if (r != 0 || !c->version_done) {
                break;
            }
            trim_peer_version(c);
        }
        payload_done(c);
        seqnr = c->rx.seqnr;
        r = lsh_pkt_decode(&c->rx, &c->in, &c->payload);
        if (r == LSH_EAGAIN) {
            break;
        }
        if (r != 0) {
            decode_error(c, r);
            break;
        }
        r = dispatch(c, lsh_buf_ptr(&c->payload), lsh_buf_len(&c->payload),
                     seqnr);
        if (r == 0 && !c->closed) {
            lsh__kex_maybe_rekey(c);
        }
        if (r == 1 || c->evcount > 0) {
            return r == 1;
        }
    }
    if (c->eof && !c->closed && c->evcount == 0 &&
        c->step != KS_WAIT_VERDICT) {
        lsh__conn_fail(c, LSH_ECLOSED, 0, "connection closed by peer");
    }
    return 0;
}

/*
 * Nothing more to hand out: no event refers to `payload` any longer, and
 * whatever input was complete has been decoded.  Buffers that hold no
 * bytes give their storage back (release_or_keep), so that an idle
 * connection keeps only what it needs to remember.
 */
static void
release_idle(lsh_conn *c)
{
    release_or_keep(c, &c->in);
    payload_done(c);
    release_or_keep(c, &c->payload);
    if (c->scratch.data != NULL) {
        lsh_buf_free(&c->scratch); /* may hold the last ping's bytes */
    }
}

static int
hand_out(lsh_conn *c, lsh_event *ev)
{
    *ev = c->current.ev;
    ev->text = c->current.text != NULL ? c->current.text : "";
    return 1;
}

int
lsh_conn_next_event(lsh_conn *c, lsh_event *ev)
{
    /* The text of the last event was valid until this call. */
    slot_clear(&c->current);
    if (c->evcount == 0 && process_input(c) == 1) {
        /* An event straight from the packet just decoded. */
        if (c->evcount == 0) {
            return hand_out(c, ev);
        }
        /* Keep order: the queued events came first.  Park the message
         * (the ring takes its text over). */
        (void)ring_push(c, &c->current.ev, c->current.text,
                        c->current.owned);
        c->current.text = NULL;
        c->current.owned = 0;
    }
    if (c->evcount == 0) {
        if (c->closed_spill) {
            /* The CLOSED event that found no slot (out of memory). */
            lsh_event closed = {.type = LSH_EV_CLOSED, .code = c->err,
                                .reason = c->spill_reason};
            c->closed_spill = 0;
            c->current.ev = closed;
            c->current.text =
                c->detail ? c->detail : (char *)lsh_strerror(c->err);
            return hand_out(c, ev);
        }
        release_idle(c);
        return 0;
    }
    ring_pop(c);
    return hand_out(c, ev);
}

/* Timers */

uint64_t
lsh_conn_next_deadline(const lsh_conn *c)
{
    uint64_t d = UINT64_MAX;
    if (c->closed) {
        return d;
    }
    if (!c->authenticated) {
        d = c->login_deadline;
    }
    if (c->first_kex_done) {
        uint64_t k = lsh__kex_rekey_deadline(c);
        if (k < d) {
            d = k;
        }
    }
    if (c->trim_at != 0 && c->trim_at < d) {
        d = c->trim_at;
    }
    return d;
}

void
lsh_conn_tick(lsh_conn *c)
{
    if (c->closed) {
        return;
    }
    if (!c->authenticated && lsh__conn_now(c) >= c->login_deadline) {
        lsh__conn_fail(c, LSH_ETIMEOUT, LSH_DISCONNECT_BY_APPLICATION,
                       "login timeout: the peer did not authenticate within "
                       "%llu seconds",
                       (unsigned long long)(c->cfg.login_timeout_ms / 1000));
        return;
    }
    if (c->trim_at != 0 && lsh__conn_now(c) >= c->trim_at) {
        trim_idle(c);
    }
    lsh__kex_maybe_rekey(c);
}

/* Sending for the layers above */

/*
 * The server's USERAUTH_SUCCESS turns delayed compression on for both
 * directions (draft-miller-secsh-compression-delayed §3), so it must not
 * go out while the client may still send key exchange packets, which it
 * sends uncompressed until it sees SUCCESS: during an exchange it waits
 * in `held` until kex_complete flushes it.
 */
static int
success_must_wait(const lsh_conn *c, const uint8_t *payload)
{
    return c->role == LSH_ROLE_SERVER &&
           payload[0] == LSH_MSG_USERAUTH_SUCCESS && lsh__kex_in_progress(c);
}

void
lsh__conn_flush_held(lsh_conn *c)
{
    lsh_rd rd;
    lsh_rd_init(&rd, lsh_buf_ptr(&c->held), lsh_buf_len(&c->held));
    while (lsh_rd_remaining(&rd) > 0 && !c->closed) {
        const uint8_t *p;
        size_t n, at = rd.pos;
        int r;
        if (lsh_rd_string_max(&rd, LSH_PKT_MAX, &p, &n) != 0) {
            break;
        }
        if (success_must_wait(c, p)) {
            /* Keep SUCCESS and what follows for kex_complete's flush. */
            (void)lsh_buf_consume(&c->held, at);
            return;
        }
        if ((r = lsh__conn_send_now(c, p, n)) != 0) {
            lsh__conn_fail(c, r, LSH_DISCONNECT_PROTOCOL_ERROR,
                           "cannot send: %s", lsh_strerror(r));
        } else if (c->role == LSH_ROLE_SERVER &&
                   p[0] == LSH_MSG_USERAUTH_SUCCESS) {
            /* A SUCCESS held back by a key exchange (auth/server.c):
             * delayed compression starts right after it. */
            lsh_conn_set_authenticated(c);
        }
    }
    lsh_buf_free(&c->held); /* zeroed: it held messages of the layers */
}

static int
sending_blocked(const lsh_conn *c)
{
    /* RFC 4253 §7.1: after our KEXINIT, only kex messages until NEWKEYS.
     * Held messages keep their order: later ones queue behind them. */
    return (c->kex_sent && !c->newkeys_sent) || lsh_buf_len(&c->held) > 0;
}

int
lsh_conn_send(lsh_conn *c, const uint8_t *payload, size_t n)
{
    return lsh__conn_send2(c, payload, n, NULL, 0);
}

/* Appends one held message, hdr || data as one string, or nothing. */
static int
hold(lsh_conn *c, const uint8_t *hdr, size_t hn, const uint8_t *data,
     size_t dn)
{
    size_t before = lsh_buf_len(&c->held);
    if (lsh_buf_put_u32(&c->held, (uint32_t)(hn + dn)) != 0 ||
        lsh_buf_put(&c->held, hdr, hn) != 0 ||
        (dn > 0 && lsh_buf_put(&c->held, data, dn) != 0)) {
        /* held is a secret buffer: truncate zeroes what it drops. */
        (void)lsh_buf_truncate(&c->held, lsh_buf_len(&c->held) - before);
        return LSH_EAGAIN;
    }
    return 0;
}

int
lsh__conn_send2(lsh_conn *c, const uint8_t *hdr, size_t hn,
                const uint8_t *data, size_t dn)
{
    int r;
    if (c->closed) {
        return c->err ? c->err : LSH_ECLOSED;
    }
    if (hn == 0 || hdr == NULL || (dn > 0 && data == NULL) ||
        dn > LSH_PKT_MAX || hn + dn > LSH_PKT_MAX - 1024) {
        return LSH_EINVAL;
    }
    if (sending_blocked(c) || !c->first_kex_done ||
        success_must_wait(c, hdr)) {
        /* Held in order (RFC 4253 §7.1), copied as one message. */
        return hold(c, hdr, hn, data, dn);
    }
    if ((r = lsh__conn_send_now2(c, hdr, hn, data, dn)) != 0) {
        return lsh__conn_fail(c, r, LSH_DISCONNECT_PROTOCOL_ERROR,
                              "cannot send: %s", lsh_strerror(r));
    }
    lsh__kex_maybe_rekey(c);
    return 0;
}

int
lsh_conn_can_send(const lsh_conn *c)
{
    if (c->closed) {
        return 0;
    }
    if (sending_blocked(c) || !c->first_kex_done) {
        return lsh_buf_len(&c->held) < LSH_CONN_HELD_MAX / 2;
    }
    return 1;
}

int
lsh_conn_request_service(lsh_conn *c, const char *name)
{
    uint8_t tmp[128];
    lsh_buf b;
    int r;
    if (c->role != LSH_ROLE_CLIENT || c->service_requested ||
        strlen(name) > LSH_CONN_SERVICE_MAX) {
        return LSH_EINVAL;
    }
    if (strcmp(name, USERAUTH) == 0) {
        c->service = USERAUTH;
    } else if ((c->service = strdup(name)) == NULL) {
        return LSH_ENOMEM;
    }
    c->service_requested = 1;
    lsh_buf_init(&b, sizeof(tmp));
    r = lsh_buf_put_u8(&b, LSH_MSG_SERVICE_REQUEST);
    if (r == 0) {
        r = lsh_buf_put_cstring(&b, name);
    }
    if (r == 0) {
        r = lsh_conn_send(c, lsh_buf_ptr(&b), lsh_buf_len(&b));
    }
    lsh_buf_free(&b);
    return r;
}

int
lsh_conn_rekey(lsh_conn *c)
{
    if (c->closed) {
        return c->err;
    }
    if (!c->first_kex_done) {
        return LSH_ESTATE;
    }
    return lsh__kex_start(c);
}

int
lsh_conn_send_ignore(lsh_conn *c, size_t n)
{
    uint8_t *p;
    int r;
    if (n > 65536) {
        return LSH_EINVAL;
    }
    lsh_buf_reset(&c->scratch);
    if ((r = lsh_buf_put_u8(&c->scratch, LSH_MSG_IGNORE)) != 0 ||
        (r = lsh_buf_put_u32(&c->scratch, (uint32_t)n)) != 0 ||
        (r = lsh_buf_append_space(&c->scratch, n, &p)) != 0) {
        return r;
    }
    if (n > 0 && c->cfg.rng(c->cfg.rng_ctx, p, n) != 0) {
        return LSH_ECRYPTO;
    }
    return lsh_conn_send(c, lsh_buf_ptr(&c->scratch),
                         lsh_buf_len(&c->scratch));
}

int
lsh_conn_ping(lsh_conn *c, const uint8_t *data, size_t n)
{
    int r;
    if (!c->peer_ping) {
        return LSH_EUNSUPPORTED;
    }
    lsh_buf_reset(&c->scratch);
    if ((r = lsh_buf_put_u8(&c->scratch, LSH_MSG_PING)) != 0 ||
        (r = lsh_buf_put_string(&c->scratch, data, n)) != 0) {
        return r;
    }
    return lsh_conn_send(c, lsh_buf_ptr(&c->scratch),
                         lsh_buf_len(&c->scratch));
}

void
lsh_conn_disconnect(lsh_conn *c, uint32_t reason, const char *text)
{
    lsh__conn_fail(c, LSH_ECLOSED, reason ? reason : 11, "%s",
                   text ? text : "disconnected by application");
}

int
lsh_conn_hostkey_verdict(lsh_conn *c, int accept, const char *why)
{
    if (c->closed) {
        return c->err;
    }
    if (c->step != KS_WAIT_VERDICT) {
        return LSH_ESTATE;
    }
    return lsh__kex_verdict(c, accept, why);
}

void
lsh_conn_set_authenticated(lsh_conn *c)
{
    if (c->authenticated) {
        return;
    }
    c->authenticated = 1;
    (void)lsh_pkt_dir_enable_delayed_compression(&c->tx);
    (void)lsh_pkt_dir_enable_delayed_compression(&c->rx);
}

int
lsh_conn_last_error(const lsh_conn *c, const char **detail)
{
    if (detail != NULL) {
        *detail = c->detail != NULL ? c->detail
                  : c->err != 0     ? lsh_strerror(c->err)
                                    : "";
    }
    return c->err;
}

const char *
lsh_conn_info(const lsh_conn *c, enum lsh_conn_info what)
{
    const conn_neg *n = &c->neg;
    int ok = c->first_kex_done;
    switch (what) {
    case LSH_INFO_KEX: return ok ? n->kex : NULL;
    case LSH_INFO_HOSTKEY: return ok ? n->hostkey : NULL;
    case LSH_INFO_CIPHER_C2S: return ok ? n->cipher_c2s : NULL;
    case LSH_INFO_CIPHER_S2C: return ok ? n->cipher_s2c : NULL;
    case LSH_INFO_MAC_C2S: return ok ? n->mac_c2s : NULL;
    case LSH_INFO_MAC_S2C: return ok ? n->mac_s2c : NULL;
    case LSH_INFO_COMP_C2S: return ok ? n->comp_c2s : NULL;
    case LSH_INFO_COMP_S2C: return ok ? n->comp_s2c : NULL;
    case LSH_INFO_PEER_VERSION:
        return c->version_done ? c->peer_version : NULL;
    case LSH_INFO_OUR_VERSION: return c->our_version;
    case LSH_INFO_SERVER_SIG_ALGS: return c->server_sig_algs;
    }
    return NULL;
}

const uint8_t *
lsh_conn_session_id(const lsh_conn *c, size_t *len)
{
    *len = c->sid_len;
    return c->sid_len ? c->session_id : NULL;
}

void
lsh_conn_get_stats(const lsh_conn *c, lsh_conn_stats *st)
{
    st->kex_count = c->kex_count;
    st->bytes_in = c->bytes_in;
    st->bytes_out = c->bytes_out;
    st->strict_kex = c->strict;
}
