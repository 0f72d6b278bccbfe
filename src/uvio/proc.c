/*
 * Local subprocesses (proc.h).
 *
 * IMPLEMENTATION NOTES
 *
 * Spawning.  libuv's uv_spawn cannot give the child a controlling
 * terminal (it has no hook between setsid() and exec), and a pty session
 * needs one for job control, ^C and SIGWINCH.  So the child is forked
 * here; between fork and exec it calls only async-signal-safe functions
 * (sigaction, sigprocmask, setsid, dup2, ioctl, chdir, execve, write,
 * _exit), because the loop's thread pool may hold locks.  Everything it
 * needs (the resolved path, argv, envp, the fds) is prepared before the
 * fork.  A close-on-exec pipe carries errno back when chdir or execve
 * fails; the parent reads it until EOF, which comes as soon as the exec
 * succeeds (as libuv does).  The program is looked up in PATH before the
 * fork, so "no such program" is an error of the spawn call itself.
 *
 * Reaping.  One uv_signal_t watches SIGCHLD for every child made here;
 * on each signal every child not yet reaped is polled with
 * waitpid(pid, WNOHANG), never waitpid(-1), so children of libuv's own
 * uv_spawn, system() or io.popen are left to their owners.  The watcher
 * is referenced (keeps the loop alive) while a child is unreaped.  At
 * shutdown, children killed by a release get up to 200 ms to be reaped.
 *
 * Pipes.  Each of our ends becomes a uv_pipe_t (uv_pipe_open works for a
 * pty master as for a pipe); h[0] writes stdin, h[1] reads stdout, h[2]
 * reads stderr.  With a pty, the master is h[1] and carries stdin too.
 * A read error ends that stream (EIO is how a pty master says the slave
 * side is gone).  Closing a pipe (uv_close) closes its fd at once.
 *
 * Lifetime.  A proc is freed when its owner released it, every handle's
 * close callback has run, and the child was reaped.  At loop shutdown the
 * watcher's close callback stops waiting for children (they are
 * reparented to init).
 */
#include "uvio/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "uvio/internal.h"

extern char **environ;

#define READ_BUF (64 * 1024)
#define MAX_WRITE (1u << 30) /* uv_buf_t lengths are unsigned int */

struct lsh_io_proc {
    lsh_io_base base; /* every handle's data points here */
    lsh_io_proc *next_live;
    int pid;
    int reaped, released, closed;
    int busy;         /* inside a callback: not to be freed yet */
    int killed;       /* we sent SIGKILL */
    int has_status, wstatus;
    int handles;      /* initialised handles whose close_cb is to come */
    int pty, group;
    uv_pipe_t h[3];
    int h_open[3];    /* initialised and not closing */
    int h_reading[3];
    int master_fd;    /* -1 without a pty or once closed */
    size_t pending;   /* bytes in write requests */
    int write_err;
    int eof_wanted;
    int at_line_start; /* for VEOF on a pty */
    char tty_name[64];
    lsh_io_proc_cbs cbs;
    void *data;
};

typedef struct write_req {
    uv_write_t req;
    size_t len;
    uint8_t bytes[];
} write_req;

/* The SIGCHLD watcher and the children it waits for. */
static struct {
    lsh_io_base base; /* sig.data points here */
    uv_signal_t sig;
    int active;
    lsh_io_proc *live;
} W;

static uint8_t read_buf[READ_BUF];

/* Lifetime */

static void
maybe_free(lsh_io_proc *p)
{
    if (p->released && p->reaped && p->handles == 0 && p->busy == 0) {
        free(p);
    }
}

static void
handle_closed(uv_handle_t *h)
{
    lsh_io_proc *p = h->data;
    p->handles--;
    maybe_free(p);
}

static void
close_handle(lsh_io_proc *p, int i)
{
    if (!p->h_open[i]) {
        return;
    }
    p->h_open[i] = 0;
    p->h_reading[i] = 0;
    if (i == 1 && p->pty) {
        p->master_fd = -1; /* uv_close closes it now */
    }
    if (!uv_is_closing((uv_handle_t *)&p->h[i])) {
        uv_close((uv_handle_t *)&p->h[i], handle_closed);
    }
}

