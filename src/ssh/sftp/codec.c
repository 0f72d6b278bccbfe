/*
 * SFTP v3 codec (draft-ietf-secsh-filexfer-02 §3-§8, OpenSSH PROTOCOL §4).
 * Each request's decoder and encoder follow the draft's layout; every
 * length is checked (prefix readable, under its cap, present) through
 * lsh_rd, and every body ends with lsh_rd_end.
 */
#include "ssh/sftp/codec.h"

#include <string.h>

/* Framing (draft-02 §3) */

int
lsh_sftp_frame(const uint8_t *p, size_t n, size_t max, const uint8_t **pkt,
               size_t *pktlen, size_t *consumed)
{
    uint32_t len;
    if (n < 4) {
        return 0;
    }
    len = lsh_peek_u32(p);
    if (len == 0) {
        return LSH_EBADPACKET;
    }
    if (len > max) {
        return LSH_ETOOLARGE;
    }
    if (n - 4 < len) {
        return 0;
    }
    *pkt = p + 4;
    *pktlen = len;
    *consumed = (size_t)len + 4;
    return 1;
}

int
lsh_sftp_begin(lsh_buf *b, uint8_t type, size_t *mark)
{
    int r;
    size_t m = lsh_buf_len(b);
    if ((r = lsh_buf_put_u32(b, 0)) != 0) {
        return r;
    }
    if ((r = lsh_buf_put_u8(b, type)) != 0) {
        lsh_buf_truncate(b, 4);
        return r;
    }
    *mark = m;
    return 0;
}

int
lsh_sftp_end(lsh_buf *b, size_t mark, size_t max)
{
    size_t len = lsh_buf_len(b) - mark - 4;
    if (len > max || len > UINT32_MAX) {
        lsh_buf_truncate(b, lsh_buf_len(b) - mark);
        return LSH_ETOOLARGE;
    }
    return lsh_buf_poke_u32(b, mark, (uint32_t)len);
}

/* Drops a half-built packet after an encoder failure. */
static int
abort_pkt(lsh_buf *b, size_t mark, int r)
{
    lsh_buf_truncate(b, lsh_buf_len(b) - mark);
    return r;
}

/* Fields */

static int
rd_str(lsh_rd *rd, size_t max, lsh_sftp_str *s)
{
    return lsh_rd_string_max(rd, max, &s->p, &s->n);
}

/* A path: capped and free of NUL (a NUL would truncate it below). */
static int
rd_path(lsh_rd *rd, lsh_sftp_str *s)
{
    int r;
    lsh_sftp_str t;
    if ((r = rd_str(rd, LSH_SFTP_MAX_PATH, &t)) != 0) {
        return r;
    }
    if (t.n > 0 && memchr(t.p, 0, t.n) != NULL) {
        return LSH_EBADSTRING;
    }
    *s = t;
    return 0;
}

static int
rd_handle(lsh_rd *rd, lsh_sftp_str *s)
{
    return rd_str(rd, LSH_SFTP_MAX_HANDLE, s);
}

