/*
 * SCP sink: the `scp -t target` side, which receives C/D/E/T lines and
 * file data and creates files through the lsh_scp_fs backend.
 *
 * IMPLEMENTATION NOTES
 * Every line is checked completely before the backend is called, so a
 * refused line writes nothing.  Names from the peer are single components
 * created relative to a directory handle the sink opened (the target, or
 * a directory it created or entered itself); the backend resolves them
 * without following a symlink in the last component.  Only the trusted
 * target path is ever passed with a NULL directory handle.
 *
 * Replies follow the rcp/scp convention: \0 after each accepted line and
 * after each file, "\1scp: <msg>\n" when an entry failed locally (the
 * source then skips it), "\2scp: <msg>\n" when we refuse the transfer.
 * Output is tiny, but a hostile source could make us queue a reply per
 * line forever: input is not consumed while SINK_OUT_HIGH bytes wait.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "common/mem.h"
#include "ssh/scp/scp_internal.h"

enum { SK_INIT = 0, SK_LINE, SK_DATA, SK_DSTAT, SK_DSTAT_MSG };

#define SINK_OUT_HIGH 8192u

static int
refuse(lsh_scp *s, int code, const char *msg)
{
    int r = lsh__scp_send_error(s, 1, NULL, msg);
    (void)lsh__scp_fail(s, r != 0 ? r : code);
    return s->result;
}

static int
refuse_name(lsh_scp *s, const char *why, const char *name, size_t len)
{
    char msg[LSH_SCP_MAX_LINE + 64];
    snprintf(msg, sizeof(msg), "%s: %.*s", why, (int)len, name);
    return refuse(s, LSH_EREFUSED, msg);
}

/* A non-fatal local failure on the current entry: tell the source (which
 * skips the entry) and go on. */
static int
entry_error(lsh_scp *s, const char *msg)
{
    int r = lsh__scp_send_error(s, 0, s->path, msg);
    lsh__scp_path_pop(s, s->entry_pathlen);
    s->state = SK_LINE;
    return r != 0 ? lsh__scp_fail(s, r) : 0;
}

static void *
cur_parent(const lsh_scp *s)
{
    if (s->depth > 0) {
        return s->stack[s->depth - 1].h;
    }
    return s->target_is_dir ? s->root : NULL;
}

/* Reads decimal digits at *pp; at least one, value <= max. */
static int
parse_dec(const char **pp, const char *end, uint64_t max, uint64_t *out)
{
    const char *p = *pp;
    uint64_t v = 0;
    if (p >= end || *p < '0' || *p > '9') {
        return LSH_EPROTOCOL;
    }
    while (p < end && *p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p++ - '0');
        if (v > (max - d) / 10) {
            return LSH_EOVERFLOW;
        }
        v = v * 10 + d;
    }
    *pp = p;
    *out = v;
    return 0;
}

static int
expect_char(const char **pp, const char *end, char c)
{
    if (*pp >= end || **pp != c) {
        return LSH_EPROTOCOL;
    }
    (*pp)++;
    return 0;
}

/* "T<mtime> <usec> <atime> <usec>" */
static int
handle_times(lsh_scp *s, const char *line, size_t len)
{
    const char *p = line + 1, *end = line + len;
    uint64_t mt, mu, at, au;
    if (parse_dec(&p, end, LSH__SCP_MAX_TIME, &mt) != 0 ||
        expect_char(&p, end, ' ') != 0 ||
        parse_dec(&p, end, 999999, &mu) != 0 ||
        expect_char(&p, end, ' ') != 0 ||
        parse_dec(&p, end, LSH__SCP_MAX_TIME, &at) != 0 ||
        expect_char(&p, end, ' ') != 0 ||
        parse_dec(&p, end, 999999, &au) != 0 || p != end) {
        return refuse(s, LSH_EPROTOCOL, "protocol error: bad times");
    }
    s->have_times = 1;
    s->mtime = mt;
    s->atime = at;
    return lsh_buf_put_u8(&s->out, 0);
}

static int
top_level_check(lsh_scp *s, const char *name, size_t len)
{
    int matched = s->npatterns == 0;
    s->ntop++;
    if (s->ntop > 1 && (!s->target_is_dir || (s->flags & LSH_SCP_SINGLE))) {
        return refuse_name(s, "unexpected extra entry", name, len);
    }
    for (size_t i = 0; i < s->npatterns && !matched; i++) {
        matched = fnmatch(s->patterns[i], name, FNM_PERIOD) == 0;
    }
    if (!matched) {
        return refuse_name(s, "unexpected filename", name, len);
    }
    return 0;
}

