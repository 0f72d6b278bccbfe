/*
 * SCP machines: the parts shared by the source and the sink (allocation,
 * output, paths, events and errors) and the public entry points, which
 * dispatch on the role.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "ssh/scp/scp_internal.h"

static char *
dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d != NULL) {
        memcpy(d, s, n);
    }
    return d;
}

static int
dup_list(const char *const *in, size_t n, char ***out)
{
    char **v;
    if (n == 0) {
        *out = NULL;
        return 0;
    }
    if ((v = calloc(n, sizeof(*v))) == NULL) {
        return LSH_ENOMEM;
    }
    *out = v;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == NULL) {
            return LSH_EINVAL;
        }
        if ((v[i] = dupstr(in[i])) == NULL) {
            return LSH_ENOMEM;
        }
    }
    return 0;
}

static void
free_list(char **v, size_t n)
{
    if (v == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

int
lsh__scp_alloc(const lsh_scp_opts *o, const lsh_scp_fs *fs, int role,
               lsh_scp **out)
{
    lsh_scp *s;
    int r;

    *out = NULL;
    if (o == NULL || fs == NULL || o->block_size > LSH_SCP_MAX_BLOCK) {
        return LSH_EINVAL;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        return LSH_ENOMEM;
    }
    s->role = role;
    s->flags = o->flags;
    s->block = o->block_size != 0 ? o->block_size : LSH_SCP_DEFAULT_BLOCK;
    s->max_depth = o->max_depth != 0 ? o->max_depth : LSH_SCP_DEFAULT_DEPTH;
    s->fs = fs;
    s->cb = o->event_cb;
    s->ud = o->event_ud;
    /* Two blocks of data, plus room for lines and error messages. */
    lsh_buf_init(&s->out, 2 * s->block + 4 * LSH_SCP_MAX_LINE);
    s->pathcap = 256;
    if ((s->path = calloc(1, s->pathcap)) == NULL ||
        (s->stack = calloc(s->max_depth + 1, sizeof(*s->stack))) == NULL) {
        r = LSH_ENOMEM;
        goto fail;
    }
    if (o->target != NULL && (s->target = dupstr(o->target)) == NULL) {
        r = LSH_ENOMEM;
        goto fail;
    }
    s->npaths = o->npaths;
    s->npatterns = o->npatterns;
    if ((r = dup_list(o->paths, o->npaths, &s->paths)) != 0 ||
        (r = dup_list(o->patterns, o->npatterns, &s->patterns)) != 0) {
        goto fail;
    }
    *out = s;
    return 0;
fail:
    lsh_scp_free(s);
    return r;
}

void
lsh_scp_free(lsh_scp *s)
{
    if (s == NULL) {
        return;
    }
    if (s->fh != NULL) {
        (void)s->fs->close(s->fs->ctx, s->fh);
    }
    if (s->pending_dir != NULL) {
        (void)s->fs->close(s->fs->ctx, s->pending_dir);
    }
    while (s->stack != NULL && s->depth > 0) {
        s->depth--;
        (void)s->fs->close(s->fs->ctx, s->stack[s->depth].h);
    }
    if (s->root != NULL) {
        (void)s->fs->close(s->fs->ctx, s->root);
    }
    lsh_buf_free(&s->out);
    free(s->stack);
    free(s->path);
    free(s->target);
    free(s->detail);
    free_list(s->paths, s->npaths);
    free_list(s->patterns, s->npatterns);
    free(s);
}

int
lsh__scp_path_push(lsh_scp *s, const char *name)
{
    size_t n = strlen(name), need;
    if (lsh_add_overflow(s->pathlen, n + 2, &need) ||
        need > LSH__SCP_MAX_PATH) {
        return LSH_ETOOLARGE;
    }
    if (need > s->pathcap) {
        size_t cap = s->pathcap;
        char *p;
        while (cap < need) {
            cap *= 2;
        }
        if ((p = realloc(s->path, cap)) == NULL) {
            return LSH_ENOMEM;
        }
        s->path = p;
        s->pathcap = cap;
    }
    if (s->pathlen > 0) {
        s->path[s->pathlen++] = '/';
    }
    memcpy(s->path + s->pathlen, name, n + 1);
    s->pathlen += n;
    return 0;
}

void
lsh__scp_path_pop(lsh_scp *s, size_t len)
{
    s->pathlen = len;
    s->path[len] = '\0';
}

void
lsh__scp_event(lsh_scp *s, int type)
{
    lsh_scp_event ev;
    if (s->cb == NULL) {
        return;
    }
    memset(&ev, 0, sizeof(ev));
    ev.type = type;
    ev.path = s->path;
    ev.size = s->size;
    ev.done = s->off;
    ev.mode = s->fattr.mode;
    s->cb(s->ud, &ev);
}

/* Copies msg with control characters written as \xNN (CVE-2019-6109
 * class: a peer's text must not drive the user's terminal). */
static char *
escape(const char *msg)
{
    size_t n = strlen(msg), k = 0;
    char *e = malloc(4 * n + 1);
    if (e == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)msg[i];
        if (c < 0x20 || c == 0x7f) {
            snprintf(e + k, 5, "\\x%02x", c);
            k += 4;
        } else {
            e[k++] = (char)c;
        }
    }
    e[k] = '\0';
    return e;
}

void
lsh__scp_error(lsh_scp *s, const char *msg, int remote, int fatal)
{
    char *e = escape(msg);
    s->nerrors++;
    s->had_errors = 1;
    if (s->detail == NULL && e != NULL) {
        s->detail = e;
        e = NULL;
    }
    if (s->cb != NULL) {
        lsh_scp_event ev;
        memset(&ev, 0, sizeof(ev));
        ev.type = LSH_SCP_EV_ERROR;
        ev.path = s->path;
        ev.message = e != NULL ? e : (s->detail != NULL ? s->detail : "");
        ev.remote = remote;
        ev.fatal = fatal;
        s->cb(s->ud, &ev);
    }
    free(e);
}

