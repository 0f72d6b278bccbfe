/*
 * SFTP v3 server state machine (draft-ietf-secsh-filexfer-02 §4-§7,
 * OpenSSH PROTOCOL §4).
 *
 * IMPLEMENTATION NOTES
 * Input is framed into whole packets (at most max_packet bytes); each is
 * decoded by the codec and dispatched through a table indexed by packet
 * type (extended requests through a second table indexed by extension).
 * A handler makes one backend call and appends exactly one response.
 * Handlers share no state except the handle table, and only OPEN/OPENDIR
 * (insert) and CLOSE (remove) change it, so a later asynchronous backend
 * can complete a request's response independently.
 *
 * Handles are 8 bytes: slot (uint32) and generation (uint32).  The
 * generation counts every handle ever issued, so a closed handle's string
 * never names a later file; a handle of the wrong length, slot, generation
 * or kind (file vs directory) is answered with SSH_FX_FAILURE before any
 * backend call.
 */
#include "ssh/sftp/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/buf.h"
#include "common/mem.h"
#include "common/rd.h"

#define HANDLE_LEN 8

enum { H_FREE = 0, H_FILE = 1, H_DIR = 2 };

struct handle {
    int kind;
    uint32_t gen;
    void *obj;
};

struct lsh_sftp_server {
    lsh_sftp_backend be;
    size_t max_handles, max_packet, max_read, out_high;
    int symlink_draft_order;
    lsh_buf in, out;
    int inited;
    int err;
    const char *detail;
    struct handle *h;
    size_t nopen;
    uint32_t gen;
    uint8_t *rbuf; /* READ and copy-data scratch, max_read bytes */
};

typedef int (*handler_fn)(lsh_sftp_server *s, const lsh_sftp_request *q);

/* Helpers */

static int
fail(lsh_sftp_server *s, int err, const char *detail)
{
    if (s->err == 0) {
        s->err = err;
        s->detail = detail;
    }
    return err;
}

static const char *
status_msg(uint32_t code)
{
    static const char *const msgs[] = {
        "Success",       "End of file",   "No such file",
        "Permission denied", "Failure",   "Bad message",
        "No connection", "Connection lost", "Operation unsupported"};
    return code < sizeof(msgs) / sizeof(msgs[0]) ? msgs[code] : "Failure";
}

static int
reply_status(lsh_sftp_server *s, uint32_t id, int code)
{
    return lsh_sftp_put_status(&s->out, id, (uint32_t)code,
                               status_msg((uint32_t)code));
}

/* Copies a borrowed path into a NUL-terminated string (caller frees). */
static char *
cstr(lsh_sftp_str p)
{
    char *c = malloc(p.n + 1);
    if (c != NULL) {
        memcpy(c, p.p, p.n);
        c[p.n] = '\0';
    }
    return c;
}

/* Handle table */

static int
handle_new(lsh_sftp_server *s, int kind, void *obj, uint8_t out[HANDLE_LEN])
{
    for (size_t i = 0; i < s->max_handles; i++) {
        if (s->h[i].kind == H_FREE) {
            s->h[i].kind = kind;
            s->h[i].obj = obj;
            s->h[i].gen = ++s->gen;
            s->nopen++;
            lsh_poke_u32(out, (uint32_t)i);
            lsh_poke_u32(out + 4, s->h[i].gen);
            return 0;
        }
    }
    return LSH_ETOOLARGE;
}

/* The live handle of that kind named by the string, or NULL. */
static struct handle *
handle_get(lsh_sftp_server *s, lsh_sftp_str hs, int kind)
{
    uint32_t slot, gen;
    if (hs.n != HANDLE_LEN) {
        return NULL;
    }
    slot = lsh_peek_u32(hs.p);
    gen = lsh_peek_u32(hs.p + 4);
    if (slot >= s->max_handles || s->h[slot].kind == H_FREE ||
        s->h[slot].gen != gen || gen == 0 ||
        (kind != 0 && s->h[slot].kind != kind)) {
        return NULL;
    }
    return &s->h[slot];
}

static int
handle_release(lsh_sftp_server *s, struct handle *h)
{
    int st = LSH_SFTP_FX_OK;
    if (h->kind == H_FILE && s->be.close != NULL) {
        st = s->be.close(s->be.ctx, h->obj);
    } else if (h->kind == H_DIR && s->be.closedir != NULL) {
        st = s->be.closedir(s->be.ctx, h->obj);
    }
    h->kind = H_FREE;
    h->obj = NULL;
    s->nopen--;
    return st;
}

/* Longname (draft-02 §7: "ls -l" style) */