static int
open_file(lsh_scp *s, uint32_t mode, uint64_t size)
{
    void *parent = cur_parent(s);
    const char *cname = parent != NULL ? s->path + s->entry_pathlen +
                                             (s->entry_pathlen > 0)
                                       : s->target;
    int r;
    r = s->fs->open_write(s->fs->ctx, parent, cname, (mode & 0777) | 0200,
                          &s->fh);
    if (r != 0) {
        s->fh = NULL;
        return entry_error(s, lsh__scp_fs_msg(s, r));
    }
    memset(&s->fattr, 0, sizeof(s->fattr));
    s->fattr.flags = LSH_SCP_ATTR_MODE;
    s->fattr.mode = mode;
    if (s->have_times) {
        s->fattr.flags |= LSH_SCP_ATTR_TIMES;
        s->fattr.atime = s->atime;
        s->fattr.mtime = s->mtime;
    }
    s->size = size;
    s->off = 0;
    s->ioerr = 0;
    lsh__scp_event(s, LSH_SCP_EV_FILE_BEGIN);
    s->state = size > 0 ? SK_DATA : SK_DSTAT;
    return lsh_buf_put_u8(&s->out, 0);
}

static int
enter_dir(lsh_scp *s, uint32_t mode)
{
    void *parent = cur_parent(s), *h = NULL;
    const char *cname = parent != NULL ? s->path + s->entry_pathlen +
                                             (s->entry_pathlen > 0)
                                       : s->target;
    lsh_scp_attr a;
    lsh__scp_frame *f;
    int r;

    r = s->fs->stat(s->fs->ctx, parent, cname, parent == NULL, &a);
    if (r == LSH_ENOTFOUND) {
        r = s->fs->mkdir(s->fs->ctx, parent, cname, (mode & 0777) | 0700);
    } else if (r == 0 && a.type != LSH_SCP_FT_DIR) {
        return entry_error(s, "Not a directory");
    }
    if (r != 0 || (r = s->fs->opendir(s->fs->ctx, parent, cname, &h)) != 0) {
        return entry_error(s, lsh__scp_fs_msg(s, r));
    }
    f = &s->stack[s->depth++];
    memset(f, 0, sizeof(*f));
    f->h = h;
    f->pathlen = s->entry_pathlen;
    f->attr.flags = LSH_SCP_ATTR_MODE;
    f->attr.mode = mode;
    if (s->have_times) {
        f->attr.flags |= LSH_SCP_ATTR_TIMES;
        f->attr.atime = s->atime;
        f->attr.mtime = s->mtime;
    }
    s->fattr.mode = mode;
    s->size = s->off = 0;
    lsh__scp_event(s, LSH_SCP_EV_DIR_BEGIN);
    return lsh_buf_put_u8(&s->out, 0);
}

/* "C<mode> <size> <name>" or "D<mode> <size> <name>" */
static int
handle_entry(lsh_scp *s, const char *line, size_t len)
{
    const char *p = line + 1, *end = line + len, *name;
    uint64_t mode, size;
    size_t nlen;
    int isdir = line[0] == 'D', r;

    /* The mode is octal, at most 07777 (OpenSSH sends %04o). */
    mode = 0;
    if (p >= end || *p < '0' || *p > '7') {
        return refuse(s, LSH_EPROTOCOL, "protocol error: bad mode");
    }
    for (; p < end && *p >= '0' && *p <= '7'; p++) {
        mode = (mode << 3) | (uint64_t)(*p - '0');
        if (mode > 07777) {
            return refuse(s, LSH_EREFUSED, "protocol error: bad mode");
        }
    }
    if (expect_char(&p, end, ' ') != 0) {
        return refuse(s, LSH_EPROTOCOL, "protocol error: bad mode");
    }
    if (parse_dec(&p, end, INT64_MAX, &size) != 0 ||
        expect_char(&p, end, ' ') != 0) {
        return refuse(s, LSH_EREFUSED, "protocol error: bad size");
    }
    name = p;
    nlen = (size_t)(end - p);
    if (lsh_scp_check_name(name, nlen) != 0) {
        return refuse_name(s, "unexpected filename", name, nlen);
    }
    if (isdir && !(s->flags & LSH_SCP_RECURSE)) {
        return refuse_name(s, "received directory without -r", name, nlen);
    }
    if (isdir && s->depth >= s->max_depth) {
        return refuse_name(s, "directory nesting too deep", name, nlen);
    }
    if (s->depth == 0 && (r = top_level_check(s, name, nlen)) != 0) {
        return r;
    }
    s->entry_pathlen = s->pathlen;
    if ((r = lsh__scp_path_push(s, name)) != 0) {
        return refuse_name(s, "path too long", name, nlen);
    }
    r = isdir ? enter_dir(s, (uint32_t)mode) : open_file(s, (uint32_t)mode,
                                                          size);
    s->have_times = 0;
    return r;
}

