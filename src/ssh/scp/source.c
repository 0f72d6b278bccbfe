/*
 * SCP source: the `scp -f path...` side, which walks the given paths
 * through the lsh_scp_fs backend and sends T/C/D/E lines and file data.
 *
 * IMPLEMENTATION NOTES
 * After every line and after every file's data the source waits for the
 * sink's reply (SR_RESP, then `kont` says what the reply was for).  A
 * "\1 text\n" reply makes us skip that entry; "\2 text\n" (or any other
 * byte, which OpenSSH also treats as the start of a fatal message) ends
 * the transfer.  A path we cannot read is reported with a
 * "\1scp: <path>: <reason>\n" line and the walk goes on with the next
 * one, without waiting for a reply, as OpenSSH's scp does.
 *
 * File data is produced by lsh_scp_run() one block at a time while fewer
 * than `block` bytes wait in the output, so memory stays at two blocks
 * whatever the file size.  If reading fails half-way, the promised size
 * is still sent (zero-filled) to keep the stream in step, followed by an
 * error line instead of the final 0 byte.
 */
#include <stdio.h>
#include <string.h>

#include "ssh/scp/scp_internal.h"

enum { SR_RESP = 0, SR_RESP_MSG, SR_NEXT, SR_DATA };
enum { K_START = 0, K_T_FILE, K_C, K_DATA_END, K_T_DIR, K_D, K_E };

/* The longest name we put in a C or D line. */
#define SRC_MAX_NAME 4096u

static void
wait_reply(lsh_scp *s, int kont)
{
    s->kont = kont;
    s->state = SR_RESP;
}

/* Reports a local problem with the current entry and moves on. */
static int
skip_entry(lsh_scp *s, const char *msg)
{
    int r = lsh__scp_send_error(s, 0, s->path, msg);
    lsh__scp_path_pop(s, s->entry_pathlen);
    s->state = SR_NEXT;
    return r;
}

static int
start_file(lsh_scp *s, void *parent, const char *cname, const char *proto)
{
    lsh_scp_attr a;
    int r = s->fs->open_read(s->fs->ctx, parent, cname, &s->fh, &a);
    if (r != 0) {
        s->fh = NULL;
        return skip_entry(s, lsh__scp_fs_msg(s, r));
    }
    if (a.type != LSH_SCP_FT_REG) {
        (void)s->fs->close(s->fs->ctx, s->fh);
        s->fh = NULL;
        return skip_entry(s, "not a regular file");
    }
    s->fattr = a;
    s->size = a.size;
    s->off = 0;
    s->ioerr = 0;
    lsh__scp_event(s, LSH_SCP_EV_FILE_BEGIN);
    if (s->flags & LSH_SCP_PRESERVE) {
        wait_reply(s, K_T_FILE);
        return lsh__scp_put_line(s, "T%llu 0 %llu 0\n",
                                 (unsigned long long)a.mtime,
                                 (unsigned long long)a.atime);
    }
    wait_reply(s, K_C);
    return lsh__scp_put_line(s, "C%04o %llu %s\n", (unsigned)(a.mode & 07777),
                             (unsigned long long)a.size, proto);
}

static int
start_dir(lsh_scp *s, void *parent, const char *cname, const lsh_scp_attr *a)
{
    int r;
    if (!(s->flags & LSH_SCP_RECURSE)) {
        return skip_entry(s, "not a regular file");
    }
    if (s->depth >= s->max_depth) {
        return skip_entry(s, "directory nesting too deep");
    }
    r = s->fs->opendir(s->fs->ctx, parent, cname, &s->pending_dir);
    if (r != 0) {
        s->pending_dir = NULL;
        return skip_entry(s, lsh__scp_fs_msg(s, r));
    }
    s->fattr = *a;
    if (s->flags & LSH_SCP_PRESERVE) {
        wait_reply(s, K_T_DIR);
        return lsh__scp_put_line(s, "T%llu 0 %llu 0\n",
                                 (unsigned long long)a->mtime,
                                 (unsigned long long)a->atime);
    }
    return 1; /* caller sends the D line */
}

static int
send_d_line(lsh_scp *s)
{
    const char *proto = s->path + s->proto_off;
    wait_reply(s, K_D);
    return lsh__scp_put_line(s, "D%04o 0 %s\n",
                             (unsigned)(s->fattr.mode & 07777), proto);
}