static void
mode_string(uint32_t m, char out[11])
{
    static const char rwx[] = "rwxrwxrwx";
    char t = '?';
    switch (m & S_IFMT) {
    case S_IFREG: t = '-'; break;
    case S_IFDIR: t = 'd'; break;
    case S_IFLNK: t = 'l'; break;
    case S_IFCHR: t = 'c'; break;
    case S_IFBLK: t = 'b'; break;
    case S_IFIFO: t = 'p'; break;
    case S_IFSOCK: t = 's'; break;
    }
    out[0] = t;
    for (int i = 0; i < 9; i++) {
        out[i + 1] = (m & (0400u >> i)) ? rwx[i] : '-';
    }
    if (m & S_ISUID) {
        out[3] = (m & 0100) ? 's' : 'S';
    }
    if (m & S_ISGID) {
        out[6] = (m & 0010) ? 's' : 'S';
    }
    if (m & S_ISVTX) {
        out[9] = (m & 0001) ? 't' : 'T';
    }
    out[10] = '\0';
}

static void
longname(lsh_sftp_server *s, const lsh_sftp_dirent *e, char *out, size_t n)
{
    char mode[11], user[64], group[64], date[32];
    const lsh_sftp_attrs *a = &e->attrs;
    time_t mt = (time_t)a->mtime;
    struct tm tm;
    int64_t now = s->be.now != NULL ? s->be.now(s->be.ctx) : -1;
    const char *fmt;

    mode_string(a->perms, mode);
    if (s->be.user_name == NULL ||
        s->be.user_name(s->be.ctx, a->uid, user, sizeof(user)) != 0) {
        snprintf(user, sizeof(user), "%u", a->uid);
    }
    if (s->be.group_name == NULL ||
        s->be.group_name(s->be.ctx, a->gid, group, sizeof(group)) != 0) {
        snprintf(group, sizeof(group), "%u", a->gid);
    }
    /* As ls(1): the time of day for dates within six months, else the
     * year. */
    fmt = (now >= 0 && (int64_t)mt <= now + 3600 &&
           (int64_t)mt > now - 182LL * 86400)
              ? "%b %e %H:%M"
              : "%b %e  %Y";
    if (localtime_r(&mt, &tm) == NULL ||
        strftime(date, sizeof(date), fmt, &tm) == 0) {
        snprintf(date, sizeof(date), "?");
    }
    snprintf(out, n, "%s %3u %-8s %-8s %8llu %s %s", mode,
             e->nlink ? e->nlink : 1, user, group,
             (unsigned long long)a->size, date, e->name);
}

/* Requests (draft-02 §6) */

static int
on_init(lsh_sftp_server *s, const lsh_sftp_request *q)
{
    const char *names[16], *datas[16];
    size_t n = 0;
    const lsh_sftp_backend *b = &s->be;
#define ADV(cond, name, ver)                                              \
    do {                                                                  \
        if (cond) {                                                       \
            names[n] = (name);                                            \
            datas[n++] = (ver);                                           \
        }                                                                 \
    } while (0)
    (void)q;
    /* OpenSSH PROTOCOL §4.2: advertise what we implement. */
    ADV(b->rename, "posix-rename@openssh.com", "1");
    ADV(b->statvfs, "statvfs@openssh.com", "2");
    ADV(b->fstatvfs, "fstatvfs@openssh.com", "2");
    ADV(b->link, "hardlink@openssh.com", "1");
    ADV(b->fsync, "fsync@openssh.com", "1");
    ADV(b->setstat, "lsetstat@openssh.com", "1");
    ADV(1, "limits@openssh.com", "1");
    ADV(b->realpath, "expand-path@openssh.com", "1");
    ADV(b->read && b->write, "copy-data", "1");
    ADV(b->home_directory, "home-directory", "1");
    ADV(1, "users-groups-by-id@openssh.com", "1");
#undef ADV
    /* draft-02 §4: we speak version 3 only; older clients get 3 too, as
     * every deployed server does. */
    return lsh_sftp_put_version(&s->out, LSH_SFTP_VERSION, names, datas, n);
}

static int
on_open(lsh_sftp_server *s, const lsh_sftp_request *q)
{
    uint8_t hs[HANDLE_LEN];
    void *f = NULL;
    char *path;
    int st;
    if (s->be.open == NULL) {
        return reply_status(s, q->id, LSH_SFTP_FX_OP_UNSUPPORTED);
    }
    if (s->nopen >= s->max_handles) {
        return lsh_sftp_put_status(&s->out, q->id, LSH_SFTP_FX_FAILURE,
                                   "Too many open handles");
    }
    if ((path = cstr(q->path)) == NULL) {
        return LSH_ENOMEM;
    }
    st = s->be.open(s->be.ctx, path, q->pflags, &q->attrs, &f);
    free(path);
    if (st != LSH_SFTP_FX_OK) {
        return reply_status(s, q->id, st);
    }
    if (handle_new(s, H_FILE, f, hs) != 0) {
        s->be.close(s->be.ctx, f);
        return reply_status(s, q->id, LSH_SFTP_FX_FAILURE);
    }
    return lsh_sftp_put_handle(&s->out, q->id, hs, sizeof(hs));
}

