/*
 * SFTP v3 client state machine (draft-ietf-secsh-filexfer-02 §3-§7,
 * OpenSSH PROTOCOL §4) and pipelined transfers.
 *
 * IMPLEMENTATION NOTES
 *
 * Request ids.  A request in flight owns a slot; its id is the slot index
 * in the low 16 bits and a per-slot generation above, so a reply finds
 * its slot without a search and a stale or forged id is recognised
 * (draft-02 §6.1 lets the client choose ids freely).  The slot is freed
 * before its callback runs, so a callback may send new requests (which
 * may grow the slot array) without invalidating anything.  A forgotten
 * request keeps its slot, with no callback, until its reply comes.
 *
 * Transfers.  A transfer keeps up to max_requests READs (GET, COPY) or
 * WRITEs (PUT, COPY) in flight.  Replies may come in any order (draft-02
 * §6.1).  A short DATA asks again for the rest of its range; STATUS EOF
 * for a READ at offset o makes o the end.  With a size hint the reads
 * stop one request past it (which sees the EOF), so a small file costs
 * one round trip; data past the hint lifts the limit.  A PUT reads its
 * block from the local side straight into the output buffer.  With
 * `sparse`, blocks of zeros are not written, and the file is extended at
 * the end when its last bytes were skipped (FSETSTAT size remotely; the
 * caller for GET).
 *
 * Write window.  On top of max_requests, the client may cap the WRITE
 * bytes of all transfers in flight (lsh_sftp_client_set_write_window),
 * fixed or following the WRITEs' round trip (TCP Vegas: Brakmo and
 * Peterson, "TCP Vegas: End to End Congestion Avoidance on a Global
 * Internet", IEEE JSAC 13(8), 1995): the window grows while the round
 * trip stays near the shortest seen and shrinks when requests start to
 * queue at the server.  A transfer with nothing in flight may always
 * send, and only its own replies resume a transfer held by the window
 * (or lsh_sftp_client_kick), so nothing waits for another transfer.
 *
 * Streamed DATA.  A GET's DATA reply is not waited for whole: once its
 * 13-byte header (length, type, id, data length) is in, its bytes go to
 * the transfer's write_at as they arrive, each piece at its offset, and
 * the reply's accounting (the READ's slot, a short read's tail, the next
 * READ) runs at its last byte.  So the caller need not buffer a reply
 * of up to 256 KiB before it can be handled: it can feed straight from
 * the decrypted SSH message.  Only a DATA that decodes as the complete
 * packet would (its length exactly covers the data, no more data than
 * was asked for) is streamed; anything else takes the whole-packet path
 * and its errors.  The READ's slot stays taken until the last byte, so
 * a transfer stopped or freed meanwhile (its slot forgotten) or a
 * session failure (its slot released) drops the rest unseen.
 */
#include "ssh/sftp/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOT_BITS 16
#define SLOT_MASK ((1u << SLOT_BITS) - 1)
#define NO_SLOT UINT32_MAX
#define N_EXT 16

typedef struct slot {
    uint32_t id;
    uint8_t used;
    uint8_t forgotten;
    uint8_t req_type;
    uint8_t req_ext;
    uint32_t next_free;
    lsh_sftp_reply_cb cb;
    void *ctx;
    uint64_t arg;
    uint32_t arg2;
    uint64_t sent_us;
} slot;

struct lsh_sftp_client {
    int state;
    int err;
    const char *detail;
    uint32_t version;
    lsh_buf out;
    slot *slots;
    uint32_t nslots;
    uint32_t free_head;
    uint32_t pending;
    struct lsh_sftp_xfer *xfers; /* live transfers (lsh_sftp_client_kick) */
    uint64_t wr_limit;    /* the write window now, 0: none */
    uint64_t wr_max, wr_min;
    uint64_t wr_inflight; /* transfers' WRITE payload bytes in flight */
    uint64_t min_rtt;     /* shortest WRITE round trip seen (us), 0: none */
    uint64_t (*now_us)(void *ctx);
    void *now_ctx;
    struct {
        uint32_t id;    /* the READ being answered */
        uint32_t left;  /* its DATA bytes still to come; 0: none */
        uint32_t n;     /* its DATA length */
        uint64_t off;   /* where the next byte goes (relative) */
        int drop;       /* the transfer does not want them */
    } st;
    uint8_t *exts;      /* VERSION's extension pairs, copied */
    size_t exts_len;
    struct {
        uint8_t offered;
        size_t off, len; /* the data string within exts */
    } known[N_EXT];
};

/* Setup */

int
lsh_sftp_client_new(lsh_sftp_client **out)
{
    lsh_sftp_client *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return LSH_ENOMEM;
    }
    /* Room for max_requests blocks of a PUT and then some.  Bulk: a PUT's
     * file data is not zeroed as it is sent, only when the storage goes
     * (the buffer holds no key material: requests and file contents). */
    lsh_buf_init(&c->out, (size_t)256 * 1024 * 1024);
    lsh_buf_set_bulk(&c->out, 1);
    c->free_head = NO_SLOT;
    *out = c;
    return 0;
}

void
lsh_sftp_client_free(lsh_sftp_client *c)
{
    if (c == NULL) {
        return;
    }
    lsh_buf_free(&c->out);
    free(c->slots);
    free(c->exts);
    free(c);
}

int
lsh_sftp_client_state(const lsh_sftp_client *c)
{
    return c->state;
}

uint32_t
lsh_sftp_client_version(const lsh_sftp_client *c)
{
    return c->version;
}

int
lsh_sftp_client_error(const lsh_sftp_client *c, const char **detail)
{
    if (detail != NULL) {
        *detail = c->detail != NULL ? c->detail : "";
    }
    return c->err;
}

size_t
lsh_sftp_client_pending(const lsh_sftp_client *c)
{
    return c->pending;
}

void
lsh_sftp_client_out(const lsh_sftp_client *c, const uint8_t **p, size_t *n)
{
    *p = lsh_buf_ptr(&c->out);
    *n = lsh_buf_len(&c->out);
}

