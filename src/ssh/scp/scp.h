/*
 * SCP: the legacy rcp/scp protocol that OpenSSH's `scp -O` speaks, as two
 * sans-I/O state machines.
 *
 * The source side is what `scp -f path...` runs; the sink side is what
 * `scp -t target` runs.  Our client plays whichever side the remote does
 * not, and our server answers both exec requests.  SCP has no RFC: the
 * framing follows ../shared/specs/scp-protocol-how-it-works.md.
 *
 *   C<mode> <size> <name>\n   a file; <size> data bytes follow after the
 *                             sink's 0 byte, then a status byte each way
 *   D<mode> 0 <name>\n        enter a directory (needs -r)
 *   E\n                       leave the directory
 *   T<mtime> 0 <atime> 0\n    times of the next C/D (with -p)
 *   \0                        OK; \1 text\n warning; \2 text\n fatal
 *
 * Bytes from the peer go in through lsh_scp_feed(); bytes for the peer are
 * read with lsh_scp_out()/lsh_scp_out_ack().  File operations go through
 * an lsh_scp_fs vtable (fs_posix.c gives the POSIX one), so the same
 * machines work over local files, an SFTP session or a chroot.
 *
 * Safety (CVE-2019-6111, CVE-2018-20685, AsyncSSH CVE-2026-54591 class):
 * the sink only ever creates names it received as single path components,
 * relative to directory handles it opened itself; it refuses names with
 * '/', NUL or control characters, "." and "..", names not matching what
 * the caller asked for, unexpected directories, extra top-level entries,
 * bad modes, sizes and times, E without D, and recursion deeper than
 * max_depth.  A refusal stops the whole transfer with a \2 error line
 * before anything for that entry is written.
 */
#ifndef LSH_SSH_SCP_H
#define LSH_SSH_SCP_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

/* ---- file attributes and the backend vtable ---- */

enum lsh_scp_ftype {
    LSH_SCP_FT_OTHER = 0,
    LSH_SCP_FT_REG = 1,
    LSH_SCP_FT_DIR = 2
};

/* Which fields of lsh_scp_attr are meaningful (for setattr). */
#define LSH_SCP_ATTR_MODE 0x1u
#define LSH_SCP_ATTR_TIMES 0x2u

typedef struct lsh_scp_attr {
    unsigned flags;   /* LSH_SCP_ATTR_* set by the sink for setattr */
    int type;         /* enum lsh_scp_ftype (stat results) */
    uint32_t mode;    /* permission bits, <= 07777 */
    uint64_t size;    /* bytes (regular files) */
    uint64_t atime;   /* seconds since 1970 */
    uint64_t mtime;
} lsh_scp_attr;

/*
 * File operations.  Every op returns 0 or a negative LSH_E* code
 * (LSH_ENOTFOUND when the name does not exist); after a failure, errmsg
 * (optional) gives a short text for the error line ("Permission denied").
 * Handles are opaque to the machines and released with close().
 *
 * `dir` NULL means `name` is a path the local user gave (trusted: may
 * contain '/' and follow symlinks).  Otherwise `dir` is a directory handle
 * from opendir() and `name` one component received from the peer: the
 * backend must resolve it inside `dir` without following a symlink in its
 * last component (openat + O_NOFOLLOW for POSIX).
 *
 * The ops are synchronous: they return the final result.
 */
