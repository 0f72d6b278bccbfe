/*
 * The incoming-message filter: one table, keyed by (role, phase), that
 * says for every message number whether it may arrive now.  It runs in
 * front of every handler (DESIGN.md "Wire data"; reliability-plan.md P-1
 * to P-6).  Handlers then check the finer sequence (the kex method's next
 * step, SERVICE_ACCEPT only after a request, ...).
 *
 * Phases:
 *   PH_FIRST_KEX  before the peer's first NEWKEYS.  Only KEXINIT, the kex
 *                 method messages, NEWKEYS and the transport generics
 *                 (DISCONNECT, IGNORE, UNIMPLEMENTED, DEBUG) may arrive;
 *                 under strict kex (draft-ietf-sshm-strict-kex §3.1) only
 *                 KEXINIT, kex method messages, NEWKEYS and DISCONNECT.
 *                 Anything else is fatal, not UNIMPLEMENTED.
 *   PH_KEX        a re-exchange, between the peer's KEXINIT and NEWKEYS:
 *                 RFC 4253 §7.1 lets it send only transport messages.
 *   PH_PREAUTH    after the first kex, before authentication: no
 *                 connection-protocol message (RFC 4252 §6, P-1), and
 *                 only the userauth messages of our role's peer.
 *   PH_AUTHED     after authentication.
 */
#include "ssh/conn_internal.h"

typedef uint8_t verdict_table[2][PH_COUNT][256];

static verdict_table table;
static int table_ready;

static void
set_range(uint8_t *row, unsigned lo, unsigned hi, uint8_t v)
{
    for (unsigned i = lo; i <= hi; i++) {
        row[i] = v;
    }
}

/* Transport generics and the messages valid in every settled phase. */
static void
common_settled(uint8_t *row)
{
    /* Unknown numbers get UNIMPLEMENTED (RFC 4253 §11.4). */
    set_range(row, 0, 255, FV_UNIMPL);
    set_range(row, 1, 4, FV_ALLOW);
    row[LSH_MSG_EXT_INFO] = FV_ALLOW; /* placement checked by its handler */
    row[LSH_MSG_KEXINIT] = FV_ALLOW;
    row[LSH_MSG_NEWKEYS] = FV_FATAL;
    set_range(row, 30, 49, FV_FATAL);
    /* Userauth and connection numbers are fatal unless allowed below. */
    set_range(row, 50, 127, FV_FATAL);
    row[LSH_MSG_PING] = FV_ALLOW;
    row[LSH_MSG_PONG] = FV_ALLOW;
}

static void
build(void)
{
    for (int role = 0; role < 2; role++) {
        uint8_t *first = table[role][PH_FIRST_KEX];
        uint8_t *kex = table[role][PH_KEX];
        uint8_t *pre = table[role][PH_PREAUTH];
        uint8_t *authed = table[role][PH_AUTHED];

        set_range(first, 0, 255, FV_FATAL);
        set_range(first, 1, 4, FV_ALLOW);
        first[LSH_MSG_KEXINIT] = FV_ALLOW;
        first[LSH_MSG_NEWKEYS] = FV_ALLOW;
        set_range(first, 30, 49, FV_ALLOW);

        set_range(kex, 0, 255, FV_FATAL);
        set_range(kex, 1, 4, FV_ALLOW);
        kex[LSH_MSG_NEWKEYS] = FV_ALLOW;
        set_range(kex, 30, 49, FV_ALLOW);
        /* draft-miller-ssh-ping §4 allows pings during key exchange. */
        kex[LSH_MSG_PING] = FV_ALLOW;
        kex[LSH_MSG_PONG] = FV_ALLOW;

        common_settled(pre);
        common_settled(authed);
        if (role == LSH_ROLE_SERVER) {
            pre[LSH_MSG_SERVICE_REQUEST] = FV_ALLOW;
            pre[LSH_MSG_SERVICE_ACCEPT] = FV_FATAL;
            pre[LSH_MSG_USERAUTH_REQUEST] = FV_ALLOW;
            set_range(pre, 60, 79, FV_ALLOW);
            /* RFC 4252 §5.1: later requests are ignored, not fatal; the
             * auth layer drops them. */
            authed[LSH_MSG_SERVICE_REQUEST] = FV_FATAL;
            authed[LSH_MSG_SERVICE_ACCEPT] = FV_FATAL;
            authed[LSH_MSG_USERAUTH_REQUEST] = FV_ALLOW;
        } else {
            pre[LSH_MSG_SERVICE_REQUEST] = FV_FATAL;
            pre[LSH_MSG_SERVICE_ACCEPT] = FV_ALLOW;
            set_range(pre, 51, 53, FV_ALLOW);
            set_range(pre, 60, 79, FV_ALLOW);
            authed[LSH_MSG_SERVICE_REQUEST] = FV_FATAL;
            authed[LSH_MSG_SERVICE_ACCEPT] = FV_FATAL;
            /* A late banner is harmless. */
            authed[LSH_MSG_USERAUTH_BANNER] = FV_ALLOW;
        }
        set_range(authed, 80, 127, FV_ALLOW);
    }
    table_ready = 1;
}

enum conn_phase
lsh__conn_phase(const lsh_conn *c)
{
    if (!c->first_kex_done) {
        return PH_FIRST_KEX;
    }
    if (c->peer_kexinit_seen && !c->newkeys_received) {
        return PH_KEX;
    }
    return c->authenticated ? PH_AUTHED : PH_PREAUTH;
}

enum filter_verdict
lsh__filter(const lsh_conn *c, uint8_t type)
{
    enum conn_phase ph;
    if (!table_ready) {
        build();
    }
    ph = lsh__conn_phase(c);
    /* Strict kex: during the initial exchange nothing but the exchange
     * itself (and DISCONNECT) may arrive; sequence numbers are not
     * trusted to detect injected IGNOREs. */
    if (ph == PH_FIRST_KEX && c->strict && type >= 2 && type <= 4) {
        return FV_FATAL;
    }
    return (enum filter_verdict)table[c->role][ph][type];
}