/* draft-02 §5 */
int
lsh_sftp_attrs_decode(lsh_rd *rd, lsh_sftp_attrs *out)
{
    lsh_rd save = *rd;
    lsh_sftp_attrs a;
    int r = 0;
    memset(&a, 0, sizeof(a));
    if ((r = lsh_rd_u32(rd, &a.flags)) != 0) {
        goto out;
    }
    if (a.flags & ~LSH_SFTP_ATTR_KNOWN) {
        r = LSH_EPROTOCOL; /* "It is a protocol error ..." */
        goto out;
    }
    if ((a.flags & LSH_SFTP_ATTR_SIZE) &&
        (r = lsh_rd_u64(rd, &a.size)) != 0) {
        goto out;
    }
    if ((a.flags & LSH_SFTP_ATTR_UIDGID) &&
        ((r = lsh_rd_u32(rd, &a.uid)) != 0 ||
         (r = lsh_rd_u32(rd, &a.gid)) != 0)) {
        goto out;
    }
    if ((a.flags & LSH_SFTP_ATTR_PERMISSIONS) &&
        (r = lsh_rd_u32(rd, &a.perms)) != 0) {
        goto out;
    }
    if ((a.flags & LSH_SFTP_ATTR_ACMODTIME) &&
        ((r = lsh_rd_u32(rd, &a.atime)) != 0 ||
         (r = lsh_rd_u32(rd, &a.mtime)) != 0)) {
        goto out;
    }
    if (a.flags & LSH_SFTP_ATTR_EXTENDED) {
        size_t start;
        if ((r = lsh_rd_u32(rd, &a.ext_count)) != 0) {
            goto out;
        }
        if (a.ext_count > LSH_SFTP_MAX_ATTR_EXT) {
            r = LSH_ETOOLARGE;
            goto out;
        }
        start = rd->pos;
        for (uint32_t i = 0; i < a.ext_count; i++) {
            lsh_sftp_str t, d;
            if ((r = rd_str(rd, LSH_RD_DEFAULT_MAX, &t)) != 0 ||
                (r = rd_str(rd, LSH_RD_DEFAULT_MAX, &d)) != 0) {
                goto out;
            }
        }
        a.ext.p = rd->p + start;
        a.ext.n = rd->pos - start;
    }
    *out = a;
out:
    if (r != 0) {
        *rd = save;
    }
    return r;
}

int
lsh_sftp_attrs_put(lsh_buf *b, const lsh_sftp_attrs *a)
{
    size_t start = lsh_buf_len(b);
    uint32_t flags = a->flags & LSH_SFTP_ATTR_KNOWN;
    int r;
    if (a->ext_count == 0) {
        flags &= ~LSH_SFTP_ATTR_EXTENDED;
    }
    if ((r = lsh_buf_put_u32(b, flags)) != 0) {
        goto fail;
    }
    if ((flags & LSH_SFTP_ATTR_SIZE) &&
        (r = lsh_buf_put_u64(b, a->size)) != 0) {
        goto fail;
    }
    if ((flags & LSH_SFTP_ATTR_UIDGID) &&
        ((r = lsh_buf_put_u32(b, a->uid)) != 0 ||
         (r = lsh_buf_put_u32(b, a->gid)) != 0)) {
        goto fail;
    }
    if ((flags & LSH_SFTP_ATTR_PERMISSIONS) &&
        (r = lsh_buf_put_u32(b, a->perms)) != 0) {
        goto fail;
    }
    if ((flags & LSH_SFTP_ATTR_ACMODTIME) &&
        ((r = lsh_buf_put_u32(b, a->atime)) != 0 ||
         (r = lsh_buf_put_u32(b, a->mtime)) != 0)) {
        goto fail;
    }
    if ((flags & LSH_SFTP_ATTR_EXTENDED) &&
        ((r = lsh_buf_put_u32(b, a->ext_count)) != 0 ||
         (r = lsh_buf_put(b, a->ext.p, a->ext.n)) != 0)) {
        goto fail;
    }
    return 0;
fail:
    lsh_buf_truncate(b, lsh_buf_len(b) - start);
    return r;
}

/* Extended request names (OpenSSH PROTOCOL §4.3-§4.12) */