static int
on_opendir(lsh_sftp_server *s, const lsh_sftp_request *q)
{
    uint8_t hs[HANDLE_LEN];
    void *d = NULL;
    char *path;
    int st;
    if (s->be.opendir == NULL || s->be.readdir == NULL) {
        return reply_status(s, q->id, LSH_SFTP_FX_OP_UNSUPPORTED);
    }
    if (s->nopen >= s->max_handles) {
        return lsh_sftp_put_status(&s->out, q->id, LSH_SFTP_FX_FAILURE,
                                   "Too many open handles");
    }
    if ((path = cstr(q->path)) == NULL) {
        return LSH_ENOMEM;
    }
    st = s->be.opendir(s->be.ctx, path, &d);
    free(path);
    if (st != LSH_SFTP_FX_OK) {
        return reply_status(s, q->id, st);
    }
    if (handle_new(s, H_DIR, d, hs) != 0) {
        if (s->be.closedir != NULL) {
            s->be.closedir(s->be.ctx, d);
        }
        return reply_status(s, q->id, LSH_SFTP_FX_FAILURE);
    }
    return lsh_sftp_put_handle(&s->out, q->id, hs, sizeof(hs));
}

static int
bad_handle(lsh_sftp_server *s, uint32_t id)
{
    return lsh_sftp_put_status(&s->out, id, LSH_SFTP_FX_FAILURE,
                               "Invalid handle");
}

static int
on_close(lsh_sftp_server *s, const lsh_sftp_request *q)
{
    struct handle *h = handle_get(s, q->handle, 0);
    if (h == NULL) {
        return bad_handle(s, q->id);
    }
    return reply_status(s, q->id, handle_release(s, h));
}

/* Reads up to len bytes, looping over short reads (draft-02 §6.4: a
 * regular file gives the requested count or up to end of file). */
static int
read_full(lsh_sftp_server *s, void *f, uint64_t off, size_t len,
          size_t *got)
{
    size_t total = 0;
    while (total < len) {
        size_t n = 0;
        int st = s->be.read(s->be.ctx, f, off + total, s->rbuf + total,
                            len - total, &n);
        if (st != LSH_SFTP_FX_OK) {
            if (total > 0) {
                break;
            }
            return st;
        }
        if (n == 0) {
            break;
        }
        total += n;
    }
    *got = total;
    return LSH_SFTP_FX_OK;
}

static int
on_read(lsh_sftp_server *s, const lsh_sftp_request *q)
{
    struct handle *h = handle_get(s, q->handle, H_FILE);
    size_t len = q->len, got = 0;
    int st;
    if (h == NULL) {
        return bad_handle(s, q->id);
    }
    if (s->be.read == NULL) {
        return reply_status(s, q->id, LSH_SFTP_FX_OP_UNSUPPORTED);
    }
    /* PROTOCOL §4.8: longer reads are answered with shorter DATA. */
    if (len > s->max_read) {
        len = s->max_read;
    }
    if (q->offset > (uint64_t)INT64_MAX - len) {
        return reply_status(s, q->id, LSH_SFTP_FX_EOF);
    }
    if ((st = read_full(s, h->obj, q->offset, len, &got)) != 0) {
        return reply_status(s, q->id, st);
    }
    if (got == 0 && len > 0) {
        return reply_status(s, q->id, LSH_SFTP_FX_EOF);
    }
    return lsh_sftp_put_data(&s->out, q->id, s->rbuf, got);
}

static int
on_write(lsh_sftp_server *s, const lsh_sftp_request *q)
{
    struct handle *h = handle_get(s, q->handle, H_FILE);
    if (h == NULL) {
        return bad_handle(s, q->id);
    }
    if (s->be.write == NULL) {
        return reply_status(s, q->id, LSH_SFTP_FX_OP_UNSUPPORTED);
    }
    if (q->offset > (uint64_t)INT64_MAX - q->data.n) {
        return reply_status(s, q->id, LSH_SFTP_FX_FAILURE);
    }
    return reply_status(s, q->id, s->be.write(s->be.ctx, h->obj, q->offset,
                                              q->data.p, q->data.n));
}

static int
on_fstat(lsh_sftp_server *s, const lsh_sftp_request *q)
{
    struct handle *h = handle_get(s, q->handle, H_FILE);
    lsh_sftp_attrs a;
    int st;
    if (h == NULL) {
        return bad_handle(s, q->id);
    }
    if (s->be.fstat == NULL) {
        return reply_status(s, q->id, LSH_SFTP_FX_OP_UNSUPPORTED);
    }
    memset(&a, 0, sizeof(a));
    if ((st = s->be.fstat(s->be.ctx, h->obj, &a)) != 0) {
        return reply_status(s, q->id, st);
    }
    return lsh_sftp_put_attrs(&s->out, q->id, &a);
}

static int
on_fsetstat(lsh_sftp_server *s, const lsh_sftp_request *q)
{
    struct handle *h = handle_get(s, q->handle, H_FILE);
    if (h == NULL) {
        return bad_handle(s, q->id);
    }
    if (s->be.fsetstat == NULL) {
        return reply_status(s, q->id, LSH_SFTP_FX_OP_UNSUPPORTED);
    }
    return reply_status(s, q->id, s->be.fsetstat(s->be.ctx, h->obj,
                                                 &q->attrs));
}