void
lsh_sftp_client_out_ack(lsh_sftp_client *c, size_t n)
{
    size_t have = lsh_buf_len(&c->out);
    (void)lsh_buf_consume(&c->out, n < have ? n : have);
}

/* draft-02 §4: INIT carries only the version (no extension pairs). */
int
lsh_sftp_client_start(lsh_sftp_client *c, uint32_t version)
{
    lsh_sftp_request q;
    int r;
    if (c->state != LSH_SFTP_CLIENT_NEW) {
        return LSH_ESTATE;
    }
    if (version != LSH_SFTP_VERSION) {
        return LSH_EUNSUPPORTED;
    }
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_INIT;
    q.id = version;
    if ((r = lsh_sftp_request_put(&c->out, &q)) != 0) {
        return r;
    }
    c->state = LSH_SFTP_CLIENT_INIT;
    return 0;
}

/* Extensions (draft-02 §4, OpenSSH PROTOCOL §4) */

int
lsh_sftp_client_has_ext(const lsh_sftp_client *c, lsh_sftp_ext e,
                        const uint8_t **data, size_t *len)
{
    if ((unsigned)e == 0 || (unsigned)e >= N_EXT || !c->known[e].offered) {
        return 0;
    }
    if (data != NULL) {
        *data = c->exts + c->known[e].off;
    }
    if (len != NULL) {
        *len = c->known[e].len;
    }
    return 1;
}

int
lsh_sftp_client_ext_next(const lsh_sftp_client *c, size_t *i,
                         lsh_sftp_str *name, lsh_sftp_str *data)
{
    lsh_rd rd;
    if (c->exts == NULL || *i >= c->exts_len) {
        return 0;
    }
    lsh_rd_init(&rd, c->exts, c->exts_len);
    rd.pos = *i;
    /* Validated when the VERSION was read. */
    if (lsh_rd_string(&rd, &name->p, &name->n) != 0 ||
        lsh_rd_string(&rd, &data->p, &data->n) != 0) {
        return 0;
    }
    *i = rd.pos;
    return 1;
}

/* Failure and slots */

static void
set_failed(lsh_sftp_client *c, int err, const char *detail)
{
    if (c->state == LSH_SFTP_CLIENT_FAILED) {
        return;
    }
    c->state = LSH_SFTP_CLIENT_FAILED;
    c->err = err;
    c->detail = detail;
    c->st.left = 0;
}

static void
slot_release(lsh_sftp_client *c, uint32_t idx)
{
    slot *s = &c->slots[idx];
    s->used = 0;
    s->forgotten = 0;
    s->cb = NULL;
    s->ctx = NULL;
    s->next_free = c->free_head;
    c->free_head = idx;
    c->pending--;
}

/* Takes a free slot (growing the array) and gives it its next id. */
static int
slot_alloc(lsh_sftp_client *c, uint32_t *idx_out)
{
    uint32_t idx;
    slot *s;
    if (c->pending >= LSH_SFTP_CLIENT_MAX_PENDING) {
        return LSH_EAGAIN;
    }
    if (c->free_head == NO_SLOT) {
        uint32_t n = c->nslots ? c->nslots * 2 : 64;
        slot *ns;
        if (n > LSH_SFTP_CLIENT_MAX_PENDING) {
            n = LSH_SFTP_CLIENT_MAX_PENDING;
        }
        if (n <= c->nslots) {
            return LSH_EAGAIN;
        }
        ns = realloc(c->slots, (size_t)n * sizeof(*ns));
        if (ns == NULL) {
            return LSH_ENOMEM;
        }
        memset(ns + c->nslots, 0, (size_t)(n - c->nslots) * sizeof(*ns));
        for (uint32_t i = n; i-- > c->nslots;) {
            ns[i].id = i;
            ns[i].next_free = c->free_head;
            c->free_head = i;
        }
        c->slots = ns;
        c->nslots = n;
    }
    idx = c->free_head;
    s = &c->slots[idx];
    c->free_head = s->next_free;
    s->used = 1;
    s->forgotten = 0;
    /* Next generation of this slot. */
    s->id = (((s->id >> SLOT_BITS) + 1) << SLOT_BITS) | idx;
    c->pending++;
    *idx_out = idx;
    return 0;
}

static void
slot_commit(lsh_sftp_client *c, uint32_t idx, uint8_t type, uint8_t ext,
            lsh_sftp_reply_cb cb, void *ctx, uint64_t arg, uint32_t arg2)
{
    slot *s = &c->slots[idx];
    s->req_type = type;
    s->req_ext = ext;
    s->cb = cb;
    s->ctx = ctx;
    s->arg = arg;
    s->arg2 = arg2;
    s->sent_us = 0;
}

int
lsh_sftp_client_send(lsh_sftp_client *c, const lsh_sftp_request *req,
                     lsh_sftp_reply_cb cb, void *ctx, uint64_t arg,
                     uint32_t arg2, uint32_t *id)
{
    lsh_sftp_request q;
    uint32_t idx;
    int r;
    if (c->state != LSH_SFTP_CLIENT_READY) {
        return LSH_ESTATE;
    }
    if (req->type == LSH_SFTP_INIT || cb == NULL) {
        return LSH_EINVAL;
    }
    if ((r = slot_alloc(c, &idx)) != 0) {
        return r;
    }
    q = *req;
    q.id = c->slots[idx].id;
    if ((r = lsh_sftp_request_put(&c->out, &q)) != 0) {
        slot_release(c, idx);
        return r;
    }
    slot_commit(c, idx, q.type, (uint8_t)q.ext, cb, ctx, arg, arg2);
    if (id != NULL) {
        *id = q.id;
    }
    return 0;
}

static slot *
slot_of(lsh_sftp_client *c, uint32_t id)
{
    uint32_t idx = id & SLOT_MASK;
    if (idx >= c->nslots || !c->slots[idx].used || c->slots[idx].id != id) {
        return NULL;
    }
    return &c->slots[idx];
}