/* The stream that carries stdin, or -1. */
static int
stdin_index(const lsh_io_proc *p)
{
    int i = p->pty ? 1 : 0;
    return p->h_open[i] ? i : -1;
}

/* Reaping */

static void
update_ref(void)
{
    if (!W.active) {
        return;
    }
    if (W.live != NULL) {
        uv_ref((uv_handle_t *)&W.sig);
    } else {
        uv_unref((uv_handle_t *)&W.sig);
    }
}

/*
 * Polls every unreaped child; reports and unlinks those that ended.  At
 * shutdown (`final`) the rest are given up on as well (no status).
 */
static void
sweep(int final)
{
    lsh_io_proc *done = NULL, **pp = &W.live;
    /* At shutdown, children we killed get a short while to die, so that
     * they are not left as zombies (one deadline for all of them). */
    uint64_t deadline = final ? uv_hrtime() + 200 * 1000000ull : 0;

    while (*pp != NULL) {
        lsh_io_proc *p = *pp;
        int st = 0, r;
        for (;;) {
            do {
                r = waitpid(p->pid, &st, WNOHANG);
            } while (r < 0 && errno == EINTR);
            if (r != 0 || !final || !p->killed || uv_hrtime() >= deadline) {
                break;
            }
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL);
        }
        if (r == 0 && !final) {
            pp = &p->next_live;
            continue;
        }
        /* Ended, or ECHILD (reaped by someone else), or shutdown. */
        *pp = p->next_live;
        p->reaped = 1;
        p->has_status = r == p->pid;
        p->wstatus = st;
        p->busy++;
        p->next_live = done;
        done = p;
    }
    update_ref();
    while (done != NULL) {
        lsh_io_proc *p = done;
        done = p->next_live;
        p->next_live = NULL;
        if (p->has_status && !p->released && p->cbs.on_exit != NULL) {
            int st = p->wstatus, core = 0;
#ifdef WCOREDUMP
            core = WIFSIGNALED(st) && WCOREDUMP(st);
#endif
            p->cbs.on_exit(p, WIFEXITED(st) ? WEXITSTATUS(st) : 0,
                           WIFSIGNALED(st) ? WTERMSIG(st) : 0, core,
                           p->data);
        }
        p->busy--;
        maybe_free(p);
    }
}

static void
on_sigchld(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
    sweep(0);
}

static void
watcher_closed(uv_handle_t *h)
{
    (void)h;
    W.active = 0;
    sweep(1);
}

static int
ensure_watcher(void)
{
    int r;
    if (W.active) {
        return 0;
    }
    if ((r = uv_signal_init(lsh__io_loop(), &W.sig)) != 0) {
        return r;
    }
    W.base.close_cb = watcher_closed;
    W.sig.data = &W;
    if ((r = uv_signal_start(&W.sig, on_sigchld, SIGCHLD)) != 0) {
        uv_close((uv_handle_t *)&W.sig, NULL);
        return r;
    }
    W.active = 1;
    uv_unref((uv_handle_t *)&W.sig);
    return 0;
}

/* Terminal modes (RFC 4254 §8) to termios */

enum { T_CC, T_I, T_O, T_L, T_C };

static const struct {
    uint8_t op;
    uint8_t field;
    tcflag_t flag; /* the c_cc index for T_CC */
} mode_map[] = {
    {1, T_CC, VINTR}, {2, T_CC, VQUIT}, {3, T_CC, VERASE},
    {4, T_CC, VKILL}, {5, T_CC, VEOF}, {6, T_CC, VEOL}, {7, T_CC, VEOL2},
    {8, T_CC, VSTART}, {9, T_CC, VSTOP}, {10, T_CC, VSUSP},
#ifdef VDSUSP
    {11, T_CC, VDSUSP},
#endif
    {12, T_CC, VREPRINT}, {13, T_CC, VWERASE}, {14, T_CC, VLNEXT},
#ifdef VSWTC
    {16, T_CC, VSWTC},
#endif
    {18, T_CC, VDISCARD},
    {30, T_I, IGNPAR}, {31, T_I, PARMRK}, {32, T_I, INPCK},
    {33, T_I, ISTRIP}, {34, T_I, INLCR}, {35, T_I, IGNCR},
    {36, T_I, ICRNL}, {37, T_I, IUCLC}, {38, T_I, IXON},
    {39, T_I, IXANY}, {40, T_I, IXOFF}, {41, T_I, IMAXBEL},
    {42, T_I, IUTF8},
    {50, T_L, ISIG}, {51, T_L, ICANON}, {52, T_L, XCASE}, {53, T_L, ECHO},
    {54, T_L, ECHOE}, {55, T_L, ECHOK}, {56, T_L, ECHONL},
    {57, T_L, NOFLSH}, {58, T_L, TOSTOP}, {59, T_L, IEXTEN},
    {60, T_L, ECHOCTL}, {61, T_L, ECHOKE}, {62, T_L, PENDIN},
    {70, T_O, OPOST}, {71, T_O, OLCUC}, {72, T_O, ONLCR},
    {73, T_O, OCRNL}, {74, T_O, ONOCR}, {75, T_O, ONLRET},
    {92, T_C, PARENB}, {93, T_C, PARODD},
};