typedef struct lsh_scp_fs {
    void *ctx;
    /* stat(): follows symlinks when dir is NULL or `follow` is set. */
    int (*stat)(void *ctx, void *dir, const char *name, int follow,
                lsh_scp_attr *out);
    /* Opens an existing directory for reading entries / as a parent. */
    int (*opendir)(void *ctx, void *dir, const char *name, void **out);
    /* Next entry name (borrowed until the next call); *name NULL at end.
     * "." and ".." may be returned; the machine skips them. */
    int (*readdir)(void *ctx, void *dirh, const char **name);
    /* Creates a directory with permission bits `mode`. */
    int (*mkdir)(void *ctx, void *dir, const char *name, uint32_t mode);
    /* Opens a file for reading; *attr from the open file (fstat). */
    int (*open_read)(void *ctx, void *dir, const char *name, void **out,
                     lsh_scp_attr *attr);
    /* Creates or truncates a file for writing (mode used on creation). */
    int (*open_write)(void *ctx, void *dir, const char *name, uint32_t mode,
                      void **out);
    /* Reads up to n bytes at off; *got 0 means end of file. */
    int (*read)(void *ctx, void *fh, uint64_t off, uint8_t *buf, size_t n,
                size_t *got);
    /* Writes all n bytes at off. */
    int (*write)(void *ctx, void *fh, uint64_t off, const uint8_t *buf,
                 size_t n);
    /* Applies the fields named in attr->flags to an open file/directory. */
    int (*setattr)(void *ctx, void *h, const lsh_scp_attr *attr);
    /* Releases a file or directory handle; reports a deferred write error. */
    int (*close)(void *ctx, void *h);
    /* Text of the last failure, or NULL. */
    const char *(*errmsg)(void *ctx);
} lsh_scp_fs;

/* ---- options ---- */

#define LSH_SCP_RECURSE 0x01u    /* -r: directories allowed */
#define LSH_SCP_PRESERVE 0x02u   /* -p: T lines, exact modes and times */
#define LSH_SCP_TARGET_DIR 0x04u /* -d: sink target must be a directory */
/* Sink: exactly one top-level entry may arrive (client asked for one path
 * without wildcards). */
#define LSH_SCP_SINGLE 0x08u

#define LSH_SCP_DEFAULT_BLOCK 16384u
#define LSH_SCP_MAX_BLOCK (1024u * 1024u)
#define LSH_SCP_DEFAULT_DEPTH 64u
/* Longest protocol or error line we accept (name up to 4095 bytes). */
#define LSH_SCP_MAX_LINE 4200u

enum lsh_scp_ev_type {
    LSH_SCP_EV_FILE_BEGIN = 1, /* path, size, mode */
    LSH_SCP_EV_PROGRESS,       /* path, done, size (after each block) */
    LSH_SCP_EV_FILE_END,       /* path, done == size unless an error */
    LSH_SCP_EV_DIR_BEGIN,      /* path, mode */
    LSH_SCP_EV_DIR_END,        /* path */
    LSH_SCP_EV_ERROR           /* path (may be ""), message, remote, fatal */
};

typedef struct lsh_scp_event {
    int type;
    const char *path;    /* relative to the transfer root; borrowed */
    uint64_t size;
    uint64_t done;
    uint32_t mode;
    const char *message; /* ERROR: control characters escaped; borrowed */
    int remote;          /* ERROR: 1 = the peer's error line */
    int fatal;           /* ERROR: the transfer stops */
} lsh_scp_event;

/* Called from inside lsh_scp_feed/run; must not call lsh_scp_* on the
 * same machine.  Borrowed strings are valid during the call only. */
typedef void (*lsh_scp_event_cb)(void *ud, const lsh_scp_event *ev);

typedef struct lsh_scp_opts {
    unsigned flags;        /* LSH_SCP_* */
    size_t block_size;     /* data chunk; 0: LSH_SCP_DEFAULT_BLOCK */
    unsigned max_depth;    /* directory nesting; 0: LSH_SCP_DEFAULT_DEPTH */
    /* Source: the paths to send (trusted, as the user gave them). */
    const char *const *paths;
    size_t npaths;
    /* Sink: the destination (trusted).  An existing directory receives
     * the entries under their names; otherwise the single top-level
     * entry is created under this path. */
    const char *target;
    /* Sink: fnmatch(3) patterns a top-level name must match (the last
     * component of each path the client asked for); NULL/0: any name. */
    const char *const *patterns;
    size_t npatterns;
    lsh_scp_event_cb event_cb;
    void *event_ud;
} lsh_scp_opts;

/* ---- the machine ---- */

typedef struct lsh_scp lsh_scp;