void
lsh_sftp_client_cancel(lsh_sftp_client *c, uint32_t id)
{
    slot *s = slot_of(c, id);
    if (s != NULL) {
        s->forgotten = 1;
        s->cb = NULL;
        s->ctx = NULL;
    }
}

void
lsh_sftp_client_forget_ctx(lsh_sftp_client *c, const void *ctx)
{
    for (uint32_t i = 0; i < c->nslots; i++) {
        slot *s = &c->slots[i];
        if (s->used && !s->forgotten && s->ctx == ctx) {
            s->forgotten = 1;
            s->cb = NULL;
            s->ctx = NULL;
        }
    }
}

/* Calls back every pending request with err.  Callbacks may forget or
 * (uselessly: the state is FAILED) send. */
static void
fail_pending(lsh_sftp_client *c, int err)
{
    for (uint32_t i = 0; i < c->nslots; i++) {
        slot *s = &c->slots[i];
        lsh_sftp_reply rep;
        lsh_sftp_reply_cb cb;
        void *ctx;
        if (!s->used) {
            continue;
        }
        memset(&rep, 0, sizeof(rep));
        rep.err = err;
        rep.id = s->id;
        rep.req_type = s->req_type;
        rep.req_ext = (lsh_sftp_ext)s->req_ext;
        rep.arg = s->arg;
        rep.arg2 = s->arg2;
        cb = s->forgotten ? NULL : s->cb;
        ctx = s->ctx;
        slot_release(c, i);
        if (cb != NULL) {
            cb(ctx, &rep);
        }
    }
}

void
lsh_sftp_client_abort(lsh_sftp_client *c, int err)
{
    set_failed(c, err != 0 ? err : LSH_ECLOSED, "the SFTP session ended");
    fail_pending(c, c->err);
}

/* Receiving */

/* The reply type that answers a request, besides STATUS (draft-02 §7;
 * PROTOCOL §4.4, §4.8, §4.9, §4.11, §4.12).  0: STATUS only. */
static uint8_t
expected_reply(uint8_t type, uint8_t ext)
{
    switch (type) {
    case LSH_SFTP_OPEN:
    case LSH_SFTP_OPENDIR:
        return LSH_SFTP_HANDLE;
    case LSH_SFTP_READ:
        return LSH_SFTP_DATA;
    case LSH_SFTP_READDIR:
    case LSH_SFTP_REALPATH:
    case LSH_SFTP_READLINK:
        return LSH_SFTP_NAME;
    case LSH_SFTP_LSTAT:
    case LSH_SFTP_FSTAT:
    case LSH_SFTP_STAT:
        return LSH_SFTP_ATTRS;
    case LSH_SFTP_EXTENDED:
        switch ((lsh_sftp_ext)ext) {
        case LSH_SFTP_EXT_STATVFS:
        case LSH_SFTP_EXT_FSTATVFS:
        case LSH_SFTP_EXT_LIMITS:
        case LSH_SFTP_EXT_USERS_GROUPS:
            return LSH_SFTP_EXTENDED_REPLY;
        case LSH_SFTP_EXT_EXPAND_PATH:
        case LSH_SFTP_EXT_HOME_DIRECTORY:
            return LSH_SFTP_NAME;
        default:
            return 0;
        }
    default:
        return 0;
    }
}

/* Keeps the VERSION's extension pairs and notes the known ones. */
static int
take_version(lsh_sftp_client *c, const lsh_sftp_response *v)
{
    lsh_rd rd;
    int r;
    if (v->id < LSH_SFTP_VERSION) {
        set_failed(c, LSH_EUNSUPPORTED, "the server speaks an SFTP version "
                                        "older than 3");
        return c->err;
    }
    /* The lower of the two versions is used (draft-02 §4). */
    c->version = LSH_SFTP_VERSION;
    if (v->ext_data.n > 0) {
        if ((c->exts = malloc(v->ext_data.n)) == NULL) {
            set_failed(c, LSH_ENOMEM, "out of memory");
            return c->err;
        }
        memcpy(c->exts, v->ext_data.p, v->ext_data.n);
        c->exts_len = v->ext_data.n;
    }
    lsh_rd_init(&rd, c->exts, c->exts_len);
    while (lsh_rd_remaining(&rd) > 0) {
        const uint8_t *name, *data;
        size_t nl, dl;
        lsh_sftp_ext e;
        if ((r = lsh_rd_string(&rd, &name, &nl)) != 0 ||
            (r = lsh_rd_string(&rd, &data, &dl)) != 0) {
            set_failed(c, r, "malformed extension list in VERSION");
            return c->err;
        }
        e = lsh_sftp_ext_lookup(name, nl);
        if (e != LSH_SFTP_EXT_UNKNOWN && (unsigned)e < N_EXT &&
            !c->known[e].offered) {
            c->known[e].offered = 1;
            c->known[e].off = (size_t)(data - c->exts);
            c->known[e].len = dl;
        }
    }
    c->state = LSH_SFTP_CLIENT_READY;
    return 0;
}