static const struct {
    uint32_t baud;
    speed_t speed;
} speeds[] = {
    {0, B0}, {50, B50}, {75, B75}, {110, B110}, {134, B134}, {150, B150},
    {200, B200}, {300, B300}, {600, B600}, {1200, B1200}, {1800, B1800},
    {2400, B2400}, {4800, B4800}, {9600, B9600}, {19200, B19200},
    {38400, B38400}, {57600, B57600}, {115200, B115200},
    {230400, B230400},
};

static void
set_speed(struct termios *t, uint8_t op, uint32_t baud)
{
    for (size_t i = 0; i < sizeof(speeds) / sizeof(speeds[0]); i++) {
        if (speeds[i].baud == baud) {
            if (op == 128) {
                cfsetispeed(t, speeds[i].speed);
            } else {
                cfsetospeed(t, speeds[i].speed);
            }
            return;
        }
    }
}

static void
set_flag(tcflag_t *f, tcflag_t flag, uint32_t on)
{
    *f = on ? (*f | flag) : (*f & ~flag);
}

/* Applies the modes in order (the last of a repeated opcode wins); modes
 * this system lacks are ignored, as §8 allows. */
static void
apply_modes(struct termios *t, const lsh_tty_mode *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t op = m[i].opcode;
        uint32_t v = m[i].value;
        if (op == 128 || op == 129) {
            set_speed(t, op, v);
            continue;
        }
        if (op == 90 || op == 91) {
            /* CS7 / CS8: a character size, set when true. */
            if (v) {
                t->c_cflag = (t->c_cflag & ~CSIZE) | (op == 90 ? CS7 : CS8);
            }
            continue;
        }
        for (size_t k = 0; k < sizeof(mode_map) / sizeof(mode_map[0]); k++) {
            if (mode_map[k].op != op) {
                continue;
            }
            switch (mode_map[k].field) {
            case T_CC:
                /* 255 disables the character (OpenSSH's convention). */
                t->c_cc[mode_map[k].flag] =
                    v == 255 ? _POSIX_VDISABLE : (cc_t)v;
                break;
            case T_I: set_flag(&t->c_iflag, mode_map[k].flag, v); break;
            case T_O: set_flag(&t->c_oflag, mode_map[k].flag, v); break;
            case T_L: set_flag(&t->c_lflag, mode_map[k].flag, v); break;
            default: set_flag(&t->c_cflag, mode_map[k].flag, v); break;
            }
            break;
        }
    }
}

/* Spawning */

/* What the child does between fork and exec; all prepared beforehand. */
typedef struct child_plan {
    const char *path;
    char *const *argv;
    char *const *envp;
    const char *cwd;
    int fd[3];
    int new_session, pty;
    int err_fd;
} child_plan;

enum { STEP_SETUP = 1, STEP_CWD, STEP_EXEC };

typedef struct child_report {
    int step, err;
} child_report;

static void __attribute__((noreturn))
child_fail(const child_plan *c, int step)
{
    child_report rep = {step, errno};
    ssize_t r;
    do {
        r = write(c->err_fd, &rep, sizeof(rep));
    } while (r < 0 && errno == EINTR);
    _exit(127);
}

