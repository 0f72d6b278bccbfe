/*
 * The local filesystem as an SFTP backend, confined to a root directory
 * (reliability-plan P-12).
 *
 * IMPLEMENTATION NOTES
 * Client paths are virtual: "/" is the root, relative paths start at the
 * home directory.  Each path is first normalised lexically ("." dropped,
 * ".." clamped at "/"), so what reaches the kernel has no "..".  Symlinks
 * inside it (pre-existing, or planted by anyone during the session) are
 * then resolved by the kernel with openat2(RESOLVE_IN_ROOT) from a
 * descriptor of the root: absolute targets and ".." in targets stay
 * inside.  Where openat2 is missing (ENOSYS, old kernels), walk_open does
 * the same one component at a time: O_PATH|O_NOFOLLOW opens, symlinks read
 * with readlinkat and expanded by us (absolute targets restart at the
 * root descriptor, ".." pops our own stack of descriptors and never
 * passes the root).  A directory swapped for a symlink between two steps
 * is met by O_NOFOLLOW and expanded the same way, so it cannot lead out.
 *
 * Operations on the last component itself (remove, rename, mkdir,
 * symlink, link, readlink) resolve the parent directory and then use the
 * *at() calls on the final name without following it.  Attribute changes
 * through a followed path use the O_PATH descriptor via /proc/self/fd,
 * which names exactly the resolved inode.
 *
 * Symlinks created through SFTP whose target is absolute or climbs above
 * the root are rewritten as relative links to the same virtual place, so
 * that they stay inside the root for every process, not only for us.
 */
#include "ssh/sftp/server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/openat2.h>
#endif

#define MAX_DEPTH 256
#define MAX_LINKS 40

struct lsh_sftp_fs {
    int rootfd;
    int use_openat2;
    char *home; /* virtual, normalised */
    dev_t root_dev;
    ino_t root_ino;
    int is_sysroot;  /* the root is "/": symlink targets are kept as sent */
    char *root_host; /* the root's host path (NULL if /proc is missing) */
};

struct fs_file {
    int fd;
};

struct fs_dir {
    DIR *d;
    int is_root;
};

static int
status_of(int err)
{
    switch (err) {
    case 0:
        return LSH_SFTP_FX_OK;
    case ENOENT:
    case ENOTDIR:
        return LSH_SFTP_FX_NO_SUCH_FILE;
    case EBADF: /* a handle used against its open mode */
    case EACCES:
    case EPERM:
    case EROFS:
    case EXDEV:
        return LSH_SFTP_FX_PERMISSION_DENIED;
    case ENOSYS:
    case EOPNOTSUPP:
        return LSH_SFTP_FX_OP_UNSUPPORTED;
    default:
        return LSH_SFTP_FX_FAILURE;
    }
}

/* Paths */

/*
 * Normalises a client path into a malloc'd virtual path starting with
 * "/", with no empty, "." or ".." components (".." at "/" stays at "/").
 */
static char *
vnorm(const char *home, const char *path)
{
    size_t hl = strlen(home), pl = strlen(path), n = 0;
    char *in, *out, *save = NULL, *tok;
    if ((in = malloc(hl + pl + 2)) == NULL) {
        return NULL;
    }
    if (path[0] == '/') {
        memcpy(in, path, pl + 1);
    } else {
        memcpy(in, home, hl);
        in[hl] = '/';
        memcpy(in + hl + 1, path, pl + 1);
    }
    if ((out = malloc(strlen(in) + 2)) == NULL) {
        free(in);
        return NULL;
    }
    out[0] = '\0';
    for (tok = strtok_r(in, "/", &save); tok != NULL;
         tok = strtok_r(NULL, "/", &save)) {
        if (strcmp(tok, ".") == 0) {
            continue;
        }
        if (strcmp(tok, "..") == 0) {
            char *slash = strrchr(out, '/');
            n = slash != NULL ? (size_t)(slash - out) : 0;
            out[n] = '\0';
            continue;
        }
        out[n++] = '/';
        memcpy(out + n, tok, strlen(tok) + 1);
        n += strlen(tok);
    }
    if (n == 0) {
        out[0] = '/';
        out[1] = '\0';
    }
    free(in);
    return out;
}

/* The kernel-facing form of a normalised virtual path ("/" is "."). */
static const char *
rel_of(const char *v)
{
    return v[1] == '\0' ? "." : v + 1;
}

/* Fallback resolution (no openat2) */