static int
dispatch(lsh_sftp_client *c, const uint8_t *pkt, size_t n)
{
    lsh_sftp_response resp;
    lsh_sftp_reply rep;
    lsh_sftp_reply_cb cb;
    void *ctx;
    slot *s;
    uint8_t want;
    int r;

    if (c->state == LSH_SFTP_CLIENT_INIT) {
        if (pkt[0] != LSH_SFTP_VERSION_PKT) {
            set_failed(c, LSH_EPROTOCOL, "the server's first packet is "
                                         "not VERSION");
            return c->err;
        }
        if ((r = lsh_sftp_response_decode(pkt, n, &resp)) != 0) {
            set_failed(c, r, "malformed VERSION");
            return c->err;
        }
        return take_version(c, &resp);
    }
    if (n < 5) {
        set_failed(c, LSH_EPROTOCOL, "a reply without a request id");
        return c->err;
    }
    if (pkt[0] == LSH_SFTP_VERSION_PKT) {
        set_failed(c, LSH_EPROTOCOL, "a second VERSION");
        return c->err;
    }
    if ((s = slot_of(c, lsh_peek_u32(pkt + 1))) == NULL) {
        set_failed(c, LSH_EPROTOCOL, "a reply to no request in flight");
        return c->err;
    }
    memset(&rep, 0, sizeof(rep));
    rep.id = s->id;
    rep.req_type = s->req_type;
    rep.req_ext = (lsh_sftp_ext)s->req_ext;
    rep.arg = s->arg;
    rep.arg2 = s->arg2;
    rep.sent_us = s->sent_us;
    cb = s->forgotten ? NULL : s->cb;
    ctx = s->ctx;
    want = expected_reply(s->req_type, s->req_ext);
    slot_release(c, s->id & SLOT_MASK);
    if (cb == NULL) {
        return 0;
    }
    r = lsh_sftp_response_decode(pkt, n, &resp);
    if (r == 0 && resp.type != LSH_SFTP_STATUS && resp.type != want) {
        r = LSH_EUNEXPECTED;
    }
    rep.err = r;
    if (r == 0) {
        rep.resp = &resp;
        rep.pkt = pkt;
        rep.n = n;
    }
    cb(ctx, &rep);
    return 0;
}

/* Streamed DATA (see IMPLEMENTATION NOTES) */

#define STREAM_HDR 13 /* uint32 length, byte type, uint32 id, uint32 n */

static void xfer_reply(void *ctx, const lsh_sftp_reply *r);
static int stream_is_get(const lsh_sftp_xfer *x);
static int stream_xfer_begin(lsh_sftp_xfer *x, uint64_t off, uint32_t len,
                             uint32_t n);
static void stream_xfer_piece(lsh_sftp_xfer *x, uint64_t off,
                              const uint8_t *p, size_t n);
static void stream_xfer_end(lsh_sftp_xfer *x, uint64_t off, uint32_t len,
                            uint32_t n, int took);

/* The transfer whose READ the stream answers, or NULL when it is gone. */
static lsh_sftp_xfer *
stream_xfer(lsh_sftp_client *c)
{
    slot *s = slot_of(c, c->st.id);
    return s == NULL || s->forgotten ? NULL : s->ctx;
}

/* 1 when hdr starts a DATA reply to a GET's READ that can be streamed. */
static int
stream_begin(lsh_sftp_client *c, const uint8_t *hdr)
{
    uint32_t len = lsh_peek_u32(hdr), n = lsh_peek_u32(hdr + 9);
    slot *s;
    lsh_sftp_xfer *x;

    if (hdr[4] != LSH_SFTP_DATA || c->state != LSH_SFTP_CLIENT_READY ||
        n == 0 || len > LSH_SFTP_CLIENT_MAX_REPLY || len != 9 + n ||
        (s = slot_of(c, lsh_peek_u32(hdr + 5))) == NULL || s->forgotten ||
        s->cb != xfer_reply || s->req_type != LSH_SFTP_READ ||
        n > s->arg2) {
        return 0;
    }
    x = s->ctx;
    if (!stream_is_get(x)) {
        return 0;
    }
    c->st.id = s->id;
    c->st.left = c->st.n = n;
    c->st.off = s->arg;
    c->st.drop = !stream_xfer_begin(x, s->arg, s->arg2, n);
    return 1;
}

/* Takes the stream's next bytes (at most what is left of it). */
static size_t
stream_data(lsh_sftp_client *c, const uint8_t *p, size_t n)
{
    lsh_sftp_xfer *x = stream_xfer(c);
    slot *s;
    uint64_t off;
    uint32_t len;

    if (n > c->st.left) {
        n = c->st.left;
    }
    if (x != NULL && !c->st.drop) {
        stream_xfer_piece(x, c->st.off, p, n);
    }
    c->st.off += n;
    c->st.left -= (uint32_t)n;
    if (c->st.left > 0 || (s = slot_of(c, c->st.id)) == NULL) {
        return n;
    }
    /* The last byte: the reply is complete. */
    off = s->arg;
    len = s->arg2;
    slot_release(c, s->id & SLOT_MASK);
    if (x != NULL) {
        stream_xfer_end(x, off, len, c->st.n, !c->st.drop);
    }
    return n;
}

int
lsh_sftp_client_feed(lsh_sftp_client *c, const uint8_t *data, size_t n,
                     size_t *used)
{
    size_t pos = 0;
    *used = 0;
    if (c->state == LSH_SFTP_CLIENT_FAILED) {
        return c->err;
    }
    if (c->state == LSH_SFTP_CLIENT_NEW) {
        set_failed(c, LSH_ESTATE, "data before INIT was sent");
        fail_pending(c, c->err);
        return c->err;
    }
    while (pos < n && c->state != LSH_SFTP_CLIENT_FAILED) {
        const uint8_t *pkt;
        size_t plen, cons;
        int r;
        if (c->st.left > 0) {
            pos += stream_data(c, data + pos, n - pos);
            continue;
        }
        if (n - pos >= STREAM_HDR && stream_begin(c, data + pos)) {
            pos += STREAM_HDR;
            continue;
        }
        r = lsh_sftp_frame(data + pos, n - pos, LSH_SFTP_CLIENT_MAX_REPLY,
                           &pkt, &plen, &cons);
        if (r == 0) {
            break;
        }
        if (r < 0) {
            set_failed(c, r, r == LSH_ETOOLARGE ? "a reply packet over the "
                                                  "size limit"
                                                : "an empty reply packet");
            break;
        }
        pos += cons;
        (void)dispatch(c, pkt, plen);
    }
    *used = pos;
    if (c->state == LSH_SFTP_CLIENT_FAILED) {
        fail_pending(c, c->err);
        return c->err;
    }
    return 0;
}

/* Transfers */