/* READDIR: as many entries as fit well inside one packet (§6.7). */
static int
on_readdir(lsh_sftp_server *s, const lsh_sftp_request *q)
{
    struct handle *h = handle_get(s, q->handle, H_DIR);
    lsh_sftp_dirent *e;
    char *ln;
    size_t mark, countpos;
    uint32_t count = 0;
    int r, st = LSH_SFTP_FX_OK;
    if (h == NULL) {
        return bad_handle(s, q->id);
    }
    e = malloc(sizeof(*e));
    ln = malloc(sizeof(e->name) + 256);
    if (e == NULL || ln == NULL) {
        free(e);
        free(ln);
        return LSH_ENOMEM;
    }
    if ((r = lsh_sftp_begin(&s->out, LSH_SFTP_NAME, &mark)) != 0 ||
        (r = lsh_buf_put_u32(&s->out, q->id)) != 0) {
        goto out;
    }
    countpos = lsh_buf_len(&s->out);
    if ((r = lsh_buf_put_u32(&s->out, 0)) != 0) {
        goto out;
    }
    while (count < 128 &&
           lsh_buf_len(&s->out) - mark < s->max_packet - 8192) {
        memset(e, 0, sizeof(*e));
        st = s->be.readdir(s->be.ctx, h->obj, e);
        if (st != LSH_SFTP_FX_OK) {
            break;
        }
        e->name[sizeof(e->name) - 1] = '\0';
        longname(s, e, ln, sizeof(e->name) + 256);
        if ((r = lsh_buf_put_cstring(&s->out, e->name)) != 0 ||
            (r = lsh_buf_put_cstring(&s->out, ln)) != 0 ||
            (r = lsh_sftp_attrs_put(&s->out, &e->attrs)) != 0) {
            goto out;
        }
        count++;
    }
    if (count == 0) {
        lsh_buf_truncate(&s->out, lsh_buf_len(&s->out) - mark);
        r = reply_status(s, q->id, st);
        goto out;
    }
    if ((r = lsh_buf_poke_u32(&s->out, countpos, count)) != 0) {
        goto out;
    }
    r = lsh_sftp_end(&s->out, mark, s->max_packet);
out:
    free(e);
    free(ln);
    return r;
}

/* A request on one path whose reply is a status. */
static int
path_status(lsh_sftp_server *s, const lsh_sftp_request *q, int st)
{
    return reply_status(s, q->id, st);
}

static int
on_stat_common(lsh_sftp_server *s, const lsh_sftp_request *q, int follow)
{
    lsh_sftp_attrs a;
    char *path;
    int st;
    if (s->be.stat == NULL) {
        return reply_status(s, q->id, LSH_SFTP_FX_OP_UNSUPPORTED);
    }
    if ((path = cstr(q->path)) == NULL) {
        return LSH_ENOMEM;
    }
    memset(&a, 0, sizeof(a));
    st = s->be.stat(s->be.ctx, path, follow, &a);
    free(path);
    if (st != LSH_SFTP_FX_OK) {
        return reply_status(s, q->id, st);
    }
    return lsh_sftp_put_attrs(&s->out, q->id, &a);
}

static int
on_stat(lsh_sftp_server *s, const lsh_sftp_request *q)
{
    return on_stat_common(s, q, 1);
}

static int
on_lstat(lsh_sftp_server *s, const lsh_sftp_request *q)
{
    return on_stat_common(s, q, 0);
}

/* The one-path operations: setstat, lsetstat, remove, mkdir, rmdir. */
static int
one_path(lsh_sftp_server *s, const lsh_sftp_request *q)
{
    char *path;
    int st = LSH_SFTP_FX_OP_UNSUPPORTED;
    const lsh_sftp_backend *b = &s->be;
    if ((path = cstr(q->path)) == NULL) {
        return LSH_ENOMEM;
    }
    switch (q->type) {
    case LSH_SFTP_SETSTAT:
        if (b->setstat != NULL) {
            st = b->setstat(b->ctx, path, 1, &q->attrs);
        }
        break;
    case LSH_SFTP_REMOVE:
        if (b->remove != NULL) {
            st = b->remove(b->ctx, path);
        }
        break;
    case LSH_SFTP_MKDIR:
        if (b->mkdir != NULL) {
            st = b->mkdir(b->ctx, path, &q->attrs);
        }
        break;
    case LSH_SFTP_RMDIR:
        if (b->rmdir != NULL) {
            st = b->rmdir(b->ctx, path);
        }
        break;
    case LSH_SFTP_EXTENDED: /* lsetstat@openssh.com */
        if (b->setstat != NULL) {
            st = b->setstat(b->ctx, path, 0, &q->attrs);
        }
        break;
    }
    free(path);
    return path_status(s, q, st);
}