/* Replaces *rem (from *pos on) by target + "/" + the rest after comp. */
static int
expand_link(char **rem, size_t rest, const char *target)
{
    size_t tl = strlen(target), rl = strlen(*rem + rest);
    char *n = malloc(tl + rl + 2);
    if (n == NULL) {
        return -ENOMEM;
    }
    memcpy(n, target, tl);
    n[tl] = '/';
    memcpy(n + tl + 1, *rem + rest, rl + 1);
    free(*rem);
    *rem = n;
    return 0;
}

static int
read_link_at(int dirfd, const char *name, char *buf, size_t n)
{
    ssize_t k = readlinkat(dirfd, name, buf, n - 1);
    if (k < 0) {
        return -errno;
    }
    if ((size_t)k >= n - 1) {
        return -ENAMETOOLONG;
    }
    buf[k] = '\0';
    return 0;
}

static int
walk_open(lsh_sftp_fs *fs, const char *path, int flags, mode_t mode,
          int follow)
{
    int stack[MAX_DEPTH];
    int depth = 1, links = 0, ret = -EINVAL;
    size_t pos = 0;
    char *rem = strdup(path), target[PATH_MAX];
    stack[0] = fs->rootfd;
    if (rem == NULL) {
        return -ENOMEM;
    }
    for (;;) {
        int top = stack[depth - 1], fd, is_last;
        size_t len, rest;
        struct stat st;
        while (rem[pos] == '/') {
            pos++;
        }
        if (rem[pos] == '\0') {
            /* The walk ended on a directory already opened. */
            fd = openat(top, ".", flags | O_CLOEXEC, mode);
            ret = fd >= 0 ? fd : -errno;
            break;
        }
        len = strcspn(rem + pos, "/");
        rest = pos + len;
        is_last = rem[rest + strspn(rem + rest, "/")] == '\0';
        rem[rest] = '\0';
        if (strcmp(rem + pos, ".") == 0) {
            rem[rest] = is_last ? '\0' : '/';
            pos = rest + (is_last ? 0 : 1);
            continue;
        }
        if (strcmp(rem + pos, "..") == 0) {
            if (depth > 1) {
                close(stack[--depth]);
            }
            pos = rest + (is_last ? 0 : 1);
            continue;
        }
        if (is_last) {
            fd = openat(top, rem + pos, flags | O_CLOEXEC | O_NOFOLLOW, mode);
            if (fd >= 0 && follow && (flags & O_PATH) &&
                fstat(fd, &st) == 0 && S_ISLNK(st.st_mode)) {
                close(fd);
                fd = -1;
                errno = ELOOP;
            }
            if (fd < 0 && follow && (errno == ELOOP || errno == ENOTDIR) &&
                fstatat(top, rem + pos, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(st.st_mode)) {
                goto link;
            }
            ret = fd >= 0 ? fd : -errno;
            break;
        }
        fd = openat(top, rem + pos, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) != 0) {
            ret = -errno;
            if (fd >= 0) {
                close(fd);
            }
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            if (depth == MAX_DEPTH) {
                close(fd);
                ret = -ENAMETOOLONG;
                break;
            }
            stack[depth++] = fd;
            pos = rest + 1;
            continue;
        }
        if (!S_ISLNK(st.st_mode)) {
            close(fd);
            ret = -ENOTDIR;
            break;
        }
        close(fd);
    link:
        if (++links > MAX_LINKS) {
            ret = -ELOOP;
            break;
        }
        if ((ret = read_link_at(top, rem + pos, target, sizeof(target))) !=
            0) {
            break;
        }
        if (is_last) {
            rem[rest] = '\0';
            rest = strlen(rem);
        } else {
            rest++;
        }
        if ((ret = expand_link(&rem, rest, target)) != 0) {
            break;
        }
        pos = 0;
        if (target[0] == '/') {
            while (depth > 1) {
                close(stack[--depth]);
            }
        }
    }
    while (depth > 1) {
        close(stack[--depth]);
    }
    free(rem);
    return ret;
}