/* One entry: a top-level path (parent NULL) or a directory member. */
static int
send_entry(lsh_scp *s, void *parent, const char *cname, const char *proto)
{
    lsh_scp_attr a;
    int r;
    if (strchr(proto, '\n') != NULL) {
        return skip_entry(s, "skipping, filename contains a newline");
    }
    if (proto[0] == '\0' || strlen(proto) > SRC_MAX_NAME) {
        return skip_entry(s, "bad file name");
    }
    r = s->fs->stat(s->fs->ctx, parent, cname, 1, &a);
    if (r != 0) {
        return skip_entry(s, lsh__scp_fs_msg(s, r));
    }
    if (a.type == LSH_SCP_FT_DIR) {
        r = start_dir(s, parent, cname, &a);
        return r == 1 ? send_d_line(s) : r;
    }
    if (a.type != LSH_SCP_FT_REG) {
        return skip_entry(s, "not a regular file");
    }
    return start_file(s, parent, cname, proto);
}

static int
next_entry(lsh_scp *s)
{
    const char *name;
    int r;

    if (s->depth == 0) {
        char *path, *base;
        size_t len;
        if (s->next >= s->npaths) {
            s->done = 1;
            return 0;
        }
        path = s->paths[s->next++];
        len = strlen(path);
        while (len > 1 && path[len - 1] == '/') {
            path[--len] = '\0'; /* "dir/" sends "dir" */
        }
        base = strrchr(path, '/');
        base = base != NULL && base[1] != '\0' ? base + 1 : path;
        lsh__scp_path_pop(s, 0);
        s->entry_pathlen = 0;
        if ((r = lsh__scp_path_push(s, path)) != 0) {
            return skip_entry(s, "path too long");
        }
        s->proto_off = (size_t)(base - path);
        return send_entry(s, NULL, path, s->path + s->proto_off);
    }
    r = s->fs->readdir(s->fs->ctx, s->stack[s->depth - 1].h, &name);
    if (r != 0) {
        /* Report and end the directory: the sink still needs its E. */
        (void)lsh__scp_send_error(s, 0, s->path, lsh__scp_fs_msg(s, r));
        name = NULL;
    }
    if (name == NULL) {
        wait_reply(s, K_E);
        return lsh__scp_put_line(s, "E\n");
    }
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        return 0;
    }
    s->entry_pathlen = s->pathlen;
    if ((r = lsh__scp_path_push(s, name)) != 0) {
        return lsh__scp_send_error(s, 0, s->path, "path too long");
    }
    /* The backend's name buffer is only borrowed: use our copy. */
    s->proto_off = s->entry_pathlen + (s->entry_pathlen > 0);
    name = s->path + s->proto_off;
    return send_entry(s, s->stack[s->depth - 1].h, name, name);
}

static int
read_block(lsh_scp *s, uint8_t *dst, size_t k)
{
    size_t got = 0, g;
    int r;
    while (!s->ioerr && got < k) {
        r = s->fs->read(s->fs->ctx, s->fh, s->off + got, dst + got, k - got,
                        &g);
        if (r != 0 || g == 0) {
            s->ioerr = 1;
            snprintf(s->ioerrmsg, sizeof(s->ioerrmsg), "%s",
                     r != 0 ? lsh__scp_fs_msg(s, r) : "file shrank while read");
            break;
        }
        got += g;
    }
    if (got < k) {
        memset(dst + got, 0, k - got);
    }
    return 0;
}

static int
send_data(lsh_scp *s)
{
    uint8_t *dst;
    size_t k;
    int r;

    if (s->off == s->size) {
        wait_reply(s, K_DATA_END);
        if (s->ioerr) {
            return lsh__scp_send_error(s, 0, s->path, s->ioerrmsg);
        }
        return lsh_buf_put_u8(&s->out, 0);
    }
    k = s->block;
    if (k > s->size - s->off) {
        k = (size_t)(s->size - s->off);
    }
    if ((r = lsh_buf_append_space(&s->out, k, &dst)) != 0) {
        return r;
    }
    (void)read_block(s, dst, k);
    s->off += k;
    lsh__scp_event(s, LSH_SCP_EV_PROGRESS);
    return 0;
}

static void
close_file(lsh_scp *s)
{
    if (s->fh != NULL) {
        (void)s->fs->close(s->fs->ctx, s->fh);
        s->fh = NULL;
    }
    lsh__scp_event(s, LSH_SCP_EV_FILE_END);
    lsh__scp_path_pop(s, s->entry_pathlen);
    s->state = SR_NEXT;
}