/* rename, posix-rename, symlink, hardlink. */
static int
two_paths(lsh_sftp_server *s, const lsh_sftp_request *q)
{
    char *p1 = cstr(q->path), *p2 = cstr(q->path2);
    int st = LSH_SFTP_FX_OP_UNSUPPORTED;
    const lsh_sftp_backend *b = &s->be;
    if (p1 == NULL || p2 == NULL) {
        free(p1);
        free(p2);
        return LSH_ENOMEM;
    }
    if (q->type == LSH_SFTP_RENAME && b->rename != NULL) {
        st = b->rename(b->ctx, p1, p2, 0);
    } else if (q->type == LSH_SFTP_SYMLINK && b->symlink != NULL) {
        /* The backend takes (target, link path). */
        st = s->symlink_draft_order ? b->symlink(b->ctx, p2, p1)
                                    : b->symlink(b->ctx, p1, p2);
    } else if (q->ext == LSH_SFTP_EXT_POSIX_RENAME && b->rename != NULL) {
        st = b->rename(b->ctx, p1, p2, 1);
    } else if (q->ext == LSH_SFTP_EXT_HARDLINK && b->link != NULL) {
        st = b->link(b->ctx, p1, p2);
    }
    free(p1);
    free(p2);
    return path_status(s, q, st);
}

/* realpath, expand-path, readlink, home-directory: a NAME with one entry
 * (draft-02 §6.10-6.11). */
static int
one_name(lsh_sftp_server *s, const lsh_sftp_request *q)
{
    char *path = cstr(q->path), *res = NULL;
    int st = LSH_SFTP_FX_OP_UNSUPPORTED, r;
    const lsh_sftp_backend *b = &s->be;
    if (path == NULL) {
        return LSH_ENOMEM;
    }
    if (q->type == LSH_SFTP_REALPATH && b->realpath != NULL) {
        st = b->realpath(b->ctx, path, 0, &res);
    } else if (q->type == LSH_SFTP_READLINK && b->readlink != NULL) {
        st = b->readlink(b->ctx, path, &res);
    } else if (q->ext == LSH_SFTP_EXT_EXPAND_PATH && b->realpath != NULL) {
        st = b->realpath(b->ctx, path, 1, &res);
    } else if (q->ext == LSH_SFTP_EXT_HOME_DIRECTORY &&
               b->home_directory != NULL) {
        st = b->home_directory(b->ctx, path, &res);
    }
    free(path);
    if (st != LSH_SFTP_FX_OK || res == NULL) {
        free(res);
        return reply_status(s, q->id,
                            st != LSH_SFTP_FX_OK ? st : LSH_SFTP_FX_FAILURE);
    }
    r = lsh_sftp_put_name1(&s->out, q->id, res, res, NULL);
    free(res);
    return r;
}

/* Extensions (OpenSSH PROTOCOL §4) */

static int
ext_statvfs(lsh_sftp_server *s, const lsh_sftp_request *q)
{
    lsh_sftp_statvfs v;
    int st = LSH_SFTP_FX_OP_UNSUPPORTED;
    memset(&v, 0, sizeof(v));
    if (q->ext == LSH_SFTP_EXT_FSTATVFS) {
        struct handle *h = handle_get(s, q->handle, H_FILE);
        if (h == NULL) {
            return bad_handle(s, q->id);
        }
        if (s->be.fstatvfs != NULL) {
            st = s->be.fstatvfs(s->be.ctx, h->obj, &v);
        }
    } else if (s->be.statvfs != NULL) {
        char *path = cstr(q->path);
        if (path == NULL) {
            return LSH_ENOMEM;
        }
        st = s->be.statvfs(s->be.ctx, path, &v);
        free(path);
    }
    if (st != LSH_SFTP_FX_OK) {
        return reply_status(s, q->id, st);
    }
    return lsh_sftp_put_statvfs(&s->out, q->id, &v);
}

static int
ext_fsync(lsh_sftp_server *s, const lsh_sftp_request *q)
{
    struct handle *h = handle_get(s, q->handle, H_FILE);
    if (h == NULL) {
        return bad_handle(s, q->id);
    }
    if (s->be.fsync == NULL) {
        return reply_status(s, q->id, LSH_SFTP_FX_OP_UNSUPPORTED);
    }
    return reply_status(s, q->id, s->be.fsync(s->be.ctx, h->obj));
}

static int
ext_limits(lsh_sftp_server *s, const lsh_sftp_request *q)
{
    /* PROTOCOL §4.8; the write limit is what a WRITE packet can carry. */
    return lsh_sftp_put_limits(&s->out, q->id, s->max_packet, s->max_read,
                               s->max_packet - 1024, s->max_handles);
}