struct lsh_sftp_xfer {
    lsh_sftp_client *c;
    lsh_sftp_xfer *lprev, *lnext; /* in c->xfers */
    lsh_sftp_xfer_config cfg;
    uint8_t src[LSH_SFTP_MAX_HANDLE], dst[LSH_SFTP_MAX_HANDLE];
    uint64_t next;      /* next relative offset to ask for */
    uint64_t end;       /* relative end: length, or where EOF was seen */
    uint64_t hint;      /* relative size hint, UINT64_MAX when lifted */
    uint64_t done;      /* bytes moved */
    uint64_t wrote_end; /* end of the last bytes actually written */
    uint32_t reads, writes, others;
    uint64_t wbytes;    /* WRITE payload bytes in flight (in c->wr_inflight) */
    int extend;         /* 0 not needed yet, 1 FSETSTAT in flight, 2 done */
    int whole_sent;     /* COPY_DATA to EOF in one request */
    int finished, failed, stopped;
    int err, local_err;
    uint32_t status;
    char msg[256];
};

static void xfer_pump(lsh_sftp_xfer *x);
static void xfer_reply(void *ctx, const lsh_sftp_reply *r);

static void
notify(lsh_sftp_xfer *x)
{
    if (x->cfg.io.notify != NULL) {
        x->cfg.io.notify(x->cfg.io.ctx, x);
    }
}

static void
xfer_fail(lsh_sftp_xfer *x, int err)
{
    if (!x->failed) {
        x->failed = 1;
        x->err = err;
    }
}

static void
xfer_fail_status(lsh_sftp_xfer *x, const lsh_sftp_response *resp)
{
    size_t n;
    if (x->failed) {
        return;
    }
    xfer_fail(x, LSH_EPROTOCOL);
    x->status = resp->code;
    n = resp->msg.n < sizeof(x->msg) - 1 ? resp->msg.n : sizeof(x->msg) - 1;
    if (n > 0) {
        memcpy(x->msg, resp->msg.p, n);
    }
    x->msg[n] = '\0';
}

static int
all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static lsh_sftp_str
str_of(const uint8_t *p, size_t n)
{
    lsh_sftp_str s = {p, n};
    return s;
}

static int
xfer_send(lsh_sftp_xfer *x, const lsh_sftp_request *q, uint64_t arg,
          uint32_t arg2)
{
    int r = lsh_sftp_client_send(x->c, q, xfer_reply, x, arg, arg2, NULL);
    if (r != 0) {
        xfer_fail(x, r);
    }
    return r;
}

static int
send_read(lsh_sftp_xfer *x, uint64_t off, uint32_t len)
{
    lsh_sftp_request q;
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_READ;
    q.handle = x->cfg.src;
    q.offset = x->cfg.src_offset + off;
    q.len = len;
    if (xfer_send(x, &q, off, len) != 0) {
        return -1;
    }
    x->reads++;
    return 0;
}

/* A WRITE of n payload bytes went out / was answered or forgotten. */
static void
wr_add(lsh_sftp_xfer *x, uint64_t n)
{
    x->wbytes += n;
    x->c->wr_inflight += n;
}

static void
wr_sub(lsh_sftp_xfer *x, uint64_t n)
{
    if (n > x->wbytes) {
        n = x->wbytes;
    }
    x->wbytes -= n;
    x->c->wr_inflight -= n;
}

/*
 * A PUT's WRITE of n bytes sent at `sent` was acknowledged: adapt the
 * write window to its round trip (see lsh_sftp_client_set_write_window).
 */
static void
wr_adapt(lsh_sftp_client *c, uint64_t sent, uint64_t n)
{
    uint64_t rtt, now;
    if (c->now_us == NULL || c->wr_max == 0 || sent == 0) {
        return;
    }
    now = c->now_us(c->now_ctx);
    rtt = now > sent ? now - sent : 1;
    if (c->min_rtt == 0 || rtt < c->min_rtt) {
        c->min_rtt = rtt;
    }
    if (2 * rtt > 3 * c->min_rtt) {
        c->wr_limit -= c->wr_limit / 4;
        if (c->wr_limit < c->wr_min) {
            c->wr_limit = c->wr_min;
        }
    } else if (4 * rtt < 5 * c->min_rtt) {
        c->wr_limit += n;
        if (c->wr_limit > c->wr_max) {
            c->wr_limit = c->wr_max;
        }
    }
}

static int
send_write(lsh_sftp_xfer *x, uint64_t off, const uint8_t *p, size_t n)
{
    lsh_sftp_request q;
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_WRITE;
    q.handle = x->cfg.dst;
    q.offset = x->cfg.dst_offset + off;
    q.data = str_of(p, n);
    if (xfer_send(x, &q, off, (uint32_t)n) != 0) {
        return -1;
    }
    x->writes++;
    wr_add(x, n);
    if (off + n > x->wrote_end) {
        x->wrote_end = off + n;
    }
    return 0;
}

/*
 * PUT: a WRITE whose data the io callback reads straight into the output
 * buffer (draft-02 §6.4 layout).  *got is 0 at the local end of file (and
 * nothing is sent); a block of zeros is not sent when sparse (*skipped).
 */