/*
 * Creates a source (`scp -f`) or sink (`scp -t`) machine.  The options'
 * strings are copied; fs must outlive the machine.  The caller owns *out
 * and frees it with lsh_scp_free().  A sink queues its first 0 byte at
 * once; a source waits for it.
 */
LSH_MUST_CHECK int lsh_scp_source_new(const lsh_scp_opts *o,
                                      const lsh_scp_fs *fs, lsh_scp **out);
LSH_MUST_CHECK int lsh_scp_sink_new(const lsh_scp_opts *o,
                                    const lsh_scp_fs *fs, lsh_scp **out);

/* Closes any open handles and frees the machine.  NULL is fine. */
void lsh_scp_free(lsh_scp *s);

/*
 * Consumes bytes from the peer.  *used may be less than n when the
 * machine cannot take more now (output waiting to be drained, a source
 * that is not expecting a reply, or the end of the transfer): feed the
 * rest again after draining the output.  Returns 0 or the sticky error.
 */
LSH_MUST_CHECK int lsh_scp_feed(lsh_scp *s, const void *p, size_t n,
                                size_t *used);

/* The peer closed its side: fine between entries at the top level,
 * LSH_ETRUNCATED anywhere else. */
LSH_MUST_CHECK int lsh_scp_feed_eof(lsh_scp *s);

/* Advances the machine without input (a source reads files and queues
 * data until its output holds about two blocks).  0 or the sticky error. */
LSH_MUST_CHECK int lsh_scp_run(lsh_scp *s);

/* Bytes for the peer (borrowed until the next call on the machine). */
const uint8_t *lsh_scp_out(const lsh_scp *s, size_t *n);
/* Drops n bytes that were sent. */
void lsh_scp_out_ack(lsh_scp *s, size_t n);

#define LSH_SCP_WANT_INPUT 0x1u  /* waiting for bytes from the peer */
#define LSH_SCP_WANT_OUTPUT 0x2u /* output is queued */
#define LSH_SCP_WANT_RUN 0x4u    /* can progress by lsh_scp_run() */
#define LSH_SCP_DONE 0x8u        /* finished (successfully or not) */
unsigned lsh_scp_wants(const lsh_scp *s);

/*
 * Outcome once LSH_SCP_DONE: 0 when every entry was copied, LSH_EIO when
 * some entries failed but the transfer went on (like scp's exit status 1),
 * LSH_EREFUSED when we refused the peer's data, LSH_EPROTOCOL for a
 * malformed peer, LSH_EDISCONNECTED when the peer sent a fatal error.
 * *detail (may be NULL) gets the first error message (borrowed).
 */
int lsh_scp_result(const lsh_scp *s, const char **detail);

/* Number of error lines sent and received so far. */
size_t lsh_scp_error_count(const lsh_scp *s);

/* ---- helpers ---- */

/*
 * Checks one name received in a C or D line: non-empty, not "." or "..",
 * no '/', no NUL, no control characters (0x00-0x1f, 0x7f).  0 or
 * LSH_EREFUSED.
 */
LSH_MUST_CHECK int lsh_scp_check_name(const char *name, size_t len);

/*
 * Appends `arg` to b quoted for a POSIX shell ('...' with '\'' for quotes),
 * for the remote command line `scp -f -- <arg>` (libssh CVE-2019-14889).
 */
LSH_MUST_CHECK int lsh_scp_quote_arg(lsh_buf *b, const char *arg);

/* ---- POSIX backend (fs_posix.c) ---- */

/*
 * Fills *fs with the local file system backend: names from the peer are
 * opened with openat() relative to directory descriptors, O_NOFOLLOW on
 * every create and directory open, and files created inside a directory
 * must be regular files.  Error messages are strerror() texts.  Free with
 * lsh_scp_fs_posix_free().
 */
LSH_MUST_CHECK int lsh_scp_fs_posix_init(lsh_scp_fs *fs);
void lsh_scp_fs_posix_free(lsh_scp_fs *fs);

#endif