/* copy-data (PROTOCOL §4.10), through the backend's read and write. */
static int
ext_copy_data(lsh_sftp_server *s, const lsh_sftp_request *q)
{
    struct handle *from = handle_get(s, q->handle, H_FILE);
    struct handle *to = handle_get(s, q->handle2, H_FILE);
    uint64_t done = 0, roff = q->offset, woff = q->offset2, limit = q->len64;
    if (from == NULL || to == NULL) {
        return bad_handle(s, q->id);
    }
    if (from == to) {
        /* PROTOCOL §4.10 says SSH_FX_INVALID_PARAMETER, a v6 code; v3's
         * nearest is FAILURE. */
        return lsh_sftp_put_status(&s->out, q->id, LSH_SFTP_FX_FAILURE,
                                   "Source and destination are the same");
    }
    if (s->be.read == NULL || s->be.write == NULL) {
        return reply_status(s, q->id, LSH_SFTP_FX_OP_UNSUPPORTED);
    }
    /* Length 0 means "to end of file": the end as it is now, so that a
     * copy into the file it reads from cannot chase its own tail. */
    if (limit == 0 && s->be.fstat != NULL) {
        lsh_sftp_attrs a;
        memset(&a, 0, sizeof(a));
        if (s->be.fstat(s->be.ctx, from->obj, &a) == LSH_SFTP_FX_OK &&
            (a.flags & LSH_SFTP_ATTR_SIZE)) {
            if (a.size <= roff) {
                return reply_status(s, q->id, LSH_SFTP_FX_OK);
            }
            limit = a.size - roff;
        }
    }
    while (limit == 0 || done < limit) {
        size_t want = s->max_read, got = 0;
        int st;
        if (limit != 0 && limit - done < want) {
            want = (size_t)(limit - done);
        }
        if (roff > (uint64_t)INT64_MAX - want ||
            woff > (uint64_t)INT64_MAX - want) {
            return reply_status(s, q->id, LSH_SFTP_FX_FAILURE);
        }
        if ((st = read_full(s, from->obj, roff, want, &got)) != 0) {
            return reply_status(s, q->id, st);
        }
        if (got == 0) {
            break;
        }
        st = s->be.write(s->be.ctx, to->obj, woff, s->rbuf, got);
        if (st != LSH_SFTP_FX_OK) {
            return reply_status(s, q->id, st);
        }
        roff += got;
        woff += got;
        done += got;
    }
    return reply_status(s, q->id, LSH_SFTP_FX_OK);
}

/* users-groups-by-id@openssh.com (PROTOCOL §4.12). */
static int
put_names(lsh_sftp_server *s, lsh_sftp_str ids, int groups)
{
    lsh_buf list;
    char name[256];
    int r = 0;
    lsh_buf_init(&list, s->max_packet);
    for (size_t i = 0; i + 4 <= ids.n; i += 4) {
        uint32_t id = lsh_peek_u32(ids.p + i);
        int (*fn)(void *, uint32_t, char *, size_t) =
            groups ? s->be.group_name : s->be.user_name;
        if (fn == NULL || fn(s->be.ctx, id, name, sizeof(name)) != 0) {
            name[0] = '\0';
        }
        if ((r = lsh_buf_put_cstring(&list, name)) != 0) {
            goto out;
        }
    }
    r = lsh_buf_put_stringb(&s->out, &list);
out:
    lsh_buf_free(&list);
    return r;
}

static int
ext_users_groups(lsh_sftp_server *s, const lsh_sftp_request *q)
{
    size_t mark;
    int r;
    if ((r = lsh_sftp_begin(&s->out, LSH_SFTP_EXTENDED_REPLY, &mark)) != 0) {
        return r;
    }
    if ((r = lsh_buf_put_u32(&s->out, q->id)) != 0 ||
        (r = put_names(s, q->ids, 0)) != 0 ||
        (r = put_names(s, q->ids2, 1)) != 0 ||
        (r = lsh_sftp_end(&s->out, mark, s->max_packet)) != 0) {
        lsh_buf_truncate(&s->out, lsh_buf_len(&s->out) - mark);
        if (r == LSH_ETOOLARGE) {
            return reply_status(s, q->id, LSH_SFTP_FX_FAILURE);
        }
        return r;
    }
    return 0;
}

static int
ext_unsupported(lsh_sftp_server *s, const lsh_sftp_request *q)
{
    return reply_status(s, q->id, LSH_SFTP_FX_OP_UNSUPPORTED);
}

static const handler_fn ext_handlers[] = {
    [LSH_SFTP_EXT_UNKNOWN] = ext_unsupported,
    [LSH_SFTP_EXT_POSIX_RENAME] = two_paths,
    [LSH_SFTP_EXT_STATVFS] = ext_statvfs,
    [LSH_SFTP_EXT_FSTATVFS] = ext_statvfs,
    [LSH_SFTP_EXT_HARDLINK] = two_paths,
    [LSH_SFTP_EXT_FSYNC] = ext_fsync,
    [LSH_SFTP_EXT_LSETSTAT] = one_path,
    [LSH_SFTP_EXT_LIMITS] = ext_limits,
    [LSH_SFTP_EXT_EXPAND_PATH] = one_name,
    [LSH_SFTP_EXT_COPY_DATA] = ext_copy_data,
    [LSH_SFTP_EXT_HOME_DIRECTORY] = one_name,
    [LSH_SFTP_EXT_USERS_GROUPS] = ext_users_groups,
};

static int
on_extended(lsh_sftp_server *s, const lsh_sftp_request *q)
{
    return ext_handlers[q->ext](s, q);
}