/* Runs in the child: async-signal-safe calls only. */
static void __attribute__((noreturn))
child_main(const child_plan *c)
{
    struct sigaction sa;
    sigset_t none;

    /* Ignored signals stay ignored across exec (SIGPIPE is, here). */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (int s = 1; s < NSIG; s++) {
        if (s != SIGKILL && s != SIGSTOP) {
            (void)sigaction(s, &sa, NULL);
        }
    }
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    if (c->new_session && setsid() < 0) {
        child_fail(c, STEP_SETUP);
    }
    for (int i = 0; i < 3; i++) {
        /* Every fd[i] is >= 3, so dup2 never clobbers one still needed;
         * the copy is not close-on-exec. */
        if (dup2(c->fd[i], i) < 0) {
            child_fail(c, STEP_SETUP);
        }
    }
    if (c->pty && ioctl(0, TIOCSCTTY, 0) < 0) {
        child_fail(c, STEP_SETUP);
    }
    if (c->cwd != NULL && chdir(c->cwd) < 0) {
        child_fail(c, STEP_CWD);
    }
    execve(c->path, c->argv, c->envp != NULL ? c->envp : environ);
    child_fail(c, STEP_EXEC);
}

/*
 * The program to exec: file itself when it has a '/', else the first
 * executable regular file of that name in PATH (the child's PATH when an
 * environment is given).  Returns a malloc'd path, or NULL with errno.
 */
static char *
find_program(const char *file, char *const *envp)
{
    const char *path = NULL, *seg;
    int saw_eacces = 0;
    size_t flen = strlen(file);

    if (flen == 0) {
        errno = ENOENT;
        return NULL;
    }
    if (strchr(file, '/') != NULL) {
        return strdup(file);
    }
    if (envp != NULL) {
        for (char *const *e = envp; *e != NULL; e++) {
            if (strncmp(*e, "PATH=", 5) == 0) {
                path = *e + 5;
                break;
            }
        }
    } else {
        path = getenv("PATH");
    }
    if (path == NULL) {
        path = "/usr/local/bin:/usr/bin:/bin";
    }
    for (seg = path;; seg++) {
        const char *end = strchr(seg, ':');
        size_t dlen = end ? (size_t)(end - seg) : strlen(seg);
        char *cand = malloc(dlen + flen + 3);
        struct stat st;
        if (cand == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        if (dlen == 0) {
            memcpy(cand, ".", 1);
            dlen = 1;
        } else {
            memcpy(cand, seg, dlen);
        }
        cand[dlen] = '/';
        memcpy(cand + dlen + 1, file, flen + 1);
        if (stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
            if (access(cand, X_OK) == 0) {
                return cand;
            }
            saw_eacces = 1;
        }
        free(cand);
        if (end == NULL) {
            break;
        }
        seg = end;
    }
    errno = saw_eacces ? EACCES : ENOENT;
    return NULL;
}

/* Moves fd to 3 or above (close-on-exec) so that the child's dup2 onto
 * 0..2 cannot overwrite it; -1 with errno on failure. */
static int
move_high(int fd)
{
    int nfd;
    if (fd < 0 || fd >= 3) {
        return fd;
    }
    nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return nfd;
}

static int
set_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    return fl < 0 ? -1 : fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

/* The fds being prepared; -1 when unused.  child[i] may repeat. */
typedef struct fdset {
    int child[3];
    int parent[3];
    int master, slave, devnull;
    int err[2];
} fdset;

static void
close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Closes the child's ends (each once) after the fork, or on failure. */
static void
close_child_fds(fdset *f)
{
    for (int i = 0; i < 3; i++) {
        int fd = f->child[i];
        if (fd < 0) {
            continue;
        }
        for (int k = i; k < 3; k++) {
            if (f->child[k] == fd) {
                f->child[k] = -1;
            }
        }
        if (fd != f->slave && fd != f->devnull) {
            close(fd);
        }
    }
    close_fd(&f->slave);
    close_fd(&f->devnull);
}

static void
close_all_fds(fdset *f)
{
    close_child_fds(f);
    for (int i = 0; i < 3; i++) {
        if (f->parent[i] != f->master) {
            close_fd(&f->parent[i]);
        }
    }
    close_fd(&f->master);
    close_fd(&f->err[0]);
    close_fd(&f->err[1]);
}

static int
fail_with(lsh_io_proc_failure *fail, const char *what, int err, int code)
{
    fail->what = what;
    fail->sys_errno = err;
    return code;
}

static int
errno_code(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR: return LSH_ENOTFOUND;
    case ENOMEM: return LSH_ENOMEM;
    default: return LSH_EIO;
    }
}

