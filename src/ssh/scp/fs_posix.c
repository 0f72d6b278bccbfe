/*
 * The POSIX backend of the SCP machines: local files through *at()
 * system calls.
 *
 * IMPLEMENTATION NOTES
 * A handle is a descriptor (plus a DIR stream made on the first readdir).
 * Names from the peer are always resolved relative to a directory
 * descriptor and opened with O_NOFOLLOW, so a symlink planted in the
 * destination is never followed when we create or enter something (the
 * open fails with ELOOP/ENOTDIR instead).  Only the trusted root path the
 * user gave (dir == NULL) follows symlinks.  Opens use O_NONBLOCK until
 * fstat() has shown the type, so a FIFO in the way cannot block us, and a
 * file created inside a directory must turn out to be a regular file.
 * The sink side never writes to devices or FIFOs found under the target.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ssh/scp/scp.h"

typedef struct posix_ctx {
    int err;
    char msg[128];
} posix_ctx;

typedef struct posix_h {
    int fd;
    DIR *d;
} posix_h;

static int
fail(posix_ctx *c, int e)
{
    c->err = e;
    snprintf(c->msg, sizeof(c->msg), "%s", strerror(e));
    return e == ENOENT ? LSH_ENOTFOUND : LSH_EIO;
}

static int
dirfd_of(void *dir)
{
    return dir != NULL ? ((posix_h *)dir)->fd : AT_FDCWD;
}

static int
wrap(posix_ctx *c, int fd, void **out)
{
    posix_h *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        close(fd);
        return fail(c, ENOMEM);
    }
    h->fd = fd;
    *out = h;
    return 0;
}

static void
fill_attr(const struct stat *st, lsh_scp_attr *a)
{
    memset(a, 0, sizeof(*a));
    a->type = S_ISREG(st->st_mode)   ? LSH_SCP_FT_REG
              : S_ISDIR(st->st_mode) ? LSH_SCP_FT_DIR
                                     : LSH_SCP_FT_OTHER;
    a->mode = (uint32_t)(st->st_mode & 07777);
    a->size = st->st_size > 0 ? (uint64_t)st->st_size : 0;
    /* OpenSSH's source sends times before 1970 as 0. */
    a->atime = st->st_atime > 0 ? (uint64_t)st->st_atime : 0;
    a->mtime = st->st_mtime > 0 ? (uint64_t)st->st_mtime : 0;
}

static int
clear_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

static int
px_stat(void *ctx, void *dir, const char *name, int follow,
        lsh_scp_attr *out)
{
    struct stat st;
    int fl = (dir == NULL || follow) ? 0 : AT_SYMLINK_NOFOLLOW;
    if (fstatat(dirfd_of(dir), name, &st, fl) != 0) {
        return fail(ctx, errno);
    }
    fill_attr(&st, out);
    return 0;
}

static int
px_opendir(void *ctx, void *dir, const char *name, void **out)
{
    int fl = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY;
    int fd;
    if (dir != NULL) {
        fl |= O_NOFOLLOW;
    }
    if ((fd = openat(dirfd_of(dir), name, fl)) < 0) {
        return fail(ctx, errno);
    }
    return wrap(ctx, fd, out);
}

static int
px_readdir(void *ctx, void *dirh, const char **name)
{
    posix_h *h = dirh;
    struct dirent *de;
    if (h->d == NULL) {
        int fd = dup(h->fd);
        if (fd < 0 || (h->d = fdopendir(fd)) == NULL) {
            int e = errno;
            if (fd >= 0) {
                close(fd);
            }
            return fail(ctx, e);
        }
    }
    errno = 0;
    if ((de = readdir(h->d)) == NULL) {
        if (errno != 0) {
            return fail(ctx, errno);
        }
        *name = NULL;
        return 0;
    }
    *name = de->d_name;
    return 0;
}

static int
px_mkdir(void *ctx, void *dir, const char *name, uint32_t mode)
{
    if (mkdirat(dirfd_of(dir), name, (mode_t)(mode & 0777)) != 0) {
        return fail(ctx, errno);
    }
    return 0;
}