static const char *const ext_names[] = {
    [LSH_SFTP_EXT_UNKNOWN] = "",
    [LSH_SFTP_EXT_POSIX_RENAME] = "posix-rename@openssh.com",
    [LSH_SFTP_EXT_STATVFS] = "statvfs@openssh.com",
    [LSH_SFTP_EXT_FSTATVFS] = "fstatvfs@openssh.com",
    [LSH_SFTP_EXT_HARDLINK] = "hardlink@openssh.com",
    [LSH_SFTP_EXT_FSYNC] = "fsync@openssh.com",
    [LSH_SFTP_EXT_LSETSTAT] = "lsetstat@openssh.com",
    [LSH_SFTP_EXT_LIMITS] = "limits@openssh.com",
    [LSH_SFTP_EXT_EXPAND_PATH] = "expand-path@openssh.com",
    [LSH_SFTP_EXT_COPY_DATA] = "copy-data",
    [LSH_SFTP_EXT_HOME_DIRECTORY] = "home-directory",
    [LSH_SFTP_EXT_USERS_GROUPS] = "users-groups-by-id@openssh.com",
};

lsh_sftp_ext
lsh_sftp_ext_lookup(const uint8_t *name, size_t n)
{
    for (size_t i = 1; i < sizeof(ext_names) / sizeof(ext_names[0]); i++) {
        if (strlen(ext_names[i]) == n && memcmp(ext_names[i], name, n) == 0) {
            return (lsh_sftp_ext)i;
        }
    }
    return LSH_SFTP_EXT_UNKNOWN;
}

const char *
lsh_sftp_ext_name(lsh_sftp_ext e)
{
    if ((size_t)e >= sizeof(ext_names) / sizeof(ext_names[0])) {
        return "";
    }
    return ext_names[e];
}

/* A packed list of uint32 ids (PROTOCOL §4.12). */
static int
rd_ids(lsh_rd *rd, lsh_sftp_str *s)
{
    int r;
    lsh_sftp_str t;
    if ((r = rd_str(rd, (size_t)LSH_SFTP_MAX_IDS * 4, &t)) != 0) {
        return r;
    }
    if (t.n % 4 != 0) {
        return LSH_EBADSTRING;
    }
    *s = t;
    return 0;
}

static int
decode_extended(lsh_rd *rd, lsh_sftp_request *q)
{
    int r;
    if ((r = rd_str(rd, 256, &q->ext_name)) != 0) {
        return r;
    }
    q->ext = lsh_sftp_ext_lookup(q->ext_name.p, q->ext_name.n);
    q->ext_data.p = lsh_rd_cur(rd);
    q->ext_data.n = lsh_rd_remaining(rd);
    switch (q->ext) {
    case LSH_SFTP_EXT_POSIX_RENAME:
    case LSH_SFTP_EXT_HARDLINK:
        if ((r = rd_path(rd, &q->path)) != 0 ||
            (r = rd_path(rd, &q->path2)) != 0) {
            return r;
        }
        break;
    case LSH_SFTP_EXT_STATVFS:
    case LSH_SFTP_EXT_EXPAND_PATH:
    case LSH_SFTP_EXT_HOME_DIRECTORY:
        if ((r = rd_path(rd, &q->path)) != 0) {
            return r;
        }
        break;
    case LSH_SFTP_EXT_FSTATVFS:
    case LSH_SFTP_EXT_FSYNC:
        if ((r = rd_handle(rd, &q->handle)) != 0) {
            return r;
        }
        break;
    case LSH_SFTP_EXT_LSETSTAT:
        if ((r = rd_path(rd, &q->path)) != 0 ||
            (r = lsh_sftp_attrs_decode(rd, &q->attrs)) != 0) {
            return r;
        }
        break;
    case LSH_SFTP_EXT_LIMITS:
        break;
    case LSH_SFTP_EXT_COPY_DATA:
        if ((r = rd_handle(rd, &q->handle)) != 0 ||
            (r = lsh_rd_u64(rd, &q->offset)) != 0 ||
            (r = lsh_rd_u64(rd, &q->len64)) != 0 ||
            (r = rd_handle(rd, &q->handle2)) != 0 ||
            (r = lsh_rd_u64(rd, &q->offset2)) != 0) {
            return r;
        }
        break;
    case LSH_SFTP_EXT_USERS_GROUPS:
        if ((r = rd_ids(rd, &q->ids)) != 0 ||
            (r = rd_ids(rd, &q->ids2)) != 0) {
            return r;
        }
        break;
    case LSH_SFTP_EXT_UNKNOWN:
        return lsh_rd_skip(rd, lsh_rd_remaining(rd));
    }
    return 0;
}