static void
drop_pending_dir(lsh_scp *s)
{
    if (s->pending_dir != NULL) {
        (void)s->fs->close(s->fs->ctx, s->pending_dir);
        s->pending_dir = NULL;
    }
    lsh__scp_path_pop(s, s->entry_pathlen);
    s->state = SR_NEXT;
}

static void
pop_dir(lsh_scp *s)
{
    lsh__scp_frame *f = &s->stack[--s->depth];
    (void)s->fs->close(s->fs->ctx, f->h);
    f->h = NULL;
    lsh__scp_event(s, LSH_SCP_EV_DIR_END);
    lsh__scp_path_pop(s, f->pathlen);
    s->state = SR_NEXT;
}

/* The sink answered 0 to what `kont` names. */
static int
reply_ok(lsh_scp *s)
{
    lsh__scp_frame *f;
    switch (s->kont) {
    case K_START:
        s->state = SR_NEXT;
        return 0;
    case K_T_FILE:
        wait_reply(s, K_C);
        return lsh__scp_put_line(
            s, "C%04o %llu %s\n", (unsigned)(s->fattr.mode & 07777),
            (unsigned long long)s->size, s->path + s->proto_off);
    case K_C:
        s->state = SR_DATA;
        return 0;
    case K_DATA_END:
        close_file(s);
        return 0;
    case K_T_DIR:
        return send_d_line(s);
    case K_D:
        f = &s->stack[s->depth++];
        f->h = s->pending_dir;
        f->pathlen = s->entry_pathlen;
        s->pending_dir = NULL;
        lsh__scp_event(s, LSH_SCP_EV_DIR_BEGIN);
        s->state = SR_NEXT;
        return 0;
    case K_E:
        pop_dir(s);
        return 0;
    default:
        return LSH_ESTATE;
    }
}

/* The sink answered "\1 text": skip what `kont` names. */
static int
reply_warning(lsh_scp *s)
{
    switch (s->kont) {
    case K_START:
        return lsh__scp_fail(s, LSH_EDISCONNECTED);
    case K_T_FILE:
    case K_C:
    case K_DATA_END:
        close_file(s);
        return 0;
    case K_T_DIR:
    case K_D:
        drop_pending_dir(s);
        return 0;
    case K_E:
        pop_dir(s);
        return 0;
    default:
        return LSH_ESTATE;
    }
}

int
lsh__scp_source_step(lsh_scp *s)
{
    int r = 0;
    while (r == 0 && !s->done && lsh_buf_len(&s->out) < s->block) {
        if (s->state == SR_NEXT) {
            r = next_entry(s);
        } else if (s->state == SR_DATA) {
            r = send_data(s);
        } else {
            break;
        }
    }
    if (r != 0) {
        return lsh__scp_fail(s, r);
    }
    return s->result;
}

int
lsh__scp_source_feed(lsh_scp *s, const uint8_t *p, size_t n, size_t *used)
{
    size_t i = 0;
    int r = 0;

    while (i < n && r == 0 && !s->done) {
        uint8_t c = p[i];
        if (s->state == SR_RESP) {
            i++;
            if (c == 0) {
                r = reply_ok(s);
            } else {
                s->resp_fatal = c != 1;
                s->linelen = 0;
                if (c != 1 && c != 2) {
                    s->line[s->linelen++] = (char)c;
                }
                s->state = SR_RESP_MSG;
            }
        } else if (s->state == SR_RESP_MSG) {
            i++;
            if (c != '\n') {
                if (s->linelen < LSH_SCP_MAX_LINE) {
                    s->line[s->linelen++] = (char)c;
                }
                continue;
            }
            s->line[s->linelen] = '\0';
            s->linelen = 0;
            lsh__scp_error(s, s->line, 1, s->resp_fatal);
            r = s->resp_fatal ? lsh__scp_fail(s, LSH_EDISCONNECTED)
                              : reply_warning(s);
        } else {
            break;
        }
        if (r == 0 && !s->done) {
            r = lsh__scp_source_step(s);
        }
    }
    *used = i;
    if (r != 0 && !s->done) {
        return lsh__scp_fail(s, r);
    }
    return s->result;
}

int
lsh__scp_source_eof(lsh_scp *s)
{
    lsh__scp_error(s, "lost connection", 0, 1);
    return lsh__scp_fail(s, LSH_ETRUNCATED);
}

unsigned
lsh__scp_source_wants(const lsh_scp *s)
{
    if (s->state == SR_RESP || s->state == SR_RESP_MSG) {
        return LSH_SCP_WANT_INPUT;
    }
    return lsh_buf_len(&s->out) < s->block ? LSH_SCP_WANT_RUN : 0;
}