static int
px_open_read(void *ctx, void *dir, const char *name, void **out,
             lsh_scp_attr *attr)
{
    struct stat st;
    int fd = openat(dirfd_of(dir), name,
                    O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        return fail(ctx, errno);
    }
    if (fstat(fd, &st) != 0 || clear_nonblock(fd) != 0) {
        int e = errno;
        close(fd);
        return fail(ctx, e);
    }
    fill_attr(&st, attr);
    return wrap(ctx, fd, out);
}

static int
px_open_write(void *ctx, void *dir, const char *name, uint32_t mode,
              void **out)
{
    struct stat st;
    int fl = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    int fd;
    if (dir != NULL) {
        fl |= O_NOFOLLOW;
    }
    if ((fd = openat(dirfd_of(dir), name, fl, (mode_t)(mode & 0777))) < 0) {
        return fail(ctx, errno);
    }
    if (fstat(fd, &st) != 0 || clear_nonblock(fd) != 0) {
        int e = errno;
        close(fd);
        return fail(ctx, e);
    }
    if (dir != NULL && !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(ctx, EINVAL);
    }
    if (S_ISREG(st.st_mode) && ftruncate(fd, 0) != 0) {
        int e = errno;
        close(fd);
        return fail(ctx, e);
    }
    return wrap(ctx, fd, out);
}

static int
px_read(void *ctx, void *fh, uint64_t off, uint8_t *buf, size_t n,
        size_t *got)
{
    ssize_t k;
    do {
        k = pread(((posix_h *)fh)->fd, buf, n, (off_t)off);
    } while (k < 0 && errno == EINTR);
    if (k < 0) {
        return fail(ctx, errno);
    }
    *got = (size_t)k;
    return 0;
}

static int
px_write(void *ctx, void *fh, uint64_t off, const uint8_t *buf, size_t n)
{
    posix_h *h = fh;
    while (n > 0) {
        ssize_t k = pwrite(h->fd, buf, n, (off_t)off);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return fail(ctx, k < 0 ? errno : EIO);
        }
        buf += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

static int
px_setattr(void *ctx, void *hv, const lsh_scp_attr *a)
{
    posix_h *h = hv;
    if ((a->flags & LSH_SCP_ATTR_MODE) &&
        fchmod(h->fd, (mode_t)(a->mode & 07777)) != 0) {
        return fail(ctx, errno);
    }
    if (a->flags & LSH_SCP_ATTR_TIMES) {
        struct timespec ts[2];
        ts[0].tv_sec = (time_t)a->atime;
        ts[0].tv_nsec = 0;
        ts[1].tv_sec = (time_t)a->mtime;
        ts[1].tv_nsec = 0;
        if (futimens(h->fd, ts) != 0) {
            return fail(ctx, errno);
        }
    }
    return 0;
}

static int
px_close(void *ctx, void *hv)
{
    posix_h *h = hv;
    int r = 0;
    if (h == NULL) {
        return 0;
    }
    if (h->d != NULL) {
        closedir(h->d);
    }
    if (close(h->fd) != 0 && errno != EINTR) {
        r = fail(ctx, errno);
    }
    free(h);
    return r;
}

static const char *
px_errmsg(void *ctx)
{
    posix_ctx *c = ctx;
    return c->err != 0 ? c->msg : NULL;
}

int
lsh_scp_fs_posix_init(lsh_scp_fs *fs)
{
    memset(fs, 0, sizeof(*fs));
    if ((fs->ctx = calloc(1, sizeof(posix_ctx))) == NULL) {
        return LSH_ENOMEM;
    }
    fs->stat = px_stat;
    fs->opendir = px_opendir;
    fs->readdir = px_readdir;
    fs->mkdir = px_mkdir;
    fs->open_read = px_open_read;
    fs->open_write = px_open_write;
    fs->read = px_read;
    fs->write = px_write;
    fs->setattr = px_setattr;
    fs->close = px_close;
    fs->errmsg = px_errmsg;
    return 0;
}

void
lsh_scp_fs_posix_free(lsh_scp_fs *fs)
{
    free(fs->ctx);
    fs->ctx = NULL;
}
