/*
 * lsh_sftp_server: an SFTP v3 server as a sans-I/O state machine
 * (draft-ietf-secsh-filexfer-02, OpenSSH PROTOCOL §4).
 *
 * Bytes in (lsh_sftp_server_feed: channel data of the "sftp" subsystem,
 * or stdin), bytes out (lsh_sftp_server_out / lsh_sftp_server_out_ack).
 * Each decoded request becomes one call into a backend (lsh_sftp_backend,
 * a vtable of file operations) and exactly one response.  The server
 * owns the handle table (slot + generation, so forged and stale handles
 * are answered with SSH_FX_FAILURE and never reach the backend), clamps
 * READ to max_read, caps open handles, and stops taking input while its
 * output is above the high-water mark (draft-02 §3: "If the server's
 * queues are full, it should not read any more data").
 *
 * Backend contract: every operation returns an SFTP status code
 * (LSH_SFTP_FX_OK = 0 on success, else NO_SUCH_FILE, PERMISSION_DENIED,
 * FAILURE, OP_UNSUPPORTED, ...).  Paths are NUL-terminated client
 * strings, passed as received (the backend applies its root and current
 * directory).  A NULL operation is answered OP_UNSUPPORTED and the
 * extensions it needs are not advertised.  Each call is self-contained:
 * it reads only its arguments and the object it was given, so a later
 * backend can run it on a worker thread.
 *
 * Threads: nothing is locked, but nothing is shared either: a caller may
 * run the calls on any thread as long as one thread at a time touches a
 * server (and its backend object).  l_sftp_server.c feeds on libuv's
 * thread pool and, between jobs, sends the output (out, out_drop) and
 * takes input (put_input, pending) on its loop thread.
 *
 * Ownership: the caller owns the server and frees it with
 * lsh_sftp_server_free, which closes every handle still open through the
 * backend.  The backend (ctx) must outlive the server.
 */
#ifndef LSH_SSH_SFTP_SERVER_H
#define LSH_SSH_SFTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "ssh/sftp/codec.h"

/* One READDIR entry filled by the backend.  name is NUL-terminated. */
typedef struct lsh_sftp_dirent {
    char name[256 * 4];
    lsh_sftp_attrs attrs;
    uint32_t nlink; /* for the longname; 0 if unknown */
} lsh_sftp_dirent;

typedef struct lsh_sftp_backend {
    void *ctx;
    /* Files.  open stores an opaque file in *file. */
    int (*open)(void *ctx, const char *path, uint32_t pflags,
                const lsh_sftp_attrs *a, void **file);
    int (*close)(void *ctx, void *file);
    /* Reads up to len bytes at off into buf; *got = 0 means end of file. */
    int (*read)(void *ctx, void *file, uint64_t off, uint8_t *buf,
                size_t len, size_t *got);
    int (*write)(void *ctx, void *file, uint64_t off, const uint8_t *p,
                 size_t n);
    int (*fstat)(void *ctx, void *file, lsh_sftp_attrs *a);
    int (*fsetstat)(void *ctx, void *file, const lsh_sftp_attrs *a);
    int (*fsync)(void *ctx, void *file);
    int (*fstatvfs)(void *ctx, void *file, lsh_sftp_statvfs *s);
    /* Directories.  readdir returns LSH_SFTP_FX_EOF at the end. */
    int (*opendir)(void *ctx, const char *path, void **dir);
    int (*readdir)(void *ctx, void *dir, lsh_sftp_dirent *ent);
    int (*closedir)(void *ctx, void *dir);
    /* Paths.  follow: 1 for STAT/SETSTAT, 0 for LSTAT/lsetstat. */
    int (*stat)(void *ctx, const char *path, int follow, lsh_sftp_attrs *a);
    int (*setstat)(void *ctx, const char *path, int follow,
                   const lsh_sftp_attrs *a);
    int (*remove)(void *ctx, const char *path);
    int (*mkdir)(void *ctx, const char *path, const lsh_sftp_attrs *a);
    int (*rmdir)(void *ctx, const char *path);
    /* posix: 1 replaces newpath (posix-rename), 0 fails if it exists. */
    int (*rename)(void *ctx, const char *oldp, const char *newp, int posix);
    /* symlink: target first, as OpenSSH sends it (PROTOCOL §4.1). */
    int (*symlink)(void *ctx, const char *target, const char *linkpath);
    int (*link)(void *ctx, const char *oldp, const char *newp);
    int (*statvfs)(void *ctx, const char *path, lsh_sftp_statvfs *s);
    /* Path results are malloc'd NUL-terminated strings the server frees.
     * expand: 1 for expand-path@openssh.com (tilde expansion). */
    int (*realpath)(void *ctx, const char *path, int expand, char **out);
    int (*readlink)(void *ctx, const char *path, char **out);
    int (*home_directory)(void *ctx, const char *user, char **out);
    /* Names for the longname and users-groups-by-id: fill buf (NUL-
     * terminated) or return nonzero when unknown. */
    int (*user_name)(void *ctx, uint32_t uid, char *buf, size_t n);
    int (*group_name)(void *ctx, uint32_t gid, char *buf, size_t n);
    /* Seconds since the epoch, for the longname's "recent" date format;
     * NULL prints every date with its year. */
    int64_t (*now)(void *ctx);
} lsh_sftp_backend;