static const handler_fn handlers[LSH_SFTP_SYMLINK + 1] = {
    [LSH_SFTP_OPEN] = on_open,         [LSH_SFTP_CLOSE] = on_close,
    [LSH_SFTP_READ] = on_read,         [LSH_SFTP_WRITE] = on_write,
    [LSH_SFTP_LSTAT] = on_lstat,       [LSH_SFTP_FSTAT] = on_fstat,
    [LSH_SFTP_SETSTAT] = one_path,     [LSH_SFTP_FSETSTAT] = on_fsetstat,
    [LSH_SFTP_OPENDIR] = on_opendir,   [LSH_SFTP_READDIR] = on_readdir,
    [LSH_SFTP_REMOVE] = one_path,      [LSH_SFTP_MKDIR] = one_path,
    [LSH_SFTP_RMDIR] = one_path,       [LSH_SFTP_REALPATH] = one_name,
    [LSH_SFTP_STAT] = on_stat,         [LSH_SFTP_RENAME] = two_paths,
    [LSH_SFTP_READLINK] = one_name,    [LSH_SFTP_SYMLINK] = two_paths,
};

/* One framed packet. */
static int
dispatch(lsh_sftp_server *s, const uint8_t *pkt, size_t n)
{
    lsh_sftp_request q;
    int id_ok = 0;
    int r = lsh_sftp_request_decode(pkt, n, &q, &id_ok);
    if (!s->inited) {
        /* draft-02 §4: the first packet is INIT, and only once. */
        if (r != 0 || q.type != LSH_SFTP_INIT) {
            return fail(s, LSH_EPROTOCOL, "first packet is not INIT");
        }
        s->inited = 1;
        return on_init(s, &q);
    }
    if (id_ok && q.type == LSH_SFTP_INIT) {
        return fail(s, LSH_EPROTOCOL, "second INIT");
    }
    if (r == LSH_EUNSUPPORTED) {
        return reply_status(s, q.id, LSH_SFTP_FX_OP_UNSUPPORTED);
    }
    if (r != 0) {
        if (!id_ok) {
            return fail(s, LSH_EBADPACKET, "packet too short for an id");
        }
        return reply_status(s, q.id, LSH_SFTP_FX_BAD_MESSAGE);
    }
    if (q.type == LSH_SFTP_EXTENDED) {
        return on_extended(s, &q);
    }
    if (q.type >= sizeof(handlers) / sizeof(handlers[0]) ||
        handlers[q.type] == NULL) {
        return reply_status(s, q.id, LSH_SFTP_FX_OP_UNSUPPORTED);
    }
    return handlers[q.type](s, &q);
}

/* API */

int
lsh_sftp_server_new(const lsh_sftp_server_config *cfg, lsh_sftp_server **out)
{
    lsh_sftp_server *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return LSH_ENOMEM;
    }
    s->be = cfg->backend;
    s->max_handles = cfg->max_handles ? cfg->max_handles : 256;
    s->symlink_draft_order = cfg->symlink_draft_order;
    s->max_packet = cfg->max_packet ? cfg->max_packet : LSH_SFTP_MAX_PACKET;
    if (s->max_packet < 34000) {
        s->max_packet = 34000; /* draft-02 §3 minimum */
    }
    s->max_read = cfg->max_read ? cfg->max_read : s->max_packet - 1024;
    if (s->max_read > s->max_packet - 1024) {
        s->max_read = s->max_packet - 1024;
    }
    s->out_high = cfg->out_high ? cfg->out_high : 4 * s->max_packet;
    lsh_buf_init(&s->in, cfg->in_max > s->max_packet + 4
                             ? cfg->in_max
                             : s->max_packet + 4);
    lsh_buf_init(&s->out, s->out_high + 2 * s->max_packet + 64);
    s->h = calloc(s->max_handles, sizeof(*s->h));
    s->rbuf = malloc(s->max_read);
    if (s->h == NULL || s->rbuf == NULL) {
        lsh_sftp_server_free(s);
        return LSH_ENOMEM;
    }
    *out = s;
    return 0;
}

void
lsh_sftp_server_free(lsh_sftp_server *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; s->h != NULL && i < s->max_handles; i++) {
        if (s->h[i].kind != H_FREE) {
            handle_release(s, &s->h[i]);
        }
    }
    free(s->h);
    free(s->rbuf);
    lsh_buf_free(&s->in);
    lsh_buf_free(&s->out);
    free(s);
}

/* Handles every complete packet in the input while the output has room. */
static int
process(lsh_sftp_server *s)
{
    while (s->err == 0 && lsh_buf_len(&s->out) < s->out_high) {
        const uint8_t *pkt;
        size_t len, used;
        int r = lsh_sftp_frame(lsh_buf_ptr(&s->in), lsh_buf_len(&s->in),
                               s->max_packet, &pkt, &len, &used);
        if (r == 0) {
            break;
        }
        if (r < 0) {
            return fail(s, r, "bad packet length");
        }
        if ((r = dispatch(s, pkt, len)) != 0) {
            return fail(s, r, "cannot handle request");
        }
        lsh_buf_consume(&s->in, used);
    }
    return s->err;
}