/* draft-02 §4 (INIT) and §6 (requests). */
static int
decode_body(lsh_rd *rd, lsh_sftp_request *q)
{
    int r = 0;
    switch (q->type) {
    case LSH_SFTP_OPEN:
        if ((r = rd_path(rd, &q->path)) != 0 ||
            (r = lsh_rd_u32(rd, &q->pflags)) != 0 ||
            (r = lsh_sftp_attrs_decode(rd, &q->attrs)) != 0) {
            return r;
        }
        break;
    case LSH_SFTP_CLOSE:
    case LSH_SFTP_FSTAT:
    case LSH_SFTP_READDIR:
        r = rd_handle(rd, &q->handle);
        break;
    case LSH_SFTP_READ:
        if ((r = rd_handle(rd, &q->handle)) != 0 ||
            (r = lsh_rd_u64(rd, &q->offset)) != 0 ||
            (r = lsh_rd_u32(rd, &q->len)) != 0) {
            return r;
        }
        break;
    case LSH_SFTP_WRITE:
        if ((r = rd_handle(rd, &q->handle)) != 0 ||
            (r = lsh_rd_u64(rd, &q->offset)) != 0 ||
            (r = rd_str(rd, LSH_SFTP_MAX_PACKET, &q->data)) != 0) {
            return r;
        }
        break;
    case LSH_SFTP_LSTAT:
    case LSH_SFTP_STAT:
    case LSH_SFTP_OPENDIR:
    case LSH_SFTP_REMOVE:
    case LSH_SFTP_RMDIR:
    case LSH_SFTP_REALPATH:
    case LSH_SFTP_READLINK:
        r = rd_path(rd, &q->path);
        break;
    case LSH_SFTP_SETSTAT:
    case LSH_SFTP_MKDIR:
        if ((r = rd_path(rd, &q->path)) != 0 ||
            (r = lsh_sftp_attrs_decode(rd, &q->attrs)) != 0) {
            return r;
        }
        break;
    case LSH_SFTP_FSETSTAT:
        if ((r = rd_handle(rd, &q->handle)) != 0 ||
            (r = lsh_sftp_attrs_decode(rd, &q->attrs)) != 0) {
            return r;
        }
        break;
    case LSH_SFTP_RENAME:
    case LSH_SFTP_SYMLINK:
        /* SYMLINK: OpenSSH's order, targetpath then linkpath (§4.1). */
        if ((r = rd_path(rd, &q->path)) != 0 ||
            (r = rd_path(rd, &q->path2)) != 0) {
            return r;
        }
        break;
    case LSH_SFTP_EXTENDED:
        r = decode_extended(rd, q);
        break;
    default:
        return LSH_EUNSUPPORTED;
    }
    return r;
}

int
lsh_sftp_request_decode(const uint8_t *pkt, size_t n, lsh_sftp_request *q,
                        int *id_ok)
{
    lsh_rd rd;
    int r;
    memset(q, 0, sizeof(*q));
    *id_ok = 0;
    lsh_rd_init(&rd, pkt, n);
    if ((r = lsh_rd_u8(&rd, &q->type)) != 0 ||
        (r = lsh_rd_u32(&rd, &q->id)) != 0) {
        return r;
    }
    *id_ok = 1;
    if (q->type == LSH_SFTP_INIT) {
        /* The client's extension pairs are ignored (draft-02 §4). */
        q->ext_data.p = lsh_rd_cur(&rd);
        q->ext_data.n = lsh_rd_remaining(&rd);
        return 0;
    }
    if ((r = decode_body(&rd, q)) != 0) {
        return r;
    }
    return lsh_rd_end(&rd);
}