/* Opens the pty and applies size and modes; 0 or errno. */
static int
open_pty(const lsh_io_proc_opts *o, fdset *f, char *name, size_t namelen)
{
    struct winsize ws;
    struct termios t;

    memset(&ws, 0, sizeof(ws));
    ws.ws_col = (unsigned short)(o->cols > 65535 ? 65535 : o->cols);
    ws.ws_row = (unsigned short)(o->rows > 65535 ? 65535 : o->rows);
    ws.ws_xpixel =
        (unsigned short)(o->width_px > 65535 ? 65535 : o->width_px);
    ws.ws_ypixel =
        (unsigned short)(o->height_px > 65535 ? 65535 : o->height_px);
    if (openpty(&f->master, &f->slave, NULL, NULL, &ws) < 0) {
        return errno;
    }
    if (set_cloexec(f->master) < 0 || set_cloexec(f->slave) < 0) {
        return errno;
    }
    if ((f->slave = move_high(f->slave)) < 0) {
        return errno;
    }
    if (ttyname_r(f->slave, name, namelen) != 0) {
        name[0] = '\0';
    }
    if (o->nmodes > 0) {
        if (tcgetattr(f->slave, &t) < 0) {
            return errno;
        }
        apply_modes(&t, o->modes, o->nmodes);
        if (tcsetattr(f->slave, TCSANOW, &t) < 0) {
            return errno;
        }
    }
    return 0;
}

static int
check_opts(const lsh_io_proc_opts *o, const lsh_io_proc_cbs *cbs)
{
    if (o == NULL || o->file == NULL || o->argv == NULL ||
        o->argv[0] == NULL || cbs == NULL || cbs->on_data == NULL) {
        return LSH_EINVAL;
    }
    for (int i = 0; i < 3; i++) {
        int m = o->stdio[i];
        if (m < LSH_IO_STDIO_PIPE || m > LSH_IO_STDIO_PTY ||
            (m == LSH_IO_STDIO_STDOUT && i != 2) ||
            (m == LSH_IO_STDIO_PTY && !o->pty)) {
            return LSH_EINVAL;
        }
    }
    if (o->pty && (o->stdio[0] != LSH_IO_STDIO_PTY ||
                   o->stdio[1] != LSH_IO_STDIO_PTY)) {
        return LSH_EINVAL;
    }
    return 0;
}

