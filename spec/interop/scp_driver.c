/*
 * Runs our SCP source or sink over stdin/stdout with the POSIX backend,
 * i.e. behaves like a remote `scp -f` / `scp -t`, for interop tests with
 * OpenSSH's scp:
 *
 *   scp_driver [-r] [-p] [-d] -t target            (like scp -t)
 *   scp_driver [-r] [-p] -f path...                (like scp -f)
 *   scp_driver ... -x 'shell command' ...          talk to a child's
 *                                                  stdin/stdout instead
 *   scp_driver ... -P pattern -1 ...               sink: client checks
 *   scp_driver ... -b block_size ...
 *
 * Unknown single-letter options that OpenSSH passes to the remote scp
 * (-v, -q) are ignored.  Exit status 0 when every entry was copied, 1
 * otherwise; errors are printed on stderr like scp does.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ssh/scp/scp.h"

static void
on_event(void *ud, const lsh_scp_event *ev)
{
    (void)ud;
    if (ev->type == LSH_SCP_EV_ERROR) {
        fprintf(stderr, "scp_driver: %s%s\n", ev->remote ? "peer: " : "",
                ev->message);
    }
}

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
pump(lsh_scp *s, int in, int out)
{
    static uint8_t buf[65536];
    size_t have = 0, pos = 0, used, n;
    const uint8_t *o;
    int eof = 0;

    for (;;) {
        unsigned w;
        int r = lsh_scp_run(s);
        (void)r; /* the outcome is read with lsh_scp_result() */
        o = lsh_scp_out(s, &n);
        if (n > 0) {
            if (write_all(out, o, n) != 0) {
                return -1;
            }
            lsh_scp_out_ack(s, n);
        }
        w = lsh_scp_wants(s);
        if (w & LSH_SCP_DONE) {
            return 0;
        }
        if (w & LSH_SCP_WANT_RUN) {
            continue;
        }
        if (!(w & LSH_SCP_WANT_INPUT)) {
            if (w & LSH_SCP_WANT_OUTPUT) {
                continue;
            }
            return -1; /* stuck: should not happen */
        }
        if (pos == have) {
            ssize_t k;
            if (eof) {
                if (lsh_scp_feed_eof(s) != 0 && !(lsh_scp_wants(s) &
                                                   LSH_SCP_DONE)) {
                    return -1;
                }
                continue;
            }
            do {
                k = read(in, buf, sizeof(buf));
            } while (k < 0 && errno == EINTR);
            if (k <= 0) {
                eof = 1;
                continue;
            }
            have = (size_t)k;
            pos = 0;
        }
        if (lsh_scp_feed(s, buf + pos, have - pos, &used) != 0) {
            used = 0; /* stopped: DONE is seen on the next turn */
        }
        pos += used;
    }
}

int
main(int argc, char **argv)
{
    lsh_scp_opts o;
    lsh_scp_fs fs;
    lsh_scp *s = NULL;
    const char *cmd = NULL, *detail = NULL;
    const char *patterns[16];
    int sink = -1, in = 0, out = 1, c, r;
    pid_t pid = -1;

    memset(&o, 0, sizeof(o));
    signal(SIGPIPE, SIG_IGN);
    while ((c = getopt(argc, argv, "rpdtfvqx:P:1b:")) != -1) {
        switch (c) {
        case 'r': o.flags |= LSH_SCP_RECURSE; break;
        case 'p': o.flags |= LSH_SCP_PRESERVE; break;
        case 'd': o.flags |= LSH_SCP_TARGET_DIR; break;
        case 't': sink = 1; break;
        case 'f': sink = 0; break;
        case 'x': cmd = optarg; break;
        case '1': o.flags |= LSH_SCP_SINGLE; break;
        case 'b': o.block_size = (size_t)strtoul(optarg, NULL, 10); break;
        case 'P':
            if (o.npatterns < 16) {
                patterns[o.npatterns++] = optarg;
            }
            break;
        default: break;
        }
    }
    if (sink < 0 || optind >= argc || (sink == 1 && optind + 1 != argc)) {
        fprintf(stderr, "usage: scp_driver [-rpd] -t target | -f path...\n");
        return 2;
    }
    o.patterns = o.npatterns > 0 ? patterns : NULL;
    o.event_cb = on_event;
    if (sink) {
        o.target = argv[optind];
    } else {
        o.paths = (const char *const *)(argv + optind);
        o.npaths = (size_t)(argc - optind);
    }
    if (cmd != NULL) {
        int to[2], from[2];
        if (pipe(to) != 0 || pipe(from) != 0) {
            return 2;
        }
        if ((pid = fork()) == 0) {
            dup2(to[0], 0);
            dup2(from[1], 1);
            close(to[0]); close(to[1]); close(from[0]); close(from[1]);
            execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
            _exit(127);
        }
        close(to[0]);
        close(from[1]);
        in = from[0];
        out = to[1];
    }
    if (lsh_scp_fs_posix_init(&fs) != 0 ||
        (sink ? lsh_scp_sink_new(&o, &fs, &s)
              : lsh_scp_source_new(&o, &fs, &s)) != 0) {
        fprintf(stderr, "scp_driver: setup failed\n");
        return 2;
    }
    r = pump(s, in, out);
    close(out);
    if (r == 0) {
        r = lsh_scp_result(s, &detail);
    }
    if (r != 0) {
        fprintf(stderr, "scp_driver: %s%s%s\n", lsh_strerror(r),
                detail != NULL ? ": " : "", detail != NULL ? detail : "");
    }
    lsh_scp_free(s);
    lsh_scp_fs_posix_free(&fs);
    if (pid > 0) {
        int st = 0;
        close(in);
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "scp_driver: peer exited with %d\n",
                    WIFEXITED(st) ? WEXITSTATUS(st) : 128);
            if (r == 0) {
                r = LSH_EIO;
            }
        }
    }
    return r != 0 ? 1 : 0;
}
