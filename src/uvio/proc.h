/*
 * Local subprocesses: fork/exec a program with its stdin, stdout and
 * stderr on pipes, /dev/null, or a pseudo-terminal from openpty(3), and
 * pump those pipes on the event loop.  The SSH server runs a session's
 * command this way (RFC 4254 §6.2 pty-req, §6.5 exec, §6.7 window-change,
 * §6.9 signal, §6.10 exit-status/exit-signal); this layer holds no
 * protocol knowledge beyond mapping RFC 4254 §8 terminal modes to
 * termios (DESIGN.md "Layers").
 *
 * Ownership: the owner creates an lsh_io_proc with lsh_io_proc_spawn and
 * ends its part with lsh_io_proc_release, after which no callback is
 * called and the pointer must not be used.  Releasing kills a child that
 * is still running (SIGKILL, to its process group when it leads one) and
 * closes the pipes; the memory goes once every pipe has closed and the
 * child has been reaped, so no zombie is left behind.
 *
 * Callbacks run from the loop, never from inside a call of this API.
 */
#ifndef LSH_UVIO_PROC_H
#define LSH_UVIO_PROC_H

#include <stddef.h>
#include <stdint.h>

#include "ssh/connection/session.h"

typedef struct lsh_io_proc lsh_io_proc;

/* What one of the child's fds 0, 1, 2 is connected to. */
enum {
    LSH_IO_STDIO_PIPE,    /* a pipe to us */
    LSH_IO_STDIO_DEVNULL, /* /dev/null */
    LSH_IO_STDIO_STDOUT,  /* fd 2 only: the same as fd 1 */
    LSH_IO_STDIO_PTY      /* the pty's slave (needs opts.pty) */
};

typedef struct lsh_io_proc_opts {
    const char *file;       /* the program; searched in PATH without '/' */
    char *const *argv;      /* NULL-terminated, argv[0] included */
    char *const *envp;      /* NULL-terminated "K=V"; NULL: ours */
    const char *cwd;        /* NULL: ours */
    int stdio[3];           /* LSH_IO_STDIO_* for fds 0, 1, 2 */
    int new_session;        /* setsid() in the child (forced by pty) */
    /* Pseudo-terminal: fds 0 and 1 must be LSH_IO_STDIO_PTY, and stdin
     * and stdout then both go through the master.  The child becomes a
     * session leader with the slave as its controlling terminal. */
    int pty;
    uint32_t cols, rows, width_px, height_px;
    const lsh_tty_mode *modes; /* applied to the slave's termios */
    size_t nmodes;
} lsh_io_proc_opts;

typedef struct lsh_io_proc_cbs {
    /* Output of fd 1 or 2 (borrowed for the call); n == 0 is its end of
     * file (EOF, or EIO from a pty master once the slave is gone). */
    void (*on_data)(lsh_io_proc *p, int fd, const uint8_t *buf, size_t n,
                    void *data);
    /* The child was reaped: its exit status, or the signal that killed
     * it (termsig > 0, core_dumped).  Comes whether or not the pipes are
     * at EOF yet. */
    void (*on_exit)(lsh_io_proc *p, int status, int termsig,
                    int core_dumped, void *data);
    /* Everything written to stdin has gone to the child, or writing
     * failed (lsh_io_proc_write_error says). */
    void (*on_drain)(lsh_io_proc *p, void *data);
} lsh_io_proc_cbs;

/* Why a spawn failed, for the error message. */
typedef struct lsh_io_proc_failure {
    int sys_errno;    /* errno of the failing step */
    const char *what; /* "program", "cwd", "pty", "pipe", "fork", ... */
} lsh_io_proc_failure;

/*
 * Starts the child.  Returns 0 and *out (callbacks follow from the loop;
 * output is being read), or a negative LSH_E* with *fail filled in and
 * no child left: LSH_ENOTFOUND (no such program or cwd), LSH_EINVAL (bad
 * options), LSH_EIO (another system error), LSH_ENOMEM.
 */
int lsh_io_proc_spawn(const lsh_io_proc_opts *opts,
                      const lsh_io_proc_cbs *cbs, void *data,
                      lsh_io_proc **out, lsh_io_proc_failure *fail);

int lsh_io_proc_pid(const lsh_io_proc *p);

/*
 * Queues n bytes (copied) for the child's stdin.  0; LSH_ESTATE when
 * stdin is not ours or write_eof was called; LSH_ECLOSED when writing
 * failed before (the child closed its end); LSH_ENOMEM.
 */
int lsh_io_proc_write(lsh_io_proc *p, const uint8_t *buf, size_t n);

/* Bytes written but not yet taken by the child. */
size_t lsh_io_proc_write_pending(const lsh_io_proc *p);

/* 0, or LSH_ECLOSED once a write failed (EPIPE) or the pty went away. */
int lsh_io_proc_write_error(const lsh_io_proc *p);

/*
 * Ends stdin once the queued bytes have gone: a pipe is closed; on a pty
 * the terminal's VEOF character is sent (twice after a partial line) when
 * it is in canonical mode.  Idempotent.
 */
void lsh_io_proc_write_eof(lsh_io_proc *p);

/* Starts (on = 1) or stops reading fd 1 or 2 (backpressure). */
void lsh_io_proc_read_enable(lsh_io_proc *p, int fd, int on);

/*
 * Sends signum to the child (to its process group too when `group` and
 * it leads one).  0; LSH_ESTATE when it was reaped already; LSH_EINVAL.
 */
int lsh_io_proc_kill(lsh_io_proc *p, int signum, int group);

/* TIOCSWINSZ on the master (the child gets SIGWINCH).  0, or LSH_ESTATE
 * when there is no pty (any more). */
int lsh_io_proc_set_winsize(lsh_io_proc *p, uint32_t cols, uint32_t rows,
                            uint32_t width_px, uint32_t height_px);

/* The slave's name ("/dev/pts/3") or NULL. */
const char *lsh_io_proc_tty_name(const lsh_io_proc *p);

/* Closes the pipes (stdin at once: pending bytes are dropped) and kills a
 * running child with SIGKILL; on_exit still follows.  Idempotent. */
void lsh_io_proc_close(lsh_io_proc *p);

/* lsh_io_proc_close, and no callback is ever called again; see above. */
void lsh_io_proc_release(lsh_io_proc *p);

#endif