int
lsh__scp_put_line(lsh_scp *s, const char *fmt, ...)
{
    char tmp[LSH_SCP_MAX_LINE + 64];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return LSH_EINVAL;
    }
    if ((size_t)n >= sizeof(tmp)) {
        /* Only error text can be this long: cut it, keep the newline. */
        n = (int)sizeof(tmp) - 1;
        tmp[n - 1] = '\n';
    }
    return lsh_buf_put(&s->out, tmp, (size_t)n);
}

int
lsh__scp_send_error(lsh_scp *s, int fatal, const char *path, const char *msg)
{
    char text[LSH_SCP_MAX_LINE];
    char *clean;
    int r;

    if (path != NULL && path[0] != '\0') {
        snprintf(text, sizeof(text), "%s: %s", path, msg);
    } else {
        snprintf(text, sizeof(text), "%s", msg);
    }
    /* The peer prints it: no newlines or escapes inside the line. */
    if ((clean = escape(text)) == NULL) {
        return LSH_ENOMEM;
    }
    lsh__scp_error(s, clean, 0, fatal);
    r = lsh__scp_put_line(s, "%cscp: %.*s\n", fatal ? 2 : 1,
                          (int)(LSH_SCP_MAX_LINE - 16), clean);
    free(clean);
    return r;
}

int
lsh__scp_fail(lsh_scp *s, int code)
{
    if (s->result == 0) {
        s->result = code;
    }
    s->done = 1;
    return code;
}

const char *
lsh__scp_fs_msg(lsh_scp *s, int code)
{
    const char *m = NULL;
    if (s->fs->errmsg != NULL) {
        m = s->fs->errmsg(s->fs->ctx);
    }
    return m != NULL ? m : lsh_strerror(code);
}

int
lsh_scp_source_new(const lsh_scp_opts *o, const lsh_scp_fs *fs,
                   lsh_scp **out)
{
    return lsh__scp_alloc(o, fs, LSH__SCP_SOURCE, out);
}

int
lsh_scp_sink_new(const lsh_scp_opts *o, const lsh_scp_fs *fs, lsh_scp **out)
{
    int r;
    if (o == NULL || o->target == NULL || o->target[0] == '\0') {
        return LSH_EINVAL;
    }
    if ((r = lsh__scp_alloc(o, fs, LSH__SCP_SINK, out)) != 0) {
        return r;
    }
    return 0;
}

int
lsh_scp_run(lsh_scp *s)
{
    if (s->done) {
        return s->result;
    }
    return s->role == LSH__SCP_SOURCE ? lsh__scp_source_step(s)
                                      : lsh__scp_sink_step(s);
}

int
lsh_scp_feed(lsh_scp *s, const void *p, size_t n, size_t *used)
{
    *used = 0;
    if (s->done) {
        return s->result;
    }
    return s->role == LSH__SCP_SOURCE
               ? lsh__scp_source_feed(s, (const uint8_t *)p, n, used)
               : lsh__scp_sink_feed(s, (const uint8_t *)p, n, used);
}

int
lsh_scp_feed_eof(lsh_scp *s)
{
    if (s->done) {
        return s->result;
    }
    return s->role == LSH__SCP_SOURCE ? lsh__scp_source_eof(s)
                                      : lsh__scp_sink_eof(s);
}

const uint8_t *
lsh_scp_out(const lsh_scp *s, size_t *n)
{
    *n = lsh_buf_len(&s->out);
    return lsh_buf_ptr(&s->out);
}

void
lsh_scp_out_ack(lsh_scp *s, size_t n)
{
    size_t have = lsh_buf_len(&s->out);
    (void)lsh_buf_consume(&s->out, n < have ? n : have);
}

unsigned
lsh_scp_wants(const lsh_scp *s)
{
    unsigned w = lsh_buf_len(&s->out) > 0 ? LSH_SCP_WANT_OUTPUT : 0;
    if (s->done) {
        return w | LSH_SCP_DONE;
    }
    return w | (s->role == LSH__SCP_SOURCE ? lsh__scp_source_wants(s)
                                           : lsh__scp_sink_wants(s));
}

int
lsh_scp_result(const lsh_scp *s, const char **detail)
{
    if (detail != NULL) {
        *detail = s->detail;
    }
    if (s->result != 0) {
        return s->result;
    }
    return s->had_errors ? LSH_EIO : 0;
}

size_t
lsh_scp_error_count(const lsh_scp *s)
{
    return s->nerrors;
}

int
lsh_scp_check_name(const char *name, size_t len)
{
    if (len == 0 || (len == 1 && name[0] == '.') ||
        (len == 2 && name[0] == '.' && name[1] == '.')) {
        return LSH_EREFUSED;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '/' || c < 0x20 || c == 0x7f) {
            return LSH_EREFUSED;
        }
    }
    return 0;
}

int
lsh_scp_quote_arg(lsh_buf *b, const char *arg)
{
    size_t start = lsh_buf_len(b);
    int r = lsh_buf_put_u8(b, '\'');
    for (const char *p = arg; r == 0 && *p != '\0'; p++) {
        if (*p == '\'') {
            r = lsh_buf_put(b, "'\\''", 4);
        } else {
            r = lsh_buf_put_u8(b, (uint8_t)*p);
        }
    }
    if (r == 0) {
        r = lsh_buf_put_u8(b, '\'');
    }
    if (r != 0) {
        (void)lsh_buf_truncate(b, lsh_buf_len(b) - start);
    }
    return r;
}