/* Makes every fd of the plan; 0, or a code with *fail filled in. */
static int
make_fds(const lsh_io_proc_opts *o, fdset *f, char *name, size_t namelen,
         lsh_io_proc_failure *fail)
{
    int e;

    if (o->pty && (e = open_pty(o, f, name, namelen)) != 0) {
        return fail_with(fail, "pty", e, errno_code(e));
    }
    for (int i = 0; i < 3; i++) {
        int fds[2];
        switch (o->stdio[i]) {
        case LSH_IO_STDIO_PIPE:
            if (pipe2(fds, O_CLOEXEC) < 0) {
                return fail_with(fail, "pipe", errno, errno_code(errno));
            }
            /* stdin: the child reads fds[0]; outputs: it writes fds[1]. */
            f->child[i] = i == 0 ? fds[0] : fds[1];
            f->parent[i] = i == 0 ? fds[1] : fds[0];
            if ((f->child[i] = move_high(f->child[i])) < 0) {
                return fail_with(fail, "pipe", errno, errno_code(errno));
            }
            break;
        case LSH_IO_STDIO_DEVNULL:
            if (f->devnull < 0 &&
                ((f->devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0 ||
                 (f->devnull = move_high(f->devnull)) < 0)) {
                return fail_with(fail, "/dev/null", errno,
                                 errno_code(errno));
            }
            f->child[i] = f->devnull;
            break;
        case LSH_IO_STDIO_STDOUT:
            f->child[i] = f->child[1];
            break;
        default: /* LSH_IO_STDIO_PTY */
            f->child[i] = f->slave;
            break;
        }
    }
    if (o->pty) {
        f->parent[1] = f->master;
    }
    if (pipe2(f->err, O_CLOEXEC) < 0 || (f->err[1] = move_high(f->err[1])) < 0) {
        return fail_with(fail, "pipe", errno, errno_code(errno));
    }
    return 0;
}

/* Waits for the exec report; 0 when the exec happened. */
static int
read_report(int fd, child_report *rep)
{
    size_t got = 0;
    while (got < sizeof(*rep)) {
        ssize_t r = read(fd, (char *)rep + got, sizeof(*rep) - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
    }
    return got == sizeof(*rep) ? -1 : 0;
}

static void
reap_now(int pid)
{
    int r;
    do {
        r = waitpid(pid, NULL, 0);
    } while (r < 0 && errno == EINTR);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

/* Takes the parent's fds into handles and starts reading. */
static int
open_handles(lsh_io_proc *p, fdset *f)
{
    uv_loop_t *loop = lsh__io_loop();
    int r;
    for (int i = 0; i < 3; i++) {
        if (f->parent[i] < 0) {
            continue;
        }
        if ((r = uv_pipe_init(loop, &p->h[i], 0)) != 0) {
            return r;
        }
        p->h[i].data = p;
        p->handles++;
        p->h_open[i] = 1;
        if ((r = uv_pipe_open(&p->h[i], f->parent[i])) != 0) {
            return r;
        }
        /* The handle owns the fd now. */
        if (f->parent[i] == f->master) {
            f->master = -1;
        }
        f->parent[i] = -1;
        if (i > 0) {
            if ((r = uv_read_start((uv_stream_t *)&p->h[i], alloc_cb,
                                   on_read)) != 0) {
                return r;
            }
            p->h_reading[i] = 1;
        }
    }
    return 0;
}

/* Once per process: a write to a child that went away must fail with
 * EPIPE, not kill us (luassh's main ignores SIGPIPE already; a host
 * program loading luassh.so may not). */
static void
ignore_sigpipe(void)
{
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
        !(old.sa_flags & SA_SIGINFO)) {
        signal(SIGPIPE, SIG_IGN);
    }
}

int
lsh_io_proc_spawn(const lsh_io_proc_opts *o, const lsh_io_proc_cbs *cbs,
                  void *data, lsh_io_proc **out, lsh_io_proc_failure *fail)
{
    fdset f = {{-1, -1, -1}, {-1, -1, -1}, -1, -1, -1, {-1, -1}};
    child_plan plan;
    child_report rep;
    lsh_io_proc *p = NULL;
    char *path = NULL;
    sigset_t all, old_mask;
    int r, pid, fork_errno;

    fail->what = "spawn";
    fail->sys_errno = 0;
    if ((r = check_opts(o, cbs)) != 0) {
        return fail_with(fail, "options", EINVAL, r);
    }
    if (lsh__io_loop() == NULL) {
        return fail_with(fail, "loop", EINVAL, LSH_ESTATE);
    }
    if ((r = ensure_watcher()) != 0) {
        return fail_with(fail, "SIGCHLD", -r, LSH_EIO);
    }
    ignore_sigpipe();
    if ((path = find_program(o->file, o->envp)) == NULL) {
        return fail_with(fail, "program", errno, errno_code(errno));
    }
    if ((p = calloc(1, sizeof(*p))) == NULL) {
        free(path);
        return fail_with(fail, "memory", ENOMEM, LSH_ENOMEM);
    }
    p->base.close_cb = handle_closed;
    p->master_fd = -1;
    p->at_line_start = 1;
    if ((r = make_fds(o, &f, p->tty_name, sizeof(p->tty_name), fail)) != 0) {
        goto fail_early;
    }
    memset(&plan, 0, sizeof(plan));
    plan.path = path;
    plan.argv = o->argv;
    plan.envp = o->envp;
    plan.cwd = o->cwd;
    plan.new_session = o->new_session || o->pty;
    plan.pty = o->pty;
    plan.err_fd = f.err[1];
    memcpy(plan.fd, f.child, sizeof(plan.fd));

    /* No signal handler of ours (libuv's writes to its signal pipe) may
     * run in the child before it resets them: block everything around
     * the fork; the child unblocks after the reset. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old_mask);
    pid = fork();
    fork_errno = errno;
    if (pid == 0) {
        child_main(&plan);
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    if (pid < 0) {
        r = fail_with(fail, "fork", fork_errno, errno_code(fork_errno));
        goto fail_early;
    }
    free(path);
    path = NULL;
    close_child_fds(&f);
    close_fd(&f.err[1]);
    if (read_report(f.err[0], &rep) != 0) {
        reap_now(pid);
        close_all_fds(&f);
        free(p);
        return fail_with(fail,
                         rep.step == STEP_CWD    ? "cwd"
                         : rep.step == STEP_EXEC ? "program"
                                                 : "setup",
                         rep.err, errno_code(rep.err));
    }
    close_fd(&f.err[0]);

    p->pid = pid;
    p->pty = o->pty;
    p->group = plan.new_session;
    p->master_fd = f.master;
    p->cbs = *cbs;
    p->data = data;
    p->next_live = W.live;
    W.live = p;
    update_ref();
    if ((r = open_handles(p, &f)) != 0) {
        /* Practically unreachable (uv_pipe_open on fresh fds). */
        close_all_fds(&f);
        lsh_io_proc_release(p);
        return fail_with(fail, "pipe", -r, LSH_EIO);
    }
    *out = p;
    return 0;

fail_early:
    close_all_fds(&f);
    free(path);
    free(p);
    return r;
}

int
lsh_io_proc_pid(const lsh_io_proc *p)
{
    return p->pid;
}

const char *
lsh_io_proc_tty_name(const lsh_io_proc *p)
{
    return p->pty && p->tty_name[0] ? p->tty_name : NULL;
}

/* Reading */

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init((char *)read_buf, sizeof(read_buf));
}