/* Opens a kernel-facing relative path under the root; -errno on failure. */
static int
fs_openat(lsh_sftp_fs *fs, const char *rel, int flags, mode_t mode,
          int follow)
{
#if defined(__linux__) && defined(SYS_openat2)
    if (fs->use_openat2) {
        struct open_how how;
        int fd = -1;
        memset(&how, 0, sizeof(how));
        how.flags = (uint64_t)(flags | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
        how.mode = (flags & O_CREAT) ? mode : 0;
        how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
        /* EAGAIN: a concurrent rename raced a ".." (openat2(2)). */
        for (int i = 0; i < 32; i++) {
            fd = (int)syscall(SYS_openat2, fs->rootfd, rel, &how, sizeof(how));
            if (fd >= 0 || errno != EAGAIN) {
                break;
            }
        }
        return fd >= 0 ? fd : -errno;
    }
#endif
    return walk_open(fs, rel, flags, mode, follow);
}

/* Opens a client path; the virtual form is stored in *vout if not NULL. */
static int
open_path(lsh_sftp_fs *fs, const char *path, int flags, mode_t mode,
          int follow)
{
    char *v = vnorm(fs->home, path);
    int fd;
    if (v == NULL) {
        return -ENOMEM;
    }
    fd = fs_openat(fs, rel_of(v), flags, mode, follow);
    free(v);
    return fd;
}

/*
 * Resolves the parent directory of a client path: *dirfd (caller
 * closes) and *name (malloc'd, caller frees).  The root itself has no
 * parent: -EPERM.
 */
static int
open_parent(lsh_sftp_fs *fs, const char *path, int *dirfd, char **name)
{
    char *v = vnorm(fs->home, path), *slash;
    int fd;
    if (v == NULL) {
        return -ENOMEM;
    }
    if (strcmp(v, "/") == 0) {
        free(v);
        return -EPERM;
    }
    slash = strrchr(v, '/');
    if ((*name = strdup(slash + 1)) == NULL) {
        free(v);
        return -ENOMEM;
    }
    if (slash == v) {
        fd = fs_openat(fs, ".", O_PATH | O_DIRECTORY, 0, 1);
    } else {
        *slash = '\0';
        fd = fs_openat(fs, v + 1, O_PATH | O_DIRECTORY, 0, 1);
    }
    free(v);
    if (fd < 0) {
        free(*name);
        *name = NULL;
        return fd;
    }
    *dirfd = fd;
    return 0;
}

/* Attributes */

static void
attrs_of(const struct stat *st, lsh_sftp_attrs *a)
{
    memset(a, 0, sizeof(*a));
    a->flags = LSH_SFTP_ATTR_SIZE | LSH_SFTP_ATTR_UIDGID |
               LSH_SFTP_ATTR_PERMISSIONS | LSH_SFTP_ATTR_ACMODTIME;
    a->size = (uint64_t)st->st_size;
    a->uid = (uint32_t)st->st_uid;
    a->gid = (uint32_t)st->st_gid;
    a->perms = (uint32_t)st->st_mode;
    a->atime = (uint32_t)st->st_atime;
    a->mtime = (uint32_t)st->st_mtime;
}

/* Applies attributes to the inode behind an O_PATH or open descriptor,
 * in OpenSSH's order: size, permissions, times, owner. */
static int
apply_attrs(int fd, const lsh_sftp_attrs *a)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
    if ((a->flags & LSH_SFTP_ATTR_SIZE) &&
        (a->size > (uint64_t)INT64_MAX || truncate(p, (off_t)a->size) != 0)) {
        return a->size > (uint64_t)INT64_MAX ? EINVAL : errno;
    }
    if ((a->flags & LSH_SFTP_ATTR_PERMISSIONS) &&
        chmod(p, (mode_t)(a->perms & 07777)) != 0) {
        return errno;
    }
    if (a->flags & LSH_SFTP_ATTR_ACMODTIME) {
        struct timespec ts[2] = {{(time_t)a->atime, 0},
                                 {(time_t)a->mtime, 0}};
        if (utimensat(AT_FDCWD, p, ts, 0) != 0) {
            return errno;
        }
    }
    if ((a->flags & LSH_SFTP_ATTR_UIDGID) &&
        chown(p, (uid_t)a->uid, (gid_t)a->gid) != 0) {
        return errno;
    }
    return 0;
}

/* Files */

