/*
 * `luassh --sftp-server [root]`: the SFTP server on stdin/stdout, as
 * OpenSSH's sftp-server runs under `Subsystem sftp` or `sftp -D`.
 * A blocking loop (one client per process); the event-loop server for
 * SSH channels feeds the same lsh_sftp_server from channel data instead.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ssh/sftp/server.h"

static int
write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int
flush_out(lsh_sftp_server *s)
{
    const uint8_t *p;
    size_t n;
    for (;;) {
        lsh_sftp_server_out(s, &p, &n);
        if (n == 0) {
            return 0;
        }
        if (write_all(STDOUT_FILENO, p, n) != 0) {
            return -1;
        }
        lsh_sftp_server_out_ack(s, n);
    }
}

static int
serve(lsh_sftp_server *s)
{
    static uint8_t buf[64 * 1024];
    for (;;) {
        ssize_t k = read(STDIN_FILENO, buf, sizeof(buf));
        size_t off = 0;
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return k == 0 ? 0 : 1;
        }
        while (off < (size_t)k) {
            size_t used = 0;
            int r = lsh_sftp_server_feed(s, buf + off, (size_t)k - off, &used);
            off += used;
            if (flush_out(s) != 0) {
                return 1;
            }
            if (r != 0) {
                const char *d = NULL;
                lsh_sftp_server_error(s, &d);
                fprintf(stderr, "sftp-server: %s (%s)\n", lsh_strerror(r),
                        d != NULL ? d : "");
                return 1;
            }
        }
    }
}

int
lsh_sftp_serve_stdio(const char *root)
{
    lsh_sftp_server_config cfg;
    lsh_sftp_server *s = NULL;
    lsh_sftp_fs *fs = NULL;
    int st = 1;
    memset(&cfg, 0, sizeof(cfg));
    if (lsh_sftp_fs_new(root != NULL ? root : "/", 0, &fs) != 0) {
        fprintf(stderr, "sftp-server: cannot open root %s\n",
                root != NULL ? root : "/");
        return 1;
    }
    if (root == NULL) {
        /* No root: the whole filesystem, relative paths from the current
         * directory, as sshd's sftp-server from the user's home. */
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof(cwd)) != NULL &&
            lsh__sftp_fs_set_home(fs, cwd) != 0) {
            goto out;
        }
    }
    lsh_sftp_fs_backend(fs, &cfg.backend);
    if (lsh_sftp_server_new(&cfg, &s) != 0) {
        goto out;
    }
    st = serve(s);
out:
    lsh_sftp_server_free(s);
    lsh_sftp_fs_free(fs);
    return st;
}