static void
on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    lsh_io_proc *p = st->data;
    int i = st == (uv_stream_t *)&p->h[2] ? 2 : 1;

    if (nread > 0) {
        if (!p->released) {
            p->cbs.on_data(p, i, (const uint8_t *)buf->base, (size_t)nread,
                           p->data);
        }
        return;
    }
    if (nread == 0) {
        return;
    }
    /* EOF, EIO from a pty master, or another error: the stream ends. */
    close_handle(p, i);
    if (i == 1 && p->pty && p->write_err == 0 && !p->eof_wanted) {
        p->write_err = LSH_ECLOSED;
    }
    if (!p->released) {
        p->cbs.on_data(p, i, NULL, 0, p->data);
        if (i == 1 && p->pty && p->cbs.on_drain != NULL) {
            p->cbs.on_drain(p, p->data);
        }
    }
}

void
lsh_io_proc_read_enable(lsh_io_proc *p, int fd, int on)
{
    if (fd < 1 || fd > 2 || !p->h_open[fd] || p->h_reading[fd] == !!on) {
        return;
    }
    if (on) {
        if (uv_read_start((uv_stream_t *)&p->h[fd], alloc_cb, on_read) ==
            0) {
            p->h_reading[fd] = 1;
        }
    } else {
        uv_read_stop((uv_stream_t *)&p->h[fd]);
        p->h_reading[fd] = 0;
    }
}

/* Writing */

static void
finish_eof(lsh_io_proc *p)
{
    if (p->eof_wanted && !p->pty && p->pending == 0) {
        close_handle(p, 0);
    }
}

static void
on_write(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    lsh_io_proc *p = req->handle->data;

    p->pending -= w->len;
    free(w);
    if (status < 0 && status != UV_ECANCELED && p->write_err == 0) {
        p->write_err = LSH_ECLOSED;
    }
    if (p->pending > 0 && p->write_err == 0) {
        return;
    }
    finish_eof(p);
    if (!p->released && p->cbs.on_drain != NULL) {
        p->cbs.on_drain(p, p->data);
    }
}

static int
write_chunk(lsh_io_proc *p, int i, const uint8_t *buf, size_t n)
{
    uv_stream_t *st = (uv_stream_t *)&p->h[i];
    write_req *w;
    uv_buf_t b;
    int r;

    if (p->pending == 0) {
        b = uv_buf_init((char *)buf, (unsigned)n);
        r = uv_try_write(st, &b, 1);
        if (r > 0) {
            buf += r;
            n -= (size_t)r;
            if (n == 0) {
                return 0;
            }
        } else if (r != UV_EAGAIN && r != UV_ENOSYS) {
            p->write_err = LSH_ECLOSED;
            return LSH_ECLOSED;
        }
    }
    if ((w = malloc(sizeof(*w) + n)) == NULL) {
        return LSH_ENOMEM;
    }
    memcpy(w->bytes, buf, n);
    w->len = n;
    b = uv_buf_init((char *)w->bytes, (unsigned)n);
    if ((r = uv_write(&w->req, st, &b, 1, on_write)) != 0) {
        free(w);
        p->write_err = LSH_ECLOSED;
        return LSH_ECLOSED;
    }
    p->pending += n;
    return 0;
}

