/*
 * Internals shared by the SCP source and sink machines (scp.c, source.c,
 * sink.c).  Not part of the public API.
 */
#ifndef LSH_SSH_SCP_INTERNAL_H
#define LSH_SSH_SCP_INTERNAL_H

#include "ssh/scp/scp.h"

/* Times later than 9999-12-31T23:59:59Z are refused as absurd. */
#define LSH__SCP_MAX_TIME UINT64_C(253402300799)
/* Longest relative path we track for events and messages. */
#define LSH__SCP_MAX_PATH 65536u

enum { LSH__SCP_SOURCE = 1, LSH__SCP_SINK = 2 };

typedef struct lsh__scp_frame {
    void *h;           /* directory handle (owned) */
    size_t pathlen;    /* s->path length before this directory's name */
    lsh_scp_attr attr; /* sink: mode/times to apply at E */
} lsh__scp_frame;

struct lsh_scp {
    int role;
    unsigned flags;
    size_t block;
    unsigned max_depth;
    const lsh_scp_fs *fs;
    lsh_scp_event_cb cb;
    void *ud;

    int state;
    int kont;       /* source: continuation after a response */
    int result;     /* first fatal or 0 */
    int had_errors; /* non-fatal errors happened */
    int done;
    char *detail;   /* first error message (owned) */
    size_t nerrors;

    lsh_buf out;

    /* Line (or error message) being accumulated. */
    char line[LSH_SCP_MAX_LINE + 1];
    size_t linelen;
    int line_trunc;  /* an error message longer than the buffer */
    int resp_fatal;  /* source/sink: the message after \2 */

    /* Relative path of the current entry, NUL-terminated. */
    char *path;
    size_t pathlen;
    size_t pathcap;

    lsh__scp_frame *stack;
    unsigned depth;

    /* Current file (and source: the directory opened before D). */
    void *fh;
    void *pending_dir;
    size_t entry_pathlen; /* s->path length before the current entry */
    size_t proto_off;     /* source: offset of the name to send in path */
    uint64_t size;
    uint64_t off;
    int ioerr;          /* a read/write failed; message in ioerrmsg */
    char ioerrmsg[256];
    lsh_scp_attr fattr; /* sink: mode/times for the current file */

    /* Sink. */
    char *target;
    void *root;         /* handle of the target directory, or NULL */
    int target_is_dir;
    size_t ntop;
    char **patterns;
    size_t npatterns;
    int have_times;
    uint64_t atime;
    uint64_t mtime;

    /* Source. */
    char **paths;
    size_t npaths;
    size_t next;
};

/* scp.c */
int lsh__scp_alloc(const lsh_scp_opts *o, const lsh_scp_fs *fs, int role,
                   lsh_scp **out);
int lsh__scp_path_push(lsh_scp *s, const char *name);
void lsh__scp_path_pop(lsh_scp *s, size_t len);
void lsh__scp_event(lsh_scp *s, int type);
/* Records an error (escaping control characters) and emits its event. */
void lsh__scp_error(lsh_scp *s, const char *msg, int remote, int fatal);
/* Queues "\1scp: <path>: <msg>\n" (or \2 when fatal) and records it. */
int lsh__scp_send_error(lsh_scp *s, int fatal, const char *path,
                        const char *msg);
/* Stops the machine with a fatal code (sticky). */
int lsh__scp_fail(lsh_scp *s, int code);
const char *lsh__scp_fs_msg(lsh_scp *s, int code);
int lsh__scp_put_line(lsh_scp *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* source.c / sink.c */
int lsh__scp_source_step(lsh_scp *s);
int lsh__scp_source_feed(lsh_scp *s, const uint8_t *p, size_t n,
                         size_t *used);
int lsh__scp_source_eof(lsh_scp *s);
int lsh__scp_sink_step(lsh_scp *s);
int lsh__scp_sink_feed(lsh_scp *s, const uint8_t *p, size_t n, size_t *used);
int lsh__scp_sink_eof(lsh_scp *s);
unsigned lsh__scp_source_wants(const lsh_scp *s);
unsigned lsh__scp_sink_wants(const lsh_scp *s);

#endif