typedef struct lsh_sftp_server_config {
    lsh_sftp_backend backend;
    size_t max_handles;   /* 0: 256 */
    size_t max_packet;    /* 0: LSH_SFTP_MAX_PACKET (incoming and outgoing) */
    size_t max_read;      /* 0: max_packet - 1024 (READ clamp) */
    size_t out_high;      /* 0: 4 * max_packet: stop reading above this */
    size_t in_max;        /* input buffered at most (0, or less than
                             max_packet + 4: max_packet + 4) */
    /* SYMLINK's paths come linkpath first, as draft-02 §6.10 has them,
     * not in OpenSSH's order (PROTOCOL §4.1, the default).  AsyncSSH's
     * client sends the draft's order to servers whose version names
     * neither OpenSSH nor paramiko. */
    int symlink_draft_order;
} lsh_sftp_server_config;

typedef struct lsh_sftp_server lsh_sftp_server;

/* Creates a server; *out is owned by the caller. */
LSH_MUST_CHECK int lsh_sftp_server_new(const lsh_sftp_server_config *cfg,
                                       lsh_sftp_server **out);

/* Closes every open handle through the backend and frees the server. */
void lsh_sftp_server_free(lsh_sftp_server *s);

/*
 * Takes received bytes and handles every complete request in them;
 * *used says how many were taken (fewer than n while the output is above
 * its high-water mark: drain with lsh_sftp_server_out and call again).
 * Returns 0, or the sticky fatal error (a packet over max_packet, a
 * request before INIT, a second INIT, out of memory): the session must
 * then be closed after flushing the output.
 */
int lsh_sftp_server_feed(lsh_sftp_server *s, const uint8_t *data, size_t n,
                         size_t *used);

/* Borrowed pointer to the bytes to send (valid until the next call). */
void lsh_sftp_server_out(lsh_sftp_server *s, const uint8_t **p, size_t *n);
/* Drops n sent bytes from the output, then handles the requests the
 * high-water mark held back (backend calls happen here). */
void lsh_sftp_server_out_ack(lsh_sftp_server *s, size_t n);

/*
 * For a caller that runs the core on a worker thread (feed there, send
 * on its loop thread): drops n sent bytes from the output without
 * calling the backend.  Requests held back by the high-water mark stay
 * queued: lsh_sftp_server_pending() says so, and a feed with no data
 * (n = 0) handles them.
 */
void lsh_sftp_server_out_drop(lsh_sftp_server *s, size_t n);

/*
 * Also for that caller, on its loop thread: copies up to n received bytes
 * into the input without handling any request (no backend call); *used
 * says how many fit (the input holds in_max bytes at most).
 * Then, when lsh_sftp_server_pending() says a whole request is there, a
 * feed with no data (on the worker) handles it.  Returns 0 or the sticky
 * error.
 */
int lsh_sftp_server_put_input(lsh_sftp_server *s, const uint8_t *data,
                              size_t n, size_t *used);

/* Nonzero when a whole request (or a bad length) waits in the input,
 * taken by lsh_sftp_server_put_input or held back by the high-water
 * mark: a feed with no data would handle it.  0 after a sticky error. */
int lsh_sftp_server_pending(const lsh_sftp_server *s);

/* The sticky error (0 if none) and a static description. */
int lsh_sftp_server_error(const lsh_sftp_server *s, const char **detail);

/* Number of open handles (tests, limits). */
size_t lsh_sftp_server_handles(const lsh_sftp_server *s);