int
lsh_io_proc_write(lsh_io_proc *p, const uint8_t *buf, size_t n)
{
    int i = stdin_index(p), r;

    if (p->eof_wanted || p->closed) {
        return LSH_ESTATE;
    }
    if (p->write_err != 0) {
        return p->write_err;
    }
    if (i < 0) {
        return p->pty ? LSH_ECLOSED : LSH_ESTATE;
    }
    while (n > 0) {
        size_t k = n > MAX_WRITE ? MAX_WRITE : n;
        if ((r = write_chunk(p, i, buf, k)) != 0) {
            return r;
        }
        p->at_line_start = buf[k - 1] == '\n' || buf[k - 1] == '\r';
        buf += k;
        n -= k;
    }
    return 0;
}

size_t
lsh_io_proc_write_pending(const lsh_io_proc *p)
{
    return p->pending;
}

int
lsh_io_proc_write_error(const lsh_io_proc *p)
{
    return p->write_err;
}

void
lsh_io_proc_write_eof(lsh_io_proc *p)
{
    struct termios t;
    int i = stdin_index(p);

    if (p->eof_wanted || p->closed) {
        return;
    }
    if (p->pty && i >= 0 && p->write_err == 0 &&
        tcgetattr(p->master_fd, &t) == 0 && (t.c_lflag & ICANON) &&
        t.c_cc[VEOF] != _POSIX_VDISABLE) {
        /* A VEOF after a partial line only ends that line. */
        uint8_t eof[2] = {t.c_cc[VEOF], t.c_cc[VEOF]};
        (void)write_chunk(p, i, eof, p->at_line_start ? 1 : 2);
    }
    p->eof_wanted = 1;
    finish_eof(p);
}

/* Signals, size, closing */

int
lsh_io_proc_kill(lsh_io_proc *p, int signum, int group)
{
    int r;
    if (signum < 0 || signum >= NSIG) {
        return LSH_EINVAL;
    }
    if (p->reaped) {
        return LSH_ESTATE;
    }
    r = group && p->group ? kill(-p->pid, signum) : kill(p->pid, signum);
    if (r < 0) {
        return errno == EINVAL ? LSH_EINVAL : LSH_ESTATE;
    }
    return 0;
}

int
lsh_io_proc_set_winsize(lsh_io_proc *p, uint32_t cols, uint32_t rows,
                        uint32_t width_px, uint32_t height_px)
{
    struct winsize ws;
    if (!p->pty || p->master_fd < 0) {
        return LSH_ESTATE;
    }
    memset(&ws, 0, sizeof(ws));
    ws.ws_col = (unsigned short)(cols > 65535 ? 65535 : cols);
    ws.ws_row = (unsigned short)(rows > 65535 ? 65535 : rows);
    ws.ws_xpixel = (unsigned short)(width_px > 65535 ? 65535 : width_px);
    ws.ws_ypixel = (unsigned short)(height_px > 65535 ? 65535 : height_px);
    if (ioctl(p->master_fd, TIOCSWINSZ, &ws) < 0) {
        return LSH_EIO;
    }
    return 0;
}

void
lsh_io_proc_close(lsh_io_proc *p)
{
    if (p == NULL || p->closed) {
        return;
    }
    p->closed = 1;
    for (int i = 0; i < 3; i++) {
        close_handle(p, i);
    }
    if (!p->reaped) {
        p->killed = lsh_io_proc_kill(p, SIGKILL, 1) == 0;
    }
}

void
lsh_io_proc_release(lsh_io_proc *p)
{
    if (p == NULL || p->released) {
        return;
    }
    lsh_io_proc_close(p);
    p->released = 1;
    p->cbs.on_data = NULL;
    p->cbs.on_exit = NULL;
    p->cbs.on_drain = NULL;
    maybe_free(p);
}