static int
put_str(lsh_buf *b, lsh_sftp_str s)
{
    return lsh_buf_put_string(b, s.p, s.n);
}

static int
put_ext_body(lsh_buf *b, const lsh_sftp_request *q)
{
    int r;
    if ((r = lsh_buf_put_cstring(b, lsh_sftp_ext_name(q->ext))) != 0) {
        return r;
    }
    switch (q->ext) {
    case LSH_SFTP_EXT_POSIX_RENAME:
    case LSH_SFTP_EXT_HARDLINK:
        if ((r = put_str(b, q->path)) != 0) {
            return r;
        }
        return put_str(b, q->path2);
    case LSH_SFTP_EXT_STATVFS:
    case LSH_SFTP_EXT_EXPAND_PATH:
    case LSH_SFTP_EXT_HOME_DIRECTORY:
        return put_str(b, q->path);
    case LSH_SFTP_EXT_FSTATVFS:
    case LSH_SFTP_EXT_FSYNC:
        return put_str(b, q->handle);
    case LSH_SFTP_EXT_LSETSTAT:
        if ((r = put_str(b, q->path)) != 0) {
            return r;
        }
        return lsh_sftp_attrs_put(b, &q->attrs);
    case LSH_SFTP_EXT_LIMITS:
        return 0;
    case LSH_SFTP_EXT_COPY_DATA:
        if ((r = put_str(b, q->handle)) != 0 ||
            (r = lsh_buf_put_u64(b, q->offset)) != 0 ||
            (r = lsh_buf_put_u64(b, q->len64)) != 0 ||
            (r = put_str(b, q->handle2)) != 0) {
            return r;
        }
        return lsh_buf_put_u64(b, q->offset2);
    case LSH_SFTP_EXT_USERS_GROUPS:
        if ((r = put_str(b, q->ids)) != 0) {
            return r;
        }
        return put_str(b, q->ids2);
    case LSH_SFTP_EXT_UNKNOWN:
        break;
    }
    return LSH_EINVAL;
}

static int
put_body(lsh_buf *b, const lsh_sftp_request *q)
{
    int r = 0;
    switch (q->type) {
    case LSH_SFTP_OPEN:
        if ((r = put_str(b, q->path)) != 0 ||
            (r = lsh_buf_put_u32(b, q->pflags)) != 0) {
            return r;
        }
        return lsh_sftp_attrs_put(b, &q->attrs);
    case LSH_SFTP_CLOSE:
    case LSH_SFTP_FSTAT:
    case LSH_SFTP_READDIR:
        return put_str(b, q->handle);
    case LSH_SFTP_READ:
        if ((r = put_str(b, q->handle)) != 0 ||
            (r = lsh_buf_put_u64(b, q->offset)) != 0) {
            return r;
        }
        return lsh_buf_put_u32(b, q->len);
    case LSH_SFTP_WRITE:
        if ((r = put_str(b, q->handle)) != 0 ||
            (r = lsh_buf_put_u64(b, q->offset)) != 0) {
            return r;
        }
        return put_str(b, q->data);
    case LSH_SFTP_LSTAT:
    case LSH_SFTP_STAT:
    case LSH_SFTP_OPENDIR:
    case LSH_SFTP_REMOVE:
    case LSH_SFTP_RMDIR:
    case LSH_SFTP_REALPATH:
    case LSH_SFTP_READLINK:
        return put_str(b, q->path);
    case LSH_SFTP_SETSTAT:
    case LSH_SFTP_MKDIR:
        if ((r = put_str(b, q->path)) != 0) {
            return r;
        }
        return lsh_sftp_attrs_put(b, &q->attrs);
    case LSH_SFTP_FSETSTAT:
        if ((r = put_str(b, q->handle)) != 0) {
            return r;
        }
        return lsh_sftp_attrs_put(b, &q->attrs);
    case LSH_SFTP_RENAME:
    case LSH_SFTP_SYMLINK:
        if ((r = put_str(b, q->path)) != 0) {
            return r;
        }
        return put_str(b, q->path2);
    case LSH_SFTP_EXTENDED:
        return put_ext_body(b, q);
    default:
        return LSH_EINVAL;
    }
}