static int
send_write_from_source(lsh_sftp_xfer *x, uint32_t len, size_t *got,
                       int *skipped)
{
    lsh_sftp_client *c = x->c;
    lsh_buf *b = &c->out;
    size_t mark, lenpos, start = lsh_buf_len(b);
    uint32_t idx;
    uint8_t *p;
    int r;

    *got = 0;
    *skipped = 0;
    if (c->state != LSH_SFTP_CLIENT_READY) {
        xfer_fail(x, c->err ? c->err : LSH_ESTATE);
        return -1;
    }
    if ((r = slot_alloc(c, &idx)) != 0) {
        xfer_fail(x, r);
        return -1;
    }
    if ((r = lsh_sftp_begin(b, LSH_SFTP_WRITE, &mark)) != 0 ||
        (r = lsh_buf_put_u32(b, c->slots[idx].id)) != 0 ||
        (r = lsh_buf_put_string(b, x->cfg.dst.p, x->cfg.dst.n)) != 0 ||
        (r = lsh_buf_put_u64(b, x->cfg.dst_offset + x->next)) != 0) {
        goto fail;
    }
    lenpos = lsh_buf_len(b);
    if ((r = lsh_buf_put_u32(b, len)) != 0 ||
        (r = lsh_buf_append_space(b, len, &p)) != 0) {
        goto fail;
    }
    if ((r = x->cfg.io.read_at(x->cfg.io.ctx, x->next, p, len, got)) != 0) {
        x->local_err = r;
        r = LSH_EIO;
        *got = 0;
        goto fail;
    }
    if (*got > len) {
        r = LSH_EINVAL;
        *got = 0;
        goto fail;
    }
    if (*got == 0 || (x->cfg.sparse && all_zero(p, *got))) {
        *skipped = *got > 0;
        (void)lsh_buf_truncate(b, lsh_buf_len(b) - start);
        slot_release(c, idx);
        return 0;
    }
    (void)lsh_buf_truncate(b, len - *got);
    if ((r = lsh_buf_poke_u32(b, lenpos, (uint32_t)*got)) != 0 ||
        (r = lsh_sftp_end(b, mark, LSH_SFTP_MAX_PACKET)) != 0) {
        goto fail;
    }
    slot_commit(c, idx, LSH_SFTP_WRITE, 0, xfer_reply, x, x->next,
                (uint32_t)*got);
    if (c->now_us != NULL && c->wr_max != 0) {
        c->slots[idx].sent_us = c->now_us(c->now_ctx);
    }
    x->writes++;
    wr_add(x, *got);
    if (x->next + *got > x->wrote_end) {
        x->wrote_end = x->next + *got;
    }
    return 0;
fail:
    (void)lsh_buf_truncate(b, lsh_buf_len(b) - start);
    slot_release(c, idx);
    xfer_fail(x, r);
    return -1;
}

static int
send_copy_data(lsh_sftp_xfer *x, uint64_t off, uint64_t len)
{
    lsh_sftp_request q;
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_EXTENDED;
    q.ext = LSH_SFTP_EXT_COPY_DATA;
    q.handle = x->cfg.src;
    q.offset = x->cfg.src_offset + off;
    q.len64 = len;
    q.handle2 = x->cfg.dst;
    q.offset2 = x->cfg.dst_offset + off;
    if (xfer_send(x, &q, off, (uint32_t)len) != 0) {
        return -1;
    }
    x->others++;
    return 0;
}

/* Backpressure: the transport is full and something is in flight. */
static int
held_back(lsh_sftp_xfer *x)
{
    return x->cfg.io.may_send != NULL &&
           x->reads + x->writes + x->others > 0 &&
           !x->cfg.io.may_send(x->cfg.io.ctx);
}

/* The next READ of a GET or COPY, or 0 when none may go now. */
static int
issue_read(lsh_sftp_xfer *x)
{
    uint64_t len = x->cfg.block;
    if (x->next >= x->end || x->reads + x->writes >= x->cfg.max_requests) {
        return 0;
    }
    if (x->cfg.mode == LSH_SFTP_XFER_COPY && held_back(x)) {
        return 0;
    }
    if (x->hint != UINT64_MAX) {
        if (x->next > x->hint) {
            return 0;
        }
        if (x->next < x->hint && x->hint - x->next < len) {
            len = x->hint - x->next;
        }
    }
    if (x->end - x->next < len) {
        len = x->end - x->next;
    }
    if (send_read(x, x->next, (uint32_t)len) != 0) {
        return 0;
    }
    x->next += len;
    return 1;
}

static int
issue_write(lsh_sftp_xfer *x)
{
    uint64_t len = x->cfg.block;
    size_t got;
    int skipped;
    if (x->next >= x->end || x->writes >= x->cfg.max_requests ||
        held_back(x)) {
        return 0;
    }
    if (x->end - x->next < len) {
        len = x->end - x->next;
    }
    /* The write window: never more in flight than the server's channel
     * buffer should hold (lsh_sftp_client_set_write_window). */
    if (x->c->wr_limit != 0 && x->writes > 0 &&
        x->c->wr_inflight + len > x->c->wr_limit) {
        return 0;
    }
    if (send_write_from_source(x, (uint32_t)len, &got, &skipped) != 0) {
        return 0;
    }
    if (got == 0) {
        x->end = x->next; /* the local file ended early */
        return 0;
    }
    x->next += got;
    if (skipped) {
        x->done += got; /* zeros not sent count as moved */
        notify(x);
    }
    return 1;
}

static int
issue_copy_data(lsh_sftp_xfer *x)
{
    uint64_t len = x->cfg.block;
    if (x->whole_sent || x->next >= x->end ||
        x->others >= x->cfg.max_requests) {
        return 0;
    }
    if (x->end == UINT64_MAX) {
        x->whole_sent = 1;
        return send_copy_data(x, x->next, 0) == 0 ? 1 : 0;
    }
    if (x->end - x->next < len) {
        len = x->end - x->next;
    }
    if (send_copy_data(x, x->next, len) != 0) {
        return 0;
    }
    x->next += len;
    return 1;
}

/* The final FSETSTAT that gives a sparse upload its size. */
static int
send_extend(lsh_sftp_xfer *x)
{
    lsh_sftp_request q;
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_FSETSTAT;
    q.handle = x->cfg.dst;
    q.attrs.flags = LSH_SFTP_ATTR_SIZE;
    q.attrs.size = x->cfg.dst_offset + x->end;
    if (xfer_send(x, &q, 0, 0) != 0) {
        return -1;
    }
    x->extend = 1;
    return 0;
}

static int
range_done(const lsh_sftp_xfer *x)
{
    if (x->cfg.mode == LSH_SFTP_XFER_COPY_DATA && x->whole_sent) {
        return 1;
    }
    return x->end != UINT64_MAX && x->next >= x->end;
}