static int
be_open(void *ctx, const char *path, uint32_t pf, const lsh_sftp_attrs *a,
        void **out)
{
    lsh_sftp_fs *fs = ctx;
    struct fs_file *f;
    int flags, fd;
    mode_t mode = (a->flags & LSH_SFTP_ATTR_PERMISSIONS)
                      ? (mode_t)(a->perms & 07777)
                      : 0666;
    if ((pf & LSH_SFTP_FXF_READ) && (pf & LSH_SFTP_FXF_WRITE)) {
        flags = O_RDWR;
    } else if (pf & LSH_SFTP_FXF_WRITE) {
        flags = O_WRONLY;
    } else {
        flags = O_RDONLY;
    }
    if (pf & LSH_SFTP_FXF_APPEND) {
        flags |= O_APPEND;
    }
    if (pf & LSH_SFTP_FXF_CREAT) {
        flags |= O_CREAT;
    }
    if (pf & LSH_SFTP_FXF_TRUNC) {
        flags |= O_TRUNC;
    }
    if (pf & LSH_SFTP_FXF_EXCL) {
        flags |= O_EXCL;
    }
    /* O_NONBLOCK: a FIFO planted in the root must not stall the session. */
    fd = open_path(fs, path, flags | O_NOCTTY | O_NONBLOCK, mode,
                   !(pf & LSH_SFTP_FXF_EXCL));
    if (fd < 0) {
        return status_of(-fd);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if ((f = malloc(sizeof(*f))) == NULL) {
        close(fd);
        return LSH_SFTP_FX_FAILURE;
    }
    f->fd = fd;
    *out = f;
    return LSH_SFTP_FX_OK;
}

static int
be_close(void *ctx, void *file)
{
    struct fs_file *f = file;
    int r = close(f->fd);
    (void)ctx;
    free(f);
    return r == 0 ? LSH_SFTP_FX_OK : status_of(errno);
}

static int
be_read(void *ctx, void *file, uint64_t off, uint8_t *buf, size_t len,
        size_t *got)
{
    struct fs_file *f = file;
    ssize_t k;
    (void)ctx;
    do {
        k = pread(f->fd, buf, len, (off_t)off);
    } while (k < 0 && errno == EINTR);
    if (k < 0) {
        return status_of(errno);
    }
    *got = (size_t)k;
    return LSH_SFTP_FX_OK;
}

static int
be_write(void *ctx, void *file, uint64_t off, const uint8_t *p, size_t n)
{
    struct fs_file *f = file;
    (void)ctx;
    while (n > 0) {
        ssize_t k = pwrite(f->fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return status_of(k < 0 ? errno : EIO);
        }
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return LSH_SFTP_FX_OK;
}

static int
be_fstat(void *ctx, void *file, lsh_sftp_attrs *a)
{
    struct fs_file *f = file;
    struct stat st;
    (void)ctx;
    if (fstat(f->fd, &st) != 0) {
        return status_of(errno);
    }
    attrs_of(&st, a);
    return LSH_SFTP_FX_OK;
}

/* The same on an open (not O_PATH) descriptor, without /proc. */
static int
apply_attrs_fd(int fd, const lsh_sftp_attrs *a)
{
    if ((a->flags & LSH_SFTP_ATTR_SIZE) &&
        (a->size > (uint64_t)INT64_MAX || ftruncate(fd, (off_t)a->size) != 0)) {
        return a->size > (uint64_t)INT64_MAX ? EINVAL : errno;
    }
    if ((a->flags & LSH_SFTP_ATTR_PERMISSIONS) &&
        fchmod(fd, (mode_t)(a->perms & 07777)) != 0) {
        return errno;
    }
    if (a->flags & LSH_SFTP_ATTR_ACMODTIME) {
        struct timespec ts[2] = {{(time_t)a->atime, 0},
                                 {(time_t)a->mtime, 0}};
        if (futimens(fd, ts) != 0) {
            return errno;
        }
    }
    if ((a->flags & LSH_SFTP_ATTR_UIDGID) &&
        fchown(fd, (uid_t)a->uid, (gid_t)a->gid) != 0) {
        return errno;
    }
    return 0;
}

static int
be_fsetstat(void *ctx, void *file, const lsh_sftp_attrs *a)
{
    struct fs_file *f = file;
    (void)ctx;
    return status_of(apply_attrs_fd(f->fd, a));
}

static int
be_fsync(void *ctx, void *file)
{
    struct fs_file *f = file;
    (void)ctx;
    return fsync(f->fd) == 0 ? LSH_SFTP_FX_OK : status_of(errno);
}

static void
statvfs_of(const struct statvfs *v, lsh_sftp_statvfs *s)
{
    s->bsize = v->f_bsize;
    s->frsize = v->f_frsize;
    s->blocks = v->f_blocks;
    s->bfree = v->f_bfree;
    s->bavail = v->f_bavail;
    s->files = v->f_files;
    s->ffree = v->f_ffree;
    s->favail = v->f_favail;
    s->fsid = v->f_fsid;
    s->flag = ((v->f_flag & ST_RDONLY) ? LSH_SFTP_STATVFS_RDONLY : 0) |
              ((v->f_flag & ST_NOSUID) ? LSH_SFTP_STATVFS_NOSUID : 0);
    s->namemax = v->f_namemax;
}

static int
be_fstatvfs(void *ctx, void *file, lsh_sftp_statvfs *s)
{
    struct fs_file *f = file;
    struct statvfs v;
    (void)ctx;
    if (fstatvfs(f->fd, &v) != 0) {
        return status_of(errno);
    }
    statvfs_of(&v, s);
    return LSH_SFTP_FX_OK;
}

/* Directories */

static int
be_opendir(void *ctx, const char *path, void **out)
{
    lsh_sftp_fs *fs = ctx;
    struct fs_dir *d;
    struct stat st;
    int fd = open_path(fs, path, O_RDONLY | O_DIRECTORY, 0, 1);
    if (fd < 0) {
        return status_of(-fd);
    }
    if ((d = calloc(1, sizeof(*d))) == NULL) {
        close(fd);
        return LSH_SFTP_FX_FAILURE;
    }
    d->is_root = fstat(fd, &st) == 0 && st.st_dev == fs->root_dev &&
                 st.st_ino == fs->root_ino;
    if ((d->d = fdopendir(fd)) == NULL) {
        int e = errno;
        close(fd);
        free(d);
        return status_of(e);
    }
    *out = d;
    return LSH_SFTP_FX_OK;
}

static int
be_readdir(void *ctx, void *dir, lsh_sftp_dirent *e)
{
    struct fs_dir *d = dir;
    struct dirent *de;
    struct stat st;
    (void)ctx;
    for (;;) {
        const char *name;
        errno = 0;
        if ((de = readdir(d->d)) == NULL) {
            return errno == 0 ? LSH_SFTP_FX_EOF : status_of(errno);
        }
        /* The root's ".." is shown as the root itself, never its host
         * parent. */
        name = (d->is_root && strcmp(de->d_name, "..") == 0) ? "."
                                                              : de->d_name;
        if (fstatat(dirfd(d->d), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            continue; /* removed meanwhile */
        }
        snprintf(e->name, sizeof(e->name), "%s", de->d_name);
        attrs_of(&st, &e->attrs);
        e->nlink = (uint32_t)st.st_nlink;
        return LSH_SFTP_FX_OK;
    }
}

static int
be_closedir(void *ctx, void *dir)
{
    struct fs_dir *d = dir;
    (void)ctx;
    closedir(d->d);
    free(d);
    return LSH_SFTP_FX_OK;
}

/* Paths */

static int
be_stat(void *ctx, const char *path, int follow, lsh_sftp_attrs *a)
{
    struct stat st;
    int fd = open_path(ctx, path, O_PATH, 0, follow), r;
    if (fd < 0) {
        return status_of(-fd);
    }
    r = fstat(fd, &st);
    close(fd);
    if (r != 0) {
        return status_of(errno);
    }
    attrs_of(&st, a);
    return LSH_SFTP_FX_OK;
}

/* lsetstat on a symlink itself: only times and owner apply. */
static int
setstat_link(lsh_sftp_fs *fs, const char *path, const lsh_sftp_attrs *a)
{
    int dfd, r = 0;
    char *name;
    if ((r = open_parent(fs, path, &dfd, &name)) != 0) {
        return status_of(-r);
    }
    if (a->flags & (LSH_SFTP_ATTR_SIZE | LSH_SFTP_ATTR_PERMISSIONS)) {
        r = EOPNOTSUPP;
    }
    if (r == 0 && (a->flags & LSH_SFTP_ATTR_ACMODTIME)) {
        struct timespec ts[2] = {{(time_t)a->atime, 0},
                                 {(time_t)a->mtime, 0}};
        r = utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : errno;
    }
    if (r == 0 && (a->flags & LSH_SFTP_ATTR_UIDGID)) {
        r = fchownat(dfd, name, (uid_t)a->uid, (gid_t)a->gid,
                     AT_SYMLINK_NOFOLLOW) == 0
                ? 0
                : errno;
    }
    close(dfd);
    free(name);
    return status_of(r);
}

static int
be_setstat(void *ctx, const char *path, int follow, const lsh_sftp_attrs *a)
{
    struct stat st;
    int fd = open_path(ctx, path, O_PATH, 0, follow), r;
    if (fd < 0) {
        return status_of(-fd);
    }
    if (!follow && fstat(fd, &st) == 0 && S_ISLNK(st.st_mode)) {
        close(fd);
        return setstat_link(ctx, path, a);
    }
    r = apply_attrs(fd, a);
    close(fd);
    return status_of(r);
}

/* remove and rmdir */
static int
unlink_common(lsh_sftp_fs *fs, const char *path, int flags)
{
    int dfd, r;
    char *name;
    if ((r = open_parent(fs, path, &dfd, &name)) != 0) {
        return status_of(-r);
    }
    r = unlinkat(dfd, name, flags) == 0 ? 0 : errno;
    close(dfd);
    free(name);
    return status_of(r);
}

static int
be_remove(void *ctx, const char *path)
{
    return unlink_common(ctx, path, 0);
}

static int
be_rmdir(void *ctx, const char *path)
{
    return unlink_common(ctx, path, AT_REMOVEDIR);
}

static int
be_mkdir(void *ctx, const char *path, const lsh_sftp_attrs *a)
{
    int dfd, r;
    char *name;
    mode_t mode = (a->flags & LSH_SFTP_ATTR_PERMISSIONS)
                      ? (mode_t)(a->perms & 07777)
                      : 0777;
    if ((r = open_parent(ctx, path, &dfd, &name)) != 0) {
        return status_of(-r);
    }
    r = mkdirat(dfd, name, mode) == 0 ? 0 : errno;
    close(dfd);
    free(name);
    return status_of(r);
}

static int
be_rename(void *ctx, const char *oldp, const char *newp, int posix)
{
    int ofd = -1, nfd = -1, r;
    char *on = NULL, *nn = NULL;
    if ((r = open_parent(ctx, oldp, &ofd, &on)) != 0 ||
        (r = open_parent(ctx, newp, &nfd, &nn)) != 0) {
        r = -r;
        goto out;
    }
    if (posix) {
        r = renameat(ofd, on, nfd, nn) == 0 ? 0 : errno;
        goto out;
    }
    /* draft-02 §6.5: it is an error if newpath exists. */
#ifdef SYS_renameat2
    r = syscall(SYS_renameat2, ofd, on, nfd, nn, 1 /* RENAME_NOREPLACE */) == 0
            ? 0
            : errno;
    if (r != EINVAL && r != ENOSYS) {
        goto out;
    }
#endif
    {
        struct stat st;
        if (fstatat(nfd, nn, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            r = EEXIST;
        } else {
            r = renameat(ofd, on, nfd, nn) == 0 ? 0 : errno;
        }
    }
out:
    if (ofd >= 0) {
        close(ofd);
    }
    if (nfd >= 0) {
        close(nfd);
    }
    free(on);
    free(nn);
    return status_of(r);
}

/*
 * The target to store for a symlink at virtual path `linkv`: relative
 * targets that stay inside the root are kept as given; absolute or
 * escaping ones become the relative path from the link's directory to
 * the normalised virtual target.  Caller frees.
 */
static char *
contained_target(const char *linkv, const char *target)
{
    char *dir, *vt, *out, *slash;
    const char *d, *t;
    size_t ups = 0, need;
    int depth = 0, escapes = target[0] == '/';
    if (!escapes) {
        /* Depth of the link's directory, then walk the target. */
        for (d = linkv; *d != '\0'; d++) {
            depth += *d == '/';
        }
        depth--; /* the link's own name */
        for (t = target; *t != '\0' && !escapes;) {
            size_t n = strcspn(t, "/");
            if (n == 2 && t[0] == '.' && t[1] == '.') {
                escapes = --depth < 0;
            } else if (n > 0 && !(n == 1 && t[0] == '.')) {
                depth++;
            }
            t += n;
            t += strspn(t, "/");
        }
        if (!escapes) {
            return strdup(target);
        }
    }
    if ((dir = strdup(linkv)) == NULL) {
        return NULL;
    }
    slash = strrchr(dir, '/');
    slash[slash == dir ? 1 : 0] = '\0';
    vt = vnorm(dir, target);
    if (vt == NULL) {
        free(dir);
        return NULL;
    }
    /* Common leading components of dir and vt. */
    d = dir;
    t = vt;
    for (;;) {
        size_t dn, tn;
        d += strspn(d, "/");
        t += strspn(t, "/");
        dn = strcspn(d, "/");
        tn = strcspn(t, "/");
        if (dn == 0 || dn != tn || memcmp(d, t, dn) != 0) {
            break;
        }
        d += dn;
        t += tn;
    }
    for (const char *p = d; *p != '\0';) {
        p += strspn(p, "/");
        if (*p != '\0') {
            ups++;
            p += strcspn(p, "/");
        }
    }
    need = ups * 3 + strlen(t) + 2;
    if ((out = malloc(need)) != NULL) {
        out[0] = '\0';
        for (size_t i = 0; i < ups; i++) {
            strcat(out, "../");
        }
        strcat(out, t);
        if (out[0] == '\0') {
            strcpy(out, ".");
        } else if (out[strlen(out) - 1] == '/') {
            out[strlen(out) - 1] = '\0';
        }
    }
    free(dir);
    free(vt);
    return out;
}

/* Host path of a descriptor (malloc'd), or NULL. */
static char *
fd_host_path(int fd)
{
    char p[64], buf[PATH_MAX];
    ssize_t n;
    snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
    n = readlink(p, buf, sizeof(buf) - 1);
    if (n <= 0 || buf[0] != '/') {
        return NULL;
    }
    buf[n] = '\0';
    return strdup(buf);
}

/*
 * The virtual path of the link to create, from where its parent
 * directory really is (symlinks in the client's path may have moved it),
 * so that the rewritten target is relative to the true location.  Falls
 * back to the lexical path.  Caller frees.
 */
static char *
link_vpath(lsh_sftp_fs *fs, int dfd, const char *name, const char *lexical)
{
    char *host = fs->root_host != NULL ? fd_host_path(dfd) : NULL, *out;
    size_t rl = fs->root_host != NULL ? strlen(fs->root_host) : 0;
    const char *rest;
    if (host == NULL || strncmp(host, fs->root_host, rl) != 0 ||
        (host[rl] != '/' && host[rl] != '\0')) {
        free(host);
        return strdup(lexical);
    }
    rest = host + rl;
    if ((out = malloc(strlen(rest) + strlen(name) + 3)) != NULL) {
        sprintf(out, "%s/%s", rest, name);
    }
    free(host);
    return out;
}

static int
be_symlink(void *ctx, const char *target, const char *linkpath)
{
    lsh_sftp_fs *fs = ctx;
    char *name = NULL, *v = vnorm(fs->home, linkpath), *t = NULL, *lv = NULL;
    int dfd = -1, r;
    if (v == NULL) {
        return LSH_SFTP_FX_FAILURE;
    }
    if ((r = open_parent(fs, linkpath, &dfd, &name)) != 0) {
        r = -r;
        goto out;
    }
    if (fs->is_sysroot) {
        t = strdup(target);
    } else if ((lv = link_vpath(fs, dfd, name, v)) != NULL) {
        t = contained_target(lv, target);
    }
    if (t == NULL) {
        r = ENOMEM;
        goto out;
    }
    r = symlinkat(t, dfd, name) == 0 ? 0 : errno;
out:
    if (dfd >= 0) {
        close(dfd);
    }
    free(name);
    free(v);
    free(lv);
    free(t);
    return status_of(r);
}

static int
be_link(void *ctx, const char *oldp, const char *newp)
{
    int ofd = -1, nfd = -1, r;
    char *on = NULL, *nn = NULL;
    if ((r = open_parent(ctx, oldp, &ofd, &on)) != 0 ||
        (r = open_parent(ctx, newp, &nfd, &nn)) != 0) {
        r = -r;
        goto out;
    }
    /* flags 0: a symlink is linked itself, never followed out. */
    r = linkat(ofd, on, nfd, nn, 0) == 0 ? 0 : errno;
out:
    if (ofd >= 0) {
        close(ofd);
    }
    if (nfd >= 0) {
        close(nfd);
    }
    free(on);
    free(nn);
    return status_of(r);
}

static int
be_statvfs(void *ctx, const char *path, lsh_sftp_statvfs *s)
{
    struct statvfs v;
    int fd = open_path(ctx, path, O_PATH, 0, 1), r;
    if (fd < 0) {
        return status_of(-fd);
    }
    r = fstatvfs(fd, &v);
    close(fd);
    if (r != 0) {
        return status_of(errno);
    }
    statvfs_of(&v, s);
    return LSH_SFTP_FX_OK;
}

static int
be_realpath(void *ctx, const char *path, int expand, char **out)
{
    lsh_sftp_fs *fs = ctx;
    /* expand-path@openssh.com (PROTOCOL §4.9): "~" and "~/..." are the
     * home directory; other users' homes are not inside this root. */
    if (expand && path[0] == '~') {
        if (path[1] != '\0' && path[1] != '/') {
            return LSH_SFTP_FX_NO_SUCH_FILE;
        }
        path = path[1] == '\0' ? "" : path + 2;
    }
    *out = vnorm(fs->home, path);
    return *out != NULL ? LSH_SFTP_FX_OK : LSH_SFTP_FX_FAILURE;
}

static int
be_readlink(void *ctx, const char *path, char **out)
{
    char buf[PATH_MAX], *name;
    int dfd, r;
    if ((r = open_parent(ctx, path, &dfd, &name)) != 0) {
        return status_of(-r);
    }
    r = read_link_at(dfd, name, buf, sizeof(buf));
    close(dfd);
    free(name);
    if (r != 0) {
        return status_of(-r);
    }
    *out = strdup(buf);
    return *out != NULL ? LSH_SFTP_FX_OK : LSH_SFTP_FX_FAILURE;
}

static int
be_user_name(void *ctx, uint32_t uid, char *buf, size_t n)
{
    struct passwd pw, *res = NULL;
    char tmp[2048];
    (void)ctx;
    if (getpwuid_r((uid_t)uid, &pw, tmp, sizeof(tmp), &res) != 0 ||
        res == NULL) {
        return -1;
    }
    snprintf(buf, n, "%s", pw.pw_name);
    return 0;
}

static int
be_group_name(void *ctx, uint32_t gid, char *buf, size_t n)
{
    struct group gr, *res = NULL;
    char tmp[4096];
    (void)ctx;
    if (getgrgid_r((gid_t)gid, &gr, tmp, sizeof(tmp), &res) != 0 ||
        res == NULL) {
        return -1;
    }
    snprintf(buf, n, "%s", gr.gr_name);
    return 0;
}

/* home-directory (PROTOCOL §4.11): only our own user, whose home here is
 * the session's home. */
static int
be_home_directory(void *ctx, const char *user, char **out)
{
    lsh_sftp_fs *fs = ctx;
    char me[256];
    if (user[0] != '\0' &&
        (be_user_name(ctx, (uint32_t)getuid(), me, sizeof(me)) != 0 ||
         strcmp(me, user) != 0)) {
        return LSH_SFTP_FX_NO_SUCH_FILE;
    }
    *out = strdup(fs->home);
    return *out != NULL ? LSH_SFTP_FX_OK : LSH_SFTP_FX_FAILURE;
}

static int64_t
be_now(void *ctx)
{
    (void)ctx;
    return (int64_t)time(NULL);
}

/* API */

int
lsh_sftp_fs_new(const char *root, int flags, lsh_sftp_fs **out)
{
    lsh_sftp_fs *fs = calloc(1, sizeof(*fs));
    struct stat st;
    if (fs == NULL) {
        return LSH_ENOMEM;
    }
    fs->rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fs->rootfd < 0 || fstat(fs->rootfd, &st) != 0) {
        lsh_sftp_fs_free(fs);
        return LSH_ENOTFOUND;
    }
    fs->root_dev = st.st_dev;
    fs->root_ino = st.st_ino;
    {
        struct stat sys;
        fs->is_sysroot = stat("/", &sys) == 0 && sys.st_dev == st.st_dev &&
                         sys.st_ino == st.st_ino;
    }
    fs->root_host = fd_host_path(fs->rootfd);
    fs->home = strdup("/");
    if (fs->home == NULL) {
        lsh_sftp_fs_free(fs);
        return LSH_ENOMEM;
    }
#if defined(__linux__) && defined(SYS_openat2)
    if (!(flags & LSH_SFTP_FS_NO_OPENAT2)) {
        struct open_how how;
        int fd;
        memset(&how, 0, sizeof(how));
        how.flags = O_PATH | O_CLOEXEC;
        how.resolve = RESOLVE_IN_ROOT;
        fd = (int)syscall(SYS_openat2, fs->rootfd, ".", &how, sizeof(how));
        if (fd >= 0) {
            close(fd);
            fs->use_openat2 = 1;
        }
    }
#else
    (void)flags;
#endif
    *out = fs;
    return 0;
}

int
lsh__sftp_fs_set_home(lsh_sftp_fs *fs, const char *home)
{
    char *h = vnorm("/", home);
    if (h == NULL) {
        return LSH_ENOMEM;
    }
    free(fs->home);
    fs->home = h;
    return 0;
}

void
lsh_sftp_fs_free(lsh_sftp_fs *fs)
{
    if (fs == NULL) {
        return;
    }
    if (fs->rootfd >= 0) {
        close(fs->rootfd);
    }
    free(fs->home);
    free(fs->root_host);
    free(fs);
}

void
lsh_sftp_fs_backend(lsh_sftp_fs *fs, lsh_sftp_backend *b)
{
    memset(b, 0, sizeof(*b));
    b->ctx = fs;
    b->open = be_open;
    b->close = be_close;
    b->read = be_read;
    b->write = be_write;
    b->fstat = be_fstat;
    b->fsetstat = be_fsetstat;
    b->fsync = be_fsync;
    b->fstatvfs = be_fstatvfs;
    b->opendir = be_opendir;
    b->readdir = be_readdir;
    b->closedir = be_closedir;
    b->stat = be_stat;
    b->setstat = be_setstat;
    b->remove = be_remove;
    b->mkdir = be_mkdir;
    b->rmdir = be_rmdir;
    b->rename = be_rename;
    b->symlink = be_symlink;
    b->link = be_link;
    b->statvfs = be_statvfs;
    b->realpath = be_realpath;
    b->readlink = be_readlink;
    b->home_directory = be_home_directory;
    b->user_name = be_user_name;
    b->group_name = be_group_name;
    b->now = be_now;
}