int
lsh_sftp_request_put(lsh_buf *b, const lsh_sftp_request *q)
{
    size_t mark;
    int r;
    if ((r = lsh_sftp_begin(b, q->type, &mark)) != 0) {
        return r;
    }
    if ((r = lsh_buf_put_u32(b, q->id)) != 0) {
        return abort_pkt(b, mark, r);
    }
    if (q->type != LSH_SFTP_INIT && (r = put_body(b, q)) != 0) {
        return abort_pkt(b, mark, r);
    }
    return lsh_sftp_end(b, mark, LSH_SFTP_MAX_PACKET);
}

/* Responses (draft-02 §7) */

int
lsh_sftp_put_version(lsh_buf *b, uint32_t version, const char *const *names,
                     const char *const *datas, size_t count)
{
    size_t mark;
    int r;
    if ((r = lsh_sftp_begin(b, LSH_SFTP_VERSION_PKT, &mark)) != 0) {
        return r;
    }
    if ((r = lsh_buf_put_u32(b, version)) != 0) {
        return abort_pkt(b, mark, r);
    }
    for (size_t i = 0; i < count; i++) {
        if ((r = lsh_buf_put_cstring(b, names[i])) != 0 ||
            (r = lsh_buf_put_cstring(b, datas[i])) != 0) {
            return abort_pkt(b, mark, r);
        }
    }
    return lsh_sftp_end(b, mark, LSH_SFTP_MAX_PACKET);
}

int
lsh_sftp_put_status(lsh_buf *b, uint32_t id, uint32_t code, const char *msg)
{
    size_t mark;
    int r;
    if ((r = lsh_sftp_begin(b, LSH_SFTP_STATUS, &mark)) != 0) {
        return r;
    }
    if ((r = lsh_buf_put_u32(b, id)) != 0 ||
        (r = lsh_buf_put_u32(b, code)) != 0 ||
        (r = lsh_buf_put_cstring(b, msg != NULL ? msg : "")) != 0 ||
        (r = lsh_buf_put_cstring(b, "")) != 0) {
        return abort_pkt(b, mark, r);
    }
    return lsh_sftp_end(b, mark, LSH_SFTP_MAX_PACKET);
}

/* A response made of the id and one string. */
static int
put_id_string(lsh_buf *b, uint8_t type, uint32_t id, const uint8_t *p,
              size_t n)
{
    size_t mark;
    int r;
    if ((r = lsh_sftp_begin(b, type, &mark)) != 0) {
        return r;
    }
    if ((r = lsh_buf_put_u32(b, id)) != 0 ||
        (r = lsh_buf_put_string(b, p, n)) != 0) {
        return abort_pkt(b, mark, r);
    }
    return lsh_sftp_end(b, mark, LSH_SFTP_MAX_PACKET);
}

int
lsh_sftp_put_handle(lsh_buf *b, uint32_t id, const uint8_t *h, size_t n)
{
    if (n > LSH_SFTP_MAX_HANDLE) {
        return LSH_ETOOLARGE;
    }
    return put_id_string(b, LSH_SFTP_HANDLE, id, h, n);
}

int
lsh_sftp_put_data(lsh_buf *b, uint32_t id, const uint8_t *p, size_t n)
{
    return put_id_string(b, LSH_SFTP_DATA, id, p, n);
}