static void
check_done(lsh_sftp_xfer *x)
{
    if (x->finished || x->reads > 0 || x->writes > 0 || x->others > 0 ||
        x->extend == 1) {
        return;
    }
    if (!x->failed && !x->stopped) {
        if (!range_done(x)) {
            return;
        }
        if (x->cfg.sparse && x->extend == 0 && x->wrote_end < x->end &&
            (x->cfg.mode == LSH_SFTP_XFER_PUT ||
             x->cfg.mode == LSH_SFTP_XFER_COPY)) {
            if (send_extend(x) == 0) {
                return;
            }
        }
    }
    x->finished = 1;
    notify(x);
}

static void
xfer_pump(lsh_sftp_xfer *x)
{
    while (!x->failed && !x->stopped && !x->finished) {
        int sent;
        switch (x->cfg.mode) {
        case LSH_SFTP_XFER_GET:
        case LSH_SFTP_XFER_COPY:
            sent = issue_read(x);
            break;
        case LSH_SFTP_XFER_PUT:
            sent = issue_write(x);
            break;
        default:
            sent = issue_copy_data(x);
            break;
        }
        if (!sent) {
            break;
        }
    }
    check_done(x);
}

/*
 * DATA for [off, off+len) of which n bytes came: the checks before any
 * of them is used.  Returns 1 to take them, 0 to drop them (none came:
 * the end of file; or past an EOF seen earlier: the file is changing;
 * or more than was asked for: the transfer fails).
 */
static int
data_begin(lsh_sftp_xfer *x, uint64_t off, uint32_t len, size_t n)
{
    if (n > len) {
        xfer_fail(x, LSH_EPROTOCOL);
        snprintf(x->msg, sizeof(x->msg), "the server sent more data than "
                                         "was asked for");
        return 0;
    }
    if (n == 0) {
        if (off < x->end) {
            x->end = off;
        }
        return 0;
    }
    if (off >= x->end) {
        return 0;
    }
    if (x->hint != UINT64_MAX && off + n > x->hint) {
        x->hint = UINT64_MAX; /* longer than announced: read on */
    }
    return 1;
}

/* Stores or forwards bytes of a DATA at off; 0, or -1 when x failed. */
static int
data_piece(lsh_sftp_xfer *x, uint64_t off, const uint8_t *p, size_t n)
{
    int r;
    if (x->cfg.sparse && all_zero(p, n)) {
        x->done += n;
    } else if (x->cfg.mode == LSH_SFTP_XFER_GET) {
        r = x->cfg.io.write_at(x->cfg.io.ctx, off, p, n);
        if (r != 0) {
            x->local_err = r;
            xfer_fail(x, LSH_EIO);
            return -1;
        }
        x->done += n;
        if (off + n > x->wrote_end) {
            x->wrote_end = off + n;
        }
    } else if (send_write(x, off, p, n) != 0) {
        return -1;
    }
    return 0;
}

/* A DATA's bytes were taken: asks again for a short read's tail. */
static void
data_end(lsh_sftp_xfer *x, uint64_t off, uint32_t len, size_t n)
{
    if (n < len && off + n < x->end) {
        (void)send_read(x, off + n, len - (uint32_t)n);
    }
    notify(x);
}

/* DATA for [off, off+len): store or forward it, ask again for a tail. */
static void
on_data(lsh_sftp_xfer *x, uint64_t off, uint32_t len,
        const lsh_sftp_str *d)
{
    if (data_begin(x, off, len, d->n) && data_piece(x, off, d->p, d->n) == 0) {
        data_end(x, off, len, d->n);
    }
}

/* The streamed side of xfer_reply for a GET's READ (lsh_sftp_client_feed). */
static int
stream_is_get(const lsh_sftp_xfer *x)
{
    return x->cfg.mode == LSH_SFTP_XFER_GET;
}

static int
stream_xfer_begin(lsh_sftp_xfer *x, uint64_t off, uint32_t len, uint32_t n)
{
    return !x->failed && !x->stopped && data_begin(x, off, len, n);
}

static void
stream_xfer_piece(lsh_sftp_xfer *x, uint64_t off, const uint8_t *p, size_t n)
{
    if (!x->failed && !x->stopped) {
        (void)data_piece(x, off, p, n);
    }
}

static void
stream_xfer_end(lsh_sftp_xfer *x, uint64_t off, uint32_t len, uint32_t n,
                int took)
{
    x->reads--;
    if (took && !x->failed && !x->stopped) {
        data_end(x, off, len, n);
    }
    xfer_pump(x);
}

static void
xfer_reply(void *ctx, const lsh_sftp_reply *r)
{
    lsh_sftp_xfer *x = ctx;
    const lsh_sftp_response *resp = r->resp;
    int is_status = r->err == 0 && resp->type == LSH_SFTP_STATUS;

    switch (r->req_type) {
    case LSH_SFTP_READ:
        x->reads--;
        break;
    case LSH_SFTP_WRITE:
        x->writes--;
        wr_sub(x, r->arg2);
        if (is_status && resp->code == LSH_SFTP_FX_OK) {
            wr_adapt(x->c, r->sent_us, r->arg2);
        }
        break;
    case LSH_SFTP_FSETSTAT:
        x->extend = 2;
        break;
    default:
        x->others--;
        break;
    }
    if (r->err != 0) {
        xfer_fail(x, r->err);
    } else if (x->failed || x->stopped) {
        /* Draining what was in flight. */
    } else if (is_status && resp->code == LSH_SFTP_FX_EOF &&
               (r->req_type == LSH_SFTP_READ ||
                r->req_type == LSH_SFTP_EXTENDED)) {
        if (r->arg < x->end) {
            x->end = r->arg;
        }
    } else if (is_status && resp->code != LSH_SFTP_FX_OK) {
        xfer_fail_status(x, resp);
    } else if (r->req_type == LSH_SFTP_READ) {
        if (is_status) {
            xfer_fail(x, LSH_EUNEXPECTED); /* OK to a READ */
        } else {
            on_data(x, r->arg, r->arg2, &resp->data);
        }
    } else if (r->req_type == LSH_SFTP_WRITE ||
               r->req_type == LSH_SFTP_EXTENDED) {
        x->done += r->arg2; /* acknowledged bytes */
        notify(x);
    }
    xfer_pump(x);
}