static int
leave_dir(lsh_scp *s)
{
    lsh__scp_frame *f;
    char msg[256];
    int r = 0;

    if (s->depth == 0) {
        return refuse(s, LSH_EREFUSED, "protocol error: E without D");
    }
    f = &s->stack[s->depth - 1];
    msg[0] = '\0';
    if (s->flags & LSH_SCP_PRESERVE) {
        r = s->fs->setattr(s->fs->ctx, f->h, &f->attr);
        if (r != 0) {
            snprintf(msg, sizeof(msg), "%s", lsh__scp_fs_msg(s, r));
        }
    }
    r = s->fs->close(s->fs->ctx, f->h);
    if (r != 0 && msg[0] == '\0') {
        snprintf(msg, sizeof(msg), "%s", lsh__scp_fs_msg(s, r));
    }
    s->depth--;
    lsh__scp_event(s, LSH_SCP_EV_DIR_END);
    if (msg[0] != '\0') {
        r = lsh__scp_send_error(s, 0, s->path, msg);
    } else {
        r = lsh_buf_put_u8(&s->out, 0);
    }
    lsh__scp_path_pop(s, f->pathlen);
    return r;
}

static int
handle_line(lsh_scp *s)
{
    const char *line = s->line;
    size_t len = s->linelen;
    s->line[len] = '\0';
    s->linelen = 0;
    if (len == 0) {
        return refuse(s, LSH_EPROTOCOL, "protocol error: unexpected <newline>");
    }
    switch (line[0]) {
    case 1:
    case 2:
        /* The source's own error (a file it could not read). */
        lsh__scp_error(s, line + 1, 1, line[0] == 2);
        s->line_trunc = 0;
        return line[0] == 2 ? lsh__scp_fail(s, LSH_EDISCONNECTED) : 0;
    case 'E':
        if (len != 1) {
            return refuse(s, LSH_EPROTOCOL, "protocol error: bad E line");
        }
        return leave_dir(s);
    case 'T':
        return handle_times(s, line, len);
    case 'C':
    case 'D':
        return handle_entry(s, line, len);
    default:
        return refuse(s, LSH_EPROTOCOL,
                      "protocol error: expected control record");
    }
}

static int
finish_file(lsh_scp *s)
{
    int r;
    if (!s->ioerr && (s->flags & LSH_SCP_PRESERVE)) {
        r = s->fs->setattr(s->fs->ctx, s->fh, &s->fattr);
        if (r != 0) {
            s->ioerr = 1;
            snprintf(s->ioerrmsg, sizeof(s->ioerrmsg), "%s",
                     lsh__scp_fs_msg(s, r));
        }
    }
    r = s->fs->close(s->fs->ctx, s->fh);
    s->fh = NULL;
    if (r != 0 && !s->ioerr) {
        s->ioerr = 1;
        snprintf(s->ioerrmsg, sizeof(s->ioerrmsg), "%s",
                 lsh__scp_fs_msg(s, r));
    }
    lsh__scp_event(s, LSH_SCP_EV_FILE_END);
    if (s->ioerr) {
        r = lsh__scp_send_error(s, 0, s->path, s->ioerrmsg);
    } else {
        r = lsh_buf_put_u8(&s->out, 0);
    }
    lsh__scp_path_pop(s, s->entry_pathlen);
    s->state = SK_LINE;
    return r;
}

static int
sink_start(lsh_scp *s)
{
    lsh_scp_attr a;
    int r = s->fs->stat(s->fs->ctx, NULL, s->target, 1, &a);
    if (r == 0 && a.type == LSH_SCP_FT_DIR) {
        if ((r = s->fs->opendir(s->fs->ctx, NULL, s->target, &s->root)) !=
            0) {
            s->root = NULL;
            (void)lsh__scp_send_error(s, 1, s->target, lsh__scp_fs_msg(s, r));
            return lsh__scp_fail(s, r);
        }
        s->target_is_dir = 1;
    } else if (r != 0 && r != LSH_ENOTFOUND) {
        (void)lsh__scp_send_error(s, 1, s->target, lsh__scp_fs_msg(s, r));
        return lsh__scp_fail(s, r);
    } else if (s->flags & LSH_SCP_TARGET_DIR) {
        (void)lsh__scp_send_error(s, 1, s->target, "Not a directory");
        return lsh__scp_fail(s, LSH_ENOTFOUND);
    }
    s->state = SK_LINE;
    return lsh_buf_put_u8(&s->out, 0);
}