int
lsh_sftp_put_attrs(lsh_buf *b, uint32_t id, const lsh_sftp_attrs *a)
{
    size_t mark;
    int r;
    if ((r = lsh_sftp_begin(b, LSH_SFTP_ATTRS, &mark)) != 0) {
        return r;
    }
    if ((r = lsh_buf_put_u32(b, id)) != 0 ||
        (r = lsh_sftp_attrs_put(b, a)) != 0) {
        return abort_pkt(b, mark, r);
    }
    return lsh_sftp_end(b, mark, LSH_SFTP_MAX_PACKET);
}

int
lsh_sftp_put_name1(lsh_buf *b, uint32_t id, const char *name,
                   const char *longname, const lsh_sftp_attrs *a)
{
    static const lsh_sftp_attrs empty;
    size_t mark;
    int r;
    if ((r = lsh_sftp_begin(b, LSH_SFTP_NAME, &mark)) != 0) {
        return r;
    }
    if ((r = lsh_buf_put_u32(b, id)) != 0 ||
        (r = lsh_buf_put_u32(b, 1)) != 0 ||
        (r = lsh_buf_put_cstring(b, name)) != 0 ||
        (r = lsh_buf_put_cstring(b, longname != NULL ? longname : name)) !=
            0 ||
        (r = lsh_sftp_attrs_put(b, a != NULL ? a : &empty)) != 0) {
        return abort_pkt(b, mark, r);
    }
    return lsh_sftp_end(b, mark, LSH_SFTP_MAX_PACKET);
}

int
lsh_sftp_put_statvfs(lsh_buf *b, uint32_t id, const lsh_sftp_statvfs *s)
{
    const uint64_t v[11] = {s->bsize, s->frsize, s->blocks, s->bfree,
                            s->bavail, s->files, s->ffree, s->favail,
                            s->fsid, s->flag, s->namemax};
    size_t mark;
    int r;
    if ((r = lsh_sftp_begin(b, LSH_SFTP_EXTENDED_REPLY, &mark)) != 0) {
        return r;
    }
    if ((r = lsh_buf_put_u32(b, id)) != 0) {
        return abort_pkt(b, mark, r);
    }
    for (int i = 0; i < 11; i++) {
        if ((r = lsh_buf_put_u64(b, v[i])) != 0) {
            return abort_pkt(b, mark, r);
        }
    }
    return lsh_sftp_end(b, mark, LSH_SFTP_MAX_PACKET);
}

int
lsh_sftp_put_limits(lsh_buf *b, uint32_t id, uint64_t max_packet,
                    uint64_t max_read, uint64_t max_write,
                    uint64_t max_handles)
{
    size_t mark;
    int r;
    if ((r = lsh_sftp_begin(b, LSH_SFTP_EXTENDED_REPLY, &mark)) != 0) {
        return r;
    }
    if ((r = lsh_buf_put_u32(b, id)) != 0 ||
        (r = lsh_buf_put_u64(b, max_packet)) != 0 ||
        (r = lsh_buf_put_u64(b, max_read)) != 0 ||
        (r = lsh_buf_put_u64(b, max_write)) != 0 ||
        (r = lsh_buf_put_u64(b, max_handles)) != 0) {
        return abort_pkt(b, mark, r);
    }
    return lsh_sftp_end(b, mark, LSH_SFTP_MAX_PACKET);
}

/* Response decoding (client side) */

static int
decode_name_list(lsh_rd *rd, lsh_sftp_response *s)
{
    lsh_rd scan;
    int r;
    if ((r = lsh_rd_u32(rd, &s->count)) != 0) {
        return r;
    }
    /* Walk the entries once so that lsh_sftp_name_next cannot fail later
     * on a count that overstates the entries. */
    scan = *rd;
    for (uint32_t i = 0; i < s->count; i++) {
        lsh_sftp_str f, l;
        lsh_sftp_attrs a;
        if ((r = rd_str(&scan, LSH_RD_DEFAULT_MAX, &f)) != 0 ||
            (r = rd_str(&scan, LSH_RD_DEFAULT_MAX, &l)) != 0 ||
            (r = lsh_sftp_attrs_decode(&scan, &a)) != 0) {
            return r;
        }
    }
    lsh_rd_init(&s->names, lsh_rd_cur(rd), scan.pos - rd->pos);
    return lsh_rd_skip(rd, scan.pos - rd->pos);
}