int
lsh_sftp_xfer_start(lsh_sftp_client *c, const lsh_sftp_xfer_config *cfg,
                    lsh_sftp_xfer **out)
{
    lsh_sftp_xfer *x;
    int needs_src = cfg->mode != LSH_SFTP_XFER_PUT;
    int needs_dst = cfg->mode != LSH_SFTP_XFER_GET;
    if (c->state != LSH_SFTP_CLIENT_READY) {
        return LSH_ESTATE;
    }
    if ((needs_src && (cfg->src.n == 0 || cfg->src.n > LSH_SFTP_MAX_HANDLE)) ||
        (needs_dst && (cfg->dst.n == 0 || cfg->dst.n > LSH_SFTP_MAX_HANDLE)) ||
        (cfg->mode == LSH_SFTP_XFER_GET && cfg->io.write_at == NULL) ||
        (cfg->mode == LSH_SFTP_XFER_PUT && cfg->io.read_at == NULL) ||
        cfg->block > LSH_SFTP_MAX_BLOCK) {
        return LSH_EINVAL;
    }
    if ((x = calloc(1, sizeof(*x))) == NULL) {
        return LSH_ENOMEM;
    }
    x->c = c;
    x->cfg = *cfg;
    if (needs_src) {
        memcpy(x->src, cfg->src.p, cfg->src.n);
        x->cfg.src = str_of(x->src, cfg->src.n);
    }
    if (needs_dst) {
        memcpy(x->dst, cfg->dst.p, cfg->dst.n);
        x->cfg.dst = str_of(x->dst, cfg->dst.n);
    }
    if (x->cfg.block == 0) {
        x->cfg.block = 32768;
    }
    if (x->cfg.max_requests == 0) {
        x->cfg.max_requests = 64;
    }
    x->end = cfg->length;
    x->hint = UINT64_MAX;
    if (cfg->size_hint != UINT64_MAX &&
        (cfg->mode == LSH_SFTP_XFER_GET || cfg->mode == LSH_SFTP_XFER_COPY)) {
        x->hint = cfg->size_hint > cfg->src_offset
                      ? cfg->size_hint - cfg->src_offset
                      : 0;
    }
    if (cfg->mode == LSH_SFTP_XFER_PUT && c->wr_inflight == 0 &&
        c->now_us != NULL && c->wr_max != 0) {
        /* Nothing else is writing: learn this transfer's path afresh
         * (the shortest round trip of an earlier one may no longer
         * hold), from the smallest window up. */
        c->min_rtt = 0;
        c->wr_limit = c->wr_min;
    }
    x->lnext = c->xfers;
    if (c->xfers != NULL) {
        c->xfers->lprev = x;
    }
    c->xfers = x;
    *out = x;
    xfer_pump(x);
    return 0;
}

void
lsh_sftp_client_set_write_window(lsh_sftp_client *c, uint64_t max,
                                  uint64_t min)
{
    if (min > max) {
        min = max;
    }
    c->wr_max = max;
    c->wr_min = min;
    c->wr_limit = c->now_us != NULL ? min : max;
}

void
lsh_sftp_client_set_clock(lsh_sftp_client *c, uint64_t (*now_us)(void *ctx),
                          void *ctx)
{
    c->now_us = now_us;
    c->now_ctx = ctx;
    c->wr_limit = now_us != NULL ? c->wr_min : c->wr_max;
}

uint64_t
lsh_sftp_client_write_window(const lsh_sftp_client *c)
{
    return c->wr_limit;
}

uint64_t
lsh_sftp_client_writes_in_flight(const lsh_sftp_client *c)
{
    return c->wr_inflight;
}

void
lsh_sftp_client_kick(lsh_sftp_client *c)
{
    for (lsh_sftp_xfer *x = c->xfers; x != NULL; x = x->lnext) {
        if (!x->finished) {
            xfer_pump(x);
        }
    }
}

void
lsh_sftp_xfer_stop(lsh_sftp_xfer *x)
{
    if (x->finished) {
        return;
    }
    x->stopped = 1;
    if (!x->failed) {
        x->err = LSH_ESTATE;
    }
    lsh_sftp_client_forget_ctx(x->c, x);
    wr_sub(x, x->wbytes);
    x->reads = x->writes = x->others = 0;
    if (x->extend == 1) {
        x->extend = 2;
    }
    x->finished = 1;
}

void
lsh_sftp_xfer_free(lsh_sftp_xfer *x)
{
    if (x == NULL) {
        return;
    }
    lsh_sftp_client_forget_ctx(x->c, x);
    wr_sub(x, x->wbytes);
    if (x->lprev != NULL) {
        x->lprev->lnext = x->lnext;
    } else {
        x->c->xfers = x->lnext;
    }
    if (x->lnext != NULL) {
        x->lnext->lprev = x->lprev;
    }
    free(x);
}

int
lsh_sftp_xfer_finished(const lsh_sftp_xfer *x)
{
    return x->finished;
}

uint64_t
lsh_sftp_xfer_done(const lsh_sftp_xfer *x)
{
    return x->done;
}

uint64_t
lsh_sftp_xfer_size(const lsh_sftp_xfer *x)
{
    return x->end;
}

int
lsh_sftp_xfer_needs_extend(const lsh_sftp_xfer *x)
{
    return x->cfg.mode == LSH_SFTP_XFER_GET && x->end != UINT64_MAX &&
           x->wrote_end < x->end;
}

int
lsh_sftp_xfer_result(const lsh_sftp_xfer *x, uint32_t *status,
                     const char **msg, int *local_err)
{
    if (status != NULL) {
        *status = x->status;
    }
    if (msg != NULL) {
        *msg = x->msg;
    }
    if (local_err != NULL) {
        *local_err = x->local_err;
    }
    if (x->failed || x->stopped) {
        return x->err != 0 ? x->err : LSH_ESTATE;
    }
    return 0;
}