int
lsh__scp_sink_step(lsh_scp *s)
{
    int r = 0;
    if (s->state == SK_INIT && (r = sink_start(s)) != 0) {
        return lsh__scp_fail(s, r);
    }
    return s->result;
}

static int
take_line_byte(lsh_scp *s, uint8_t c)
{
    if (c == '\n') {
        return handle_line(s);
    }
    if (s->linelen < LSH_SCP_MAX_LINE) {
        s->line[s->linelen++] = (char)c;
        return 0;
    }
    if (s->line[0] == 1 || s->line[0] == 2) {
        s->line_trunc = 1; /* an over-long error text: keep its start */
        return 0;
    }
    return refuse(s, LSH_EPROTOCOL, "protocol error: line too long");
}

static int
take_data(lsh_scp *s, const uint8_t *p, size_t n)
{
    int r;
    if (!s->ioerr) {
        r = s->fs->write(s->fs->ctx, s->fh, s->off, p, n);
        if (r != 0) {
            /* Keep reading the data to stay in step; report at the end. */
            s->ioerr = 1;
            snprintf(s->ioerrmsg, sizeof(s->ioerrmsg), "%s",
                     lsh__scp_fs_msg(s, r));
        }
    }
    s->off += n;
    lsh__scp_event(s, LSH_SCP_EV_PROGRESS);
    if (s->off == s->size) {
        s->state = SK_DSTAT;
    }
    return 0;
}

int
lsh__scp_sink_feed(lsh_scp *s, const uint8_t *p, size_t n, size_t *used)
{
    size_t i = 0;
    int r = 0;

    if (s->state == SK_INIT && (r = lsh__scp_sink_step(s)) != 0) {
        return r;
    }
    while (i < n && r == 0 && !s->done) {
        if (lsh_buf_len(&s->out) >= SINK_OUT_HIGH) {
            break;
        }
        switch (s->state) {
        case SK_LINE:
            r = take_line_byte(s, p[i++]);
            break;
        case SK_DATA: {
            uint64_t left = s->size - s->off;
            size_t k = n - i;
            if (k > s->block) {
                k = s->block;
            }
            if (k > left) {
                k = (size_t)left;
            }
            r = take_data(s, p + i, k);
            i += k;
            break;
        }
        case SK_DSTAT:
            if (p[i] == 0) {
                i++;
                r = finish_file(s);
            } else if (p[i] == 1 || p[i] == 2) {
                s->resp_fatal = p[i++] == 2;
                s->linelen = 0;
                s->state = SK_DSTAT_MSG;
            } else {
                r = refuse(s, LSH_EPROTOCOL, "protocol error: bad status");
            }
            break;
        case SK_DSTAT_MSG:
            if (p[i] != '\n') {
                if (s->linelen < LSH_SCP_MAX_LINE) {
                    s->line[s->linelen++] = (char)p[i];
                }
                i++;
                break;
            }
            i++;
            s->line[s->linelen] = '\0';
            s->linelen = 0;
            lsh__scp_error(s, s->line, 1, s->resp_fatal);
            if (s->resp_fatal) {
                r = lsh__scp_fail(s, LSH_EDISCONNECTED);
                break;
            }
            /* The file is incomplete and the source said why; like
             * OpenSSH, keep what arrived and acknowledge. */
            r = finish_file(s);
            break;
        default:
            r = lsh__scp_fail(s, LSH_ESTATE);
            break;
        }
    }
    *used = i;
    if (r != 0 && !s->done) {
        return lsh__scp_fail(s, r);
    }
    return s->result;
}

int
lsh__scp_sink_eof(lsh_scp *s)
{
    if (s->state == SK_LINE && s->linelen == 0 && s->depth == 0) {
        s->done = 1;
        return 0;
    }
    lsh__scp_error(s, "lost connection", 0, 1);
    return lsh__scp_fail(s, LSH_ETRUNCATED);
}

unsigned
lsh__scp_sink_wants(const lsh_scp *s)
{
    if (s->state == SK_INIT) {
        return LSH_SCP_WANT_RUN;
    }
    return lsh_buf_len(&s->out) >= SINK_OUT_HIGH ? 0 : LSH_SCP_WANT_INPUT;
}
