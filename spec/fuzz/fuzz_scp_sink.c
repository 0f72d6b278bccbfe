/*
 * libFuzzer target for the SCP sink (src/ssh/scp/sink.c): the client side
 * of a download, facing a hostile server.
 *
 * Input: byte 0 picks the flags (-r, -p, -d, single, patterns) and byte 1
 * the feed chunk size; the rest is what the "server" sends.  An in-memory
 * backend checks the safety invariants on every call and aborts when one
 * breaks:
 *  - a name passed with a directory handle is one valid component
 *    (lsh_scp_check_name), never "." / ".." / with '/';
 *  - a NULL directory handle only ever comes with the trusted target;
 *  - handles passed in are live ones of the right kind; all are closed
 *    by lsh_scp_free();
 *  - writes are in order and never exceed the C line's size (checked via
 *    the FILE_END event);
 *  - with the single-file flag at most one top-level entry is created.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ssh/scp/scp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TARGET "dest"

enum { H_DIR = 1, H_FILE = 2 };

typedef struct mh {
    int kind;
    int top;       /* created in the target itself */
    uint64_t written;
} mh;

typedef struct mctx {
    int live;
    int target_is_dir;
    int top_created;
    mh root;
} mctx;

static void
check_name(mctx *c, void *dir, const char *name)
{
    if (dir == NULL) {
        if (strcmp(name, TARGET) != 0) {
            abort();
        }
        return;
    }
    if (((mh *)dir)->kind != H_DIR ||
        lsh_scp_check_name(name, strlen(name)) != 0) {
        abort();
    }
    (void)c;
}

static int
new_handle(mctx *c, void *dir, int kind, void **out)
{
    mh *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return LSH_ENOMEM;
    }
    h->kind = kind;
    h->top = dir == &c->root || dir == NULL;
    if (h->top && dir != NULL) {
        c->top_created++;
    }
    c->live++;
    *out = h;
    return 0;
}

static int
m_stat(void *ctx, void *dir, const char *name, int follow, lsh_scp_attr *a)
{
    mctx *c = ctx;
    (void)follow;
    check_name(c, dir, name);
    memset(a, 0, sizeof(*a));
    if (dir == NULL) {
        if (!c->target_is_dir) {
            return LSH_ENOTFOUND;
        }
        a->type = LSH_SCP_FT_DIR;
        return 0;
    }
    /* Names starting with 'x' exist as directories, 'f' as files. */
    if (name[0] == 'x') {
        a->type = LSH_SCP_FT_DIR;
        return 0;
    }
    if (name[0] == 'f') {
        a->type = LSH_SCP_FT_REG;
        return 0;
    }
    return LSH_ENOTFOUND;
}

static int
m_opendir(void *ctx, void *dir, const char *name, void **out)
{
    mctx *c = ctx;
    check_name(c, dir, name);
    if (dir == NULL && c->target_is_dir) {
        *out = &c->root;
        c->live++;
        return 0;
    }
    return new_handle(c, dir, H_DIR, out);
}

static int
m_readdir(void *ctx, void *dirh, const char **name)
{
    (void)ctx;
    (void)dirh;
    *name = NULL;
    return 0;
}

static int
m_mkdir(void *ctx, void *dir, const char *name, uint32_t mode)
{
    check_name(ctx, dir, name);
    if (mode > 0777) {
        abort();
    }
    return name[0] == 'e' ? LSH_EIO : 0;
}

static int
m_open_read(void *ctx, void *dir, const char *name, void **out,
            lsh_scp_attr *attr)
{
    (void)ctx;
    (void)dir;
    (void)name;
    (void)out;
    (void)attr;
    abort(); /* a sink never reads */
}

static int
m_open_write(void *ctx, void *dir, const char *name, uint32_t mode,
             void **out)
{
    check_name(ctx, dir, name);
    if (mode > 0777) {
        abort();
    }
    if (name[0] == 'e') {
        return LSH_EIO;
    }
    return new_handle(ctx, dir, H_FILE, out);
}

static int
m_read(void *ctx, void *fh, uint64_t off, uint8_t *buf, size_t n,
       size_t *got)
{
    (void)ctx;
    (void)fh;
    (void)off;
    (void)buf;
    (void)n;
    (void)got;
    abort();
}

static int
m_write(void *ctx, void *fh, uint64_t off, const uint8_t *buf, size_t n)
{
    mh *h = fh;
    (void)ctx;
    (void)buf;
    if (h->kind != H_FILE || off != h->written || n == 0) {
        abort();
    }
    h->written += n;
    return n == 3 ? LSH_EIO : 0; /* some write errors */
}

static int
m_setattr(void *ctx, void *h, const lsh_scp_attr *a)
{
    (void)ctx;
    if (a->mode > 07777 || (((mh *)h)->kind != H_DIR &&
                            ((mh *)h)->kind != H_FILE)) {
        abort();
    }
    return 0;
}

static int
m_close(void *ctx, void *h)
{
    mctx *c = ctx;
    c->live--;
    if (h != &c->root) {
        free(h);
    }
    return 0;
}

static void
on_event(void *ud, const lsh_scp_event *ev)
{
    (void)ud;
    if (ev->done > ev->size && ev->type != LSH_SCP_EV_ERROR) {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const pats[] = {"f*", "x?", "a.txt"};
    lsh_scp_fs fs = {
        NULL,     m_stat,  m_opendir, m_readdir, m_mkdir, m_open_read,
        m_open_write, m_read, m_write, m_setattr, m_close, NULL,
    };
    mctx c;
    lsh_scp_opts o;
    lsh_scp *s = NULL;
    size_t pos = 2, chunk, used, n;
    int r, guard = 0;

    if (size < 2) {
        return 0;
    }
    memset(&c, 0, sizeof(c));
    c.root.kind = H_DIR;
    c.root.top = 1;
    c.target_is_dir = (data[0] & 0x40) == 0;
    fs.ctx = &c;
    memset(&o, 0, sizeof(o));
    o.flags = data[0] & 0x0f;
    o.target = TARGET;
    o.max_depth = 8;
    o.block_size = 1 + (data[1] & 0x3f);
    o.event_cb = on_event;
    if (data[0] & 0x20) {
        o.patterns = pats;
        o.npatterns = 3;
    }
    chunk = 1 + (data[1] >> 6) * 37;
    if (lsh_scp_sink_new(&o, &fs, &s) != 0) {
        return 0;
    }
    r = lsh_scp_run(s);
    while (r == 0 && !(lsh_scp_wants(s) & LSH_SCP_DONE) && guard++ < 1000000) {
        size_t k = size - pos < chunk ? size - pos : chunk;
        (void)lsh_scp_out(s, &n);
        lsh_scp_out_ack(s, n);
        if (pos == size) {
            r = lsh_scp_feed_eof(s);
            break;
        }
        r = lsh_scp_feed(s, data + pos, k, &used);
        pos += used;
    }
    (void)r;
    if ((o.flags & LSH_SCP_SINGLE) && c.top_created > 1) {
        abort();
    }
    if (!c.target_is_dir && c.top_created > 0) {
        abort(); /* rename mode creates only the target itself */
    }
    (void)lsh_scp_result(s, NULL);
    (void)lsh_scp_error_count(s);
    lsh_scp_free(s);
    if (c.live != 0) {
        abort();
    }
    return 0;
}