int
lsh_sftp_response_decode(const uint8_t *pkt, size_t n, lsh_sftp_response *s)
{
    lsh_rd rd;
    int r;
    memset(s, 0, sizeof(*s));
    lsh_rd_init(&rd, pkt, n);
    if ((r = lsh_rd_u8(&rd, &s->type)) != 0 ||
        (r = lsh_rd_u32(&rd, &s->id)) != 0) {
        return r;
    }
    switch (s->type) {
    case LSH_SFTP_VERSION_PKT:
    case LSH_SFTP_EXTENDED_REPLY:
        s->ext_data.p = lsh_rd_cur(&rd);
        s->ext_data.n = lsh_rd_remaining(&rd);
        return lsh_rd_skip(&rd, s->ext_data.n);
    case LSH_SFTP_STATUS:
        if ((r = lsh_rd_u32(&rd, &s->code)) != 0) {
            return r;
        }
        /* Some old servers omit the message and language (draft-02 §7
         * names them, v2 did not have them). */
        if (lsh_rd_remaining(&rd) > 0 &&
            ((r = rd_str(&rd, LSH_RD_DEFAULT_MAX, &s->msg)) != 0 ||
             (r = rd_str(&rd, 256, &s->lang)) != 0)) {
            return r;
        }
        break;
    case LSH_SFTP_HANDLE:
        r = rd_handle(&rd, &s->handle);
        break;
    case LSH_SFTP_DATA:
        r = rd_str(&rd, LSH_SFTP_MAX_PACKET, &s->data);
        break;
    case LSH_SFTP_NAME:
        r = decode_name_list(&rd, s);
        break;
    case LSH_SFTP_ATTRS:
        r = lsh_sftp_attrs_decode(&rd, &s->attrs);
        break;
    default:
        return LSH_EUNEXPECTED;
    }
    if (r != 0) {
        return r;
    }
    return lsh_rd_end(&rd);
}

int
lsh_sftp_name_next(lsh_sftp_response *s, uint32_t *i, lsh_sftp_name *out)
{
    int r;
    if (*i >= s->count) {
        return 0;
    }
    if ((r = rd_str(&s->names, LSH_RD_DEFAULT_MAX, &out->filename)) != 0 ||
        (r = rd_str(&s->names, LSH_RD_DEFAULT_MAX, &out->longname)) != 0 ||
        (r = lsh_sftp_attrs_decode(&s->names, &out->attrs)) != 0) {
        return r;
    }
    (*i)++;
    return 1;
}

int
lsh_sftp_statvfs_decode(const uint8_t *p, size_t n, lsh_sftp_statvfs *s)
{
    uint64_t *v[11] = {&s->bsize, &s->frsize, &s->blocks, &s->bfree,
                       &s->bavail, &s->files, &s->ffree, &s->favail,
                       &s->fsid, &s->flag, &s->namemax};
    lsh_sftp_statvfs t;
    uint64_t *tv[11] = {&t.bsize, &t.frsize, &t.blocks, &t.bfree,
                        &t.bavail, &t.files, &t.ffree, &t.favail,
                        &t.fsid, &t.flag, &t.namemax};
    lsh_rd rd;
    int r;
    lsh_rd_init(&rd, p, n);
    for (int i = 0; i < 11; i++) {
        if ((r = lsh_rd_u64(&rd, tv[i])) != 0) {
            return r;
        }
    }
    if ((r = lsh_rd_end(&rd)) != 0) {
        return r;
    }
    for (int i = 0; i < 11; i++) {
        *v[i] = *tv[i];
    }
    return 0;
}