int
lsh_sftp_server_feed(lsh_sftp_server *s, const uint8_t *data, size_t n,
                     size_t *used)
{
    size_t taken = 0;
    int r;
    *used = 0;
    if (s->err != 0) {
        return s->err;
    }
    for (;;) {
        size_t room = s->in.max - lsh_buf_len(&s->in);
        size_t k = n - taken < room ? n - taken : room;
        if (k > 0 && (r = lsh_buf_put(&s->in, data + taken, k)) != 0) {
            return fail(s, r, "input buffer");
        }
        taken += k;
        if ((r = process(s)) != 0) {
            break;
        }
        /* Stop when all is taken, or nothing more can be handled now. */
        if (taken == n || lsh_buf_len(&s->out) >= s->out_high ||
            lsh_buf_len(&s->in) == s->in.max) {
            break;
        }
    }
    *used = taken;
    return s->err;
}

void
lsh_sftp_server_out(lsh_sftp_server *s, const uint8_t **p, size_t *n)
{
    *p = lsh_buf_ptr(&s->out);
    *n = lsh_buf_len(&s->out);
}

void
lsh_sftp_server_out_ack(lsh_sftp_server *s, size_t n)
{
    if (n > lsh_buf_len(&s->out)) {
        n = lsh_buf_len(&s->out);
    }
    lsh_buf_consume(&s->out, n);
    /* Requests held back by the high-water mark can run now. */
    if (s->err == 0) {
        process(s);
    }
}

void
lsh_sftp_server_out_drop(lsh_sftp_server *s, size_t n)
{
    if (n > lsh_buf_len(&s->out)) {
        n = lsh_buf_len(&s->out);
    }
    lsh_buf_consume(&s->out, n);
}

int
lsh_sftp_server_put_input(lsh_sftp_server *s, const uint8_t *data, size_t n,
                          size_t *used)
{
    size_t room = s->in.max - lsh_buf_len(&s->in);
    size_t k = n < room ? n : room;
    int r;
    *used = 0;
    if (s->err != 0) {
        return s->err;
    }
    if (k > 0 && (r = lsh_buf_put(&s->in, data, k)) != 0) {
        return fail(s, r, "input buffer");
    }
    *used = k;
    return 0;
}

int
lsh_sftp_server_pending(const lsh_sftp_server *s)
{
    const uint8_t *pkt;
    size_t len, used;
    if (s->err != 0) {
        return 0;
    }
    /* A bad length counts: the feed that meets it sets the error. */
    return lsh_sftp_frame(lsh_buf_ptr(&s->in), lsh_buf_len(&s->in),
                          s->max_packet, &pkt, &len, &used) != 0;
}

int
lsh_sftp_server_error(const lsh_sftp_server *s, const char **detail)
{
    if (detail != NULL) {
        *detail = s->detail;
    }
    return s->err;
}

size_t
lsh_sftp_server_handles(const lsh_sftp_server *s)
{
    return s->nopen;
}

/* Output pacing (see server.h; RFC 4254 §5.2) */

void
lsh_sftp_pace_init(lsh_sftp_pace *p)
{
    memset(p, 0, sizeof(*p));
}

size_t
lsh_sftp_pace_cap(const lsh_sftp_pace *p)
{
    double bdp2 = 2.0 * p->rate * p->rtt;
    size_t cap = LSH_SFTP_PACE_MIN;
    if (p->adj_min == 0 || p->adj_min >= UINT32_MAX / 2 ||
        bdp2 >= (double)UINT32_MAX) {
        return UINT32_MAX;
    }
    if (bdp2 > (double)cap) {
        cap = (size_t)bdp2;
    }
    return cap > 2 * p->adj_min ? cap : (size_t)(2 * p->adj_min);
}

size_t
lsh_sftp_pace_room(lsh_sftp_pace *p, uint32_t window, double now)
{
    uint64_t inflight, acked;
    size_t cap;
    if (window > p->wtop) {
        p->wtop = window;
    }
    inflight = p->wtop - window;
    if (inflight > p->sent) {
        inflight = p->sent; /* window used before we looked: not ours */
    }
    acked = p->sent - inflight;
    if (acked > p->acked) {
        /* One or more adjusts since the last look: their sum bounds the
         * smallest from above, which is what the cap needs. */
        if (p->adj_min == 0 || acked - p->acked < p->adj_min) {
            p->adj_min = acked - p->acked;
        }
        p->acked = acked;
    }
    if (p->probing && p->acked >= p->mark) {
        double dt = now - p->t0, r;
        p->probing = 0;
        if (dt > 0) {
            if (p->rtt == 0 || dt < p->rtt) {
                p->rtt = dt;
            }
            /* Smoothed: acks that arrive in a bunch end a probe early
             * with a burst of bytes, and one such sample must not let a
             * whole window out at once. */
            r = (double)(p->acked - p->mark_acked) / dt;
            p->rate = p->rate == 0 ? r : p->rate + (r - p->rate) / 4;
        }
    }
    cap = lsh_sftp_pace_cap(p);
    if (inflight >= cap) {
        return 0;
    }
    return cap - inflight < window ? (size_t)(cap - inflight) : window;
}

void
lsh_sftp_pace_sent(lsh_sftp_pace *p, size_t n, double now)
{
    if (n == 0) {
        return;
    }
    p->sent += n;
    if (!p->probing) {
        p->probing = 1;
        p->mark = p->sent;
        p->mark_acked = p->acked;
        p->t0 = now;
    }
}