/*
 * Pacing a server's output into its channel.  RFC 4254 §5.2 lets a sender
 * use less than the peer's window, and against OpenSSH's client using all
 * of it costs throughput: its ssh reads whatever the socket holds, but
 * its sftp takes the data through a pipe at its own pace, so up to the
 * whole 2 MiB window piles up in ssh's channel buffer, and ssh's cost per
 * byte (buffer copies, page faults) grows with that pile; a get from a
 * server that fills the window at once ran at half the speed of one from
 * sshd + sftp-server, whose pipe feeds the window more slowly.
 *
 * The pacer keeps what is in flight (sent, and not yet granted back by
 * WINDOW_ADJUST) at most a cap: twice the bandwidth-delay product it
 * measures, and never below LSH_SFTP_PACE_MIN.  One probe at a time times
 * how long the peer takes to grant back the bytes up to the end of a write
 * (a round trip), and how many bytes it granted meanwhile (the rate,
 * smoothed over probes): the cap is 2 * rate * least round trip.  On a
 * long path the round trip is real and the cap doubles per round trip up
 * to the window; on a fast one (loopback) it stays near the minimum,
 * however large the window.
 *
 * Holding back must never stall the peer: a receiver may wait until it
 * has consumed a good part of its window before it adjusts (luassh's own
 * client waits for half of it, RFC 4254 leaves it open).  Every adjust
 * it sends is at least that threshold, so the cap is also at least twice
 * the smallest adjust seen, and until the first adjust there is no cap
 * but the window.  Pure arithmetic: the caller gives the window and the
 * time.
 */
#define LSH_SFTP_PACE_MIN ((size_t)512 * 1024)

typedef struct lsh_sftp_pace {
    uint32_t wtop;        /* the largest peer window seen */
    uint64_t sent, acked; /* bytes written, and granted back since */
    int probing;
    uint64_t mark;        /* the probe ends once acked reaches it */
    uint64_t mark_acked;  /* acked when it began */
    double t0;            /* when it began (seconds) */
    double rtt;           /* least round trip seen (0: none yet) */
    double rate;          /* bytes/s granted back per probe, smoothed */
    uint64_t adj_min;     /* the smallest adjust seen (0: none yet) */
} lsh_sftp_pace;

void lsh_sftp_pace_init(lsh_sftp_pace *p);
/* The in-flight cap now (bytes; UINT32_MAX: none but the window). */
size_t lsh_sftp_pace_cap(const lsh_sftp_pace *p);
/* Given the peer's window now (lsh_chan_peer_window), accounts what it
 * granted back and returns how many bytes may be written now (0: wait for
 * the next WINDOW_ADJUST). */
size_t lsh_sftp_pace_room(lsh_sftp_pace *p, uint32_t window, double now);
/* n bytes were written at time now. */
void lsh_sftp_pace_sent(lsh_sftp_pace *p, size_t n, double now);

/*
 * The local filesystem backend (fs_posix.c), confined to `root`: every
 * path, `..` and symlink (pre-existing or planted during the session) is
 * resolved inside root by the kernel (openat2 RESOLVE_IN_ROOT), or, where
 * openat2 is missing, by a per-component walk with O_NOFOLLOW.  Absolute
 * and escaping symlink targets created through SFTP are rewritten as
 * relative links inside root.  Client paths are virtual: "/" is root.
 * flags: LSH_SFTP_FS_NO_OPENAT2 forces the fallback walker (tests).
 */
#define LSH_SFTP_FS_NO_OPENAT2 1
typedef struct lsh_sftp_fs lsh_sftp_fs;
LSH_MUST_CHECK int lsh_sftp_fs_new(const char *root, int flags,
                                   lsh_sftp_fs **out);
void lsh_sftp_fs_free(lsh_sftp_fs *fs);
/* Cross-file internal: sets the virtual home directory (where relative
 * paths start; default "/").  Used by lsh_sftp_serve_stdio. */
LSH_MUST_CHECK int lsh__sftp_fs_set_home(lsh_sftp_fs *fs, const char *home);
/* Fills a backend vtable that uses fs (fs must outlive the server). */
void lsh_sftp_fs_backend(lsh_sftp_fs *fs, lsh_sftp_backend *b);

/*
 * `luassh --sftp-server [root]`: serves SFTP on stdin/stdout until EOF,
 * confined to root (NULL: "/", the process's view, as sshd's
 * sftp-server).  Returns a process exit status.
 */
int lsh_sftp_serve_stdio(const char *root);

#endif
