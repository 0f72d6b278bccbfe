/*
 * Tests for src/ssh/sftp/server.c over the fs_posix backend, driven
 * in-process: requests are encoded with the codec, fed as bytes, and the
 * responses decoded from the output.  Each test runs on a throw-away
 * tree under /tmp:
 *
 *     T/root/          the SFTP root
 *     T/outside/secret "SECRET" (must never be read, changed or removed)
 *
 * The whole suite runs twice: with openat2(RESOLVE_IN_ROOT) and with the
 * per-component fallback walker (LSH_SFTP_FS_NO_OPENAT2).  The
 * containment cases are reliability-plan.md §2.7 / P-12.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "ssh/sftp/server.h"

typedef struct T {
    int fsflags;
    char dir[64], root[96], outside[96];
    lsh_sftp_fs *fs;
    lsh_sftp_server *s;
    lsh_buf last; /* the bytes of the last response packet */
    lsh_sftp_response r;
    uint8_t h[LSH_SFTP_MAX_HANDLE];
    size_t hn;
    uint32_t id;
} T;

static int g_fsflags;

static void
xsystem(const char *fmt, const char *a)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), fmt, a);
    assert_int_equal(system(cmd), 0);
}

static void
put_file(const char *path, const char *data)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(data, f);
    fclose(f);
}

/* The file's content, or "" when missing (static buffer). */
static const char *
get_file(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "rb");
    size_t n;
    if (f == NULL) {
        return "";
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void
pathf(char *out, size_t n, const char *base, const char *rel)
{
    snprintf(out, n, "%s/%s", base, rel);
}

static int
start_server(T *t, size_t max_handles)
{
    lsh_sftp_server_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    lsh_sftp_fs_backend(t->fs, &cfg.backend);
    cfg.max_handles = max_handles;
    return lsh_sftp_server_new(&cfg, &t->s);
}

/* Feeds raw bytes and collects exactly one response packet into t->r. */
static int
feed_raw(T *t, const uint8_t *p, size_t n)
{
    size_t used = 0, len, consumed;
    const uint8_t *out, *pkt;
    size_t on;
    int r = lsh_sftp_server_feed(t->s, p, n, &used);
    if (r != 0) {
        return r;
    }
    assert_int_equal(used, n);
    lsh_sftp_server_out(t->s, &out, &on);
    assert_int_equal(lsh_sftp_frame(out, on, LSH_SFTP_MAX_PACKET, &pkt, &len,
                                    &consumed),
                     1);
    assert_int_equal(consumed, on); /* one request, one response */
    lsh_buf_reset(&t->last);
    assert_int_equal(lsh_buf_put(&t->last, pkt, len), 0);
    lsh_sftp_server_out_ack(t->s, on);
    assert_int_equal(lsh_sftp_response_decode(lsh_buf_ptr(&t->last), len,
                                              &t->r),
                     0);
    return 0;
}

static void
send_req(T *t, lsh_sftp_request *q)
{
    lsh_buf b;
    q->id = ++t->id;
    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_sftp_request_put(&b, q), 0);
    assert_int_equal(feed_raw(t, lsh_buf_ptr(&b), lsh_buf_len(&b)), 0);
    lsh_buf_free(&b);
    if (q->type != LSH_SFTP_INIT) {
        assert_int_equal(t->r.id, q->id);
    }
}

static lsh_sftp_str
S(const char *s)
{
    lsh_sftp_str r = {(const uint8_t *)s, strlen(s)};
    return r;
}

/* One-path request; returns the response type. */
static int
path_req(T *t, uint8_t type, const char *path)
{
    lsh_sftp_request q;
    memset(&q, 0, sizeof(q));
    q.type = type;
    q.path = S(path);
    send_req(t, &q);
    return t->r.type;
}

static uint32_t
status_of(T *t)
{
    return t->r.type == LSH_SFTP_STATUS ? t->r.code : 0xffffffffu;
}

static uint32_t
two_paths(T *t, uint8_t type, lsh_sftp_ext ext, const char *a, const char *b)
{
    lsh_sftp_request q;
    memset(&q, 0, sizeof(q));
    q.type = type;
    q.ext = ext;
    q.path = S(a);
    q.path2 = S(b);
    send_req(t, &q);
    return status_of(t);
}

/* OPEN; on success the handle is kept in t->h.  Returns the status (0 for
 * a HANDLE). */
static uint32_t
open_file(T *t, const char *path, uint32_t pflags)
{
    lsh_sftp_request q;
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_OPEN;
    q.path = S(path);
    q.pflags = pflags;
    send_req(t, &q);
    if (t->r.type == LSH_SFTP_HANDLE) {
        memcpy(t->h, t->r.handle.p, t->r.handle.n);
        t->hn = t->r.handle.n;
        return 0;
    }
    return status_of(t);
}

static uint32_t
handle_req(T *t, uint8_t type, const uint8_t *h, size_t hn)
{
    lsh_sftp_request q;
    memset(&q, 0, sizeof(q));
    q.type = type;
    q.handle.p = h;
    q.handle.n = hn;
    send_req(t, &q);
    return status_of(t);
}

static uint32_t
write_at(T *t, uint64_t off, const char *data)
{
    lsh_sftp_request q;
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_WRITE;
    q.handle.p = t->h;
    q.handle.n = t->hn;
    q.offset = off;
    q.data = S(data);
    send_req(t, &q);
    return status_of(t);
}

static uint32_t
read_at(T *t, uint64_t off, uint32_t len)
{
    lsh_sftp_request q;
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_READ;
    q.handle.p = t->h;
    q.handle.n = t->hn;
    q.offset = off;
    q.len = len;
    send_req(t, &q);
    return t->r.type == LSH_SFTP_DATA ? 0 : status_of(t);
}

/* Reads the whole file at a virtual path through SFTP into a static
 * buffer; NULL when it cannot be opened. */
static const char *
sftp_cat(T *t, const char *path)
{
    static char buf[4096];
    size_t n = 0;
    if (open_file(t, path, LSH_SFTP_FXF_READ) != 0) {
        return NULL;
    }
    while (read_at(t, n, 1024) == 0 && n + t->r.data.n < sizeof(buf)) {
        memcpy(buf + n, t->r.data.p, t->r.data.n);
        n += t->r.data.n;
    }
    buf[n] = '\0';
    assert_int_equal(handle_req(t, LSH_SFTP_CLOSE, t->h, t->hn), 0);
    return buf;
}

static int
setup(void **state)
{
    T *t = calloc(1, sizeof(*t));
    char p[256];
    lsh_sftp_request q;
    t->fsflags = g_fsflags;
    strcpy(t->dir, "/tmp/sftpt.XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    pathf(t->root, sizeof(t->root), t->dir, "root");
    pathf(t->outside, sizeof(t->outside), t->dir, "outside");
    assert_int_equal(mkdir(t->root, 0755), 0);
    assert_int_equal(mkdir(t->outside, 0755), 0);
    pathf(p, sizeof(p), t->outside, "secret");
    put_file(p, "SECRET");
    chmod(p, 0644);
    lsh_buf_init(&t->last, 0);
    assert_int_equal(lsh_sftp_fs_new(t->root, t->fsflags, &t->fs), 0);
    assert_int_equal(start_server(t, 0), 0);
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_INIT;
    send_req(t, &q);
    t->id = 3; /* the INIT's "id" was the version */
    *state = t;
    return 0;
}

static int
teardown(void **state)
{
    T *t = *state;
    lsh_sftp_server_free(t->s);
    lsh_sftp_fs_free(t->fs);
    lsh_buf_free(&t->last);
    xsystem("rm -rf %s", t->dir);
    free(t);
    return 0;
}

/* Protocol start and framing */

static void
init_answers_version_3_with_extensions(void **state)
{
    T *t = *state;
    lsh_sftp_request q;
    lsh_sftp_server *s2;
    const char *names[] = {"posix-rename@openssh.com", "statvfs@openssh.com",
                           "fstatvfs@openssh.com", "hardlink@openssh.com",
                           "fsync@openssh.com", "lsetstat@openssh.com",
                           "limits@openssh.com", "expand-path@openssh.com",
                           "copy-data", "home-directory",
                           "users-groups-by-id@openssh.com"};
    lsh_sftp_server_free(t->s);
    assert_int_equal(start_server(t, 0), 0);
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_INIT;
    t->id = 5; /* a client asking for v6 gets 3 */
    send_req(t, &q);
    assert_int_equal(t->r.type, LSH_SFTP_VERSION_PKT);
    assert_int_equal(t->r.id, 3);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_non_null(memmem(t->r.ext_data.p, t->r.ext_data.n, names[i],
                               strlen(names[i])));
    }
    /* A second INIT ends the session. */
    {
        lsh_buf b;
        size_t used;
        lsh_buf_init(&b, 0);
        assert_int_equal(lsh_sftp_request_put(&b, &q), 0);
        assert_int_equal(lsh_sftp_server_feed(t->s, lsh_buf_ptr(&b),
                                              lsh_buf_len(&b), &used),
                         LSH_EPROTOCOL);
        lsh_buf_free(&b);
    }
    /* A request before INIT ends the session. */
    {
        lsh_sftp_server_config cfg;
        size_t n, used;
        uint8_t *p = tu_unhex("00000009 10 00000001 00000000", &n);
        memset(&cfg, 0, sizeof(cfg));
        lsh_sftp_fs_backend(t->fs, &cfg.backend);
        assert_int_equal(lsh_sftp_server_new(&cfg, &s2), 0);
        assert_int_equal(lsh_sftp_server_feed(s2, p, n, &used),
                         LSH_EPROTOCOL);
        assert_int_equal(lsh_sftp_server_feed(s2, p, n, &used),
                         LSH_EPROTOCOL); /* sticky */
        lsh_sftp_server_free(s2);
        free(p);
    }
    t->id = 100;
}

static void
oversized_or_empty_packet_is_fatal(void **state)
{
    T *t = *state;
    size_t used;
    uint8_t big[] = {0x7f, 0xff, 0xff, 0xff, 3};
    const char *detail = NULL;
    assert_int_equal(lsh_sftp_server_feed(t->s, big, sizeof(big), &used),
                     LSH_ETOOLARGE);
    assert_int_equal(lsh_sftp_server_error(t->s, &detail), LSH_ETOOLARGE);
    assert_non_null(detail);
    lsh_sftp_server_free(t->s);
    assert_int_equal(start_server(t, 0), 0);
    {
        uint8_t init[] = {0, 0, 0, 5, 1, 0, 0, 0, 3, 0, 0, 0, 0};
        assert_int_equal(lsh_sftp_server_feed(t->s, init, sizeof(init),
                                              &used),
                         LSH_EBADPACKET);
    }
}

static void
malformed_and_unknown_requests_get_a_status(void **state)
{
    T *t = *state;
    size_t n;
    /* STAT with a path holding a NUL: BAD_MESSAGE, the session goes on. */
    uint8_t *p = tu_unhex("0000000c 11 00000063 00000003 780079", &n);
    assert_int_equal(feed_raw(t, p, n), 0);
    assert_int_equal(t->r.code, LSH_SFTP_FX_BAD_MESSAGE);
    assert_int_equal(t->r.id, 0x63);
    free(p);
    /* Unknown packet type 99: OP_UNSUPPORTED. */
    p = tu_unhex("00000005 63 00000064", &n);
    assert_int_equal(feed_raw(t, p, n), 0);
    assert_int_equal(t->r.code, LSH_SFTP_FX_OP_UNSUPPORTED);
    free(p);
    /* Unknown extension: OP_UNSUPPORTED. */
    p = tu_unhex("0000000c c8 00000065 00000003 666f6f", &n);
    assert_int_equal(feed_raw(t, p, n), 0);
    assert_int_equal(t->r.code, LSH_SFTP_FX_OP_UNSUPPORTED);
    free(p);
    /* A response type sent as a request. */
    p = tu_unhex("00000005 65 00000066", &n);
    assert_int_equal(feed_raw(t, p, n), 0);
    assert_int_equal(t->r.code, LSH_SFTP_FX_OP_UNSUPPORTED);
    free(p);
    /* Still alive. */
    assert_int_equal(path_req(t, LSH_SFTP_STAT, "/"), LSH_SFTP_ATTRS);
}

/* Files */

static void
open_write_read_fstat_close(void **state)
{
    T *t = *state;
    char p[256];
    lsh_sftp_request q;
    assert_int_equal(open_file(t, "f.txt", LSH_SFTP_FXF_WRITE |
                                               LSH_SFTP_FXF_CREAT |
                                               LSH_SFTP_FXF_TRUNC),
                     0);
    assert_int_equal(t->hn, 8);
    assert_int_equal(write_at(t, 0, "hello "), 0);
    assert_int_equal(write_at(t, 6, "world"), 0);
    assert_int_equal(lsh_sftp_server_handles(t->s), 1);
    assert_int_equal(handle_req(t, LSH_SFTP_FSTAT, t->h, t->hn), 0xffffffffu);
    assert_int_equal(t->r.type, LSH_SFTP_ATTRS);
    assert_int_equal(t->r.attrs.size, 11);
    assert_true(t->r.attrs.flags & LSH_SFTP_ATTR_PERMISSIONS);
    /* fsetstat: truncate to 5. */
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_FSETSTAT;
    q.handle.p = t->h;
    q.handle.n = t->hn;
    q.attrs.flags = LSH_SFTP_ATTR_SIZE;
    q.attrs.size = 5;
    send_req(t, &q);
    assert_int_equal(status_of(t), LSH_SFTP_FX_OK);
    assert_int_equal(handle_req(t, LSH_SFTP_CLOSE, t->h, t->hn), 0);
    assert_int_equal(lsh_sftp_server_handles(t->s), 0);
    pathf(p, sizeof(p), t->root, "f.txt");
    assert_string_equal(get_file(p), "hello");
    assert_string_equal(sftp_cat(t, "/f.txt"), "hello");
    /* Read past the end: EOF. */
    assert_int_equal(open_file(t, "f.txt", LSH_SFTP_FXF_READ), 0);
    assert_int_equal(read_at(t, 5, 10), LSH_SFTP_FX_EOF);
    assert_int_equal(read_at(t, UINT64_MAX - 3, 10), LSH_SFTP_FX_EOF);
    assert_int_equal(read_at(t, 1, 2), 0);
    assert_int_equal(t->r.data.n, 2);
    assert_memory_equal(t->r.data.p, "el", 2);
    /* Writing through a read-only handle fails. */
    assert_int_not_equal(write_at(t, 0, "x"), LSH_SFTP_FX_OK);
    assert_int_equal(handle_req(t, LSH_SFTP_CLOSE, t->h, t->hn), 0);
    /* Missing file; EXCL on an existing file. */
    assert_int_equal(open_file(t, "nope", LSH_SFTP_FXF_READ),
                     LSH_SFTP_FX_NO_SUCH_FILE);
    assert_int_equal(open_file(t, "f.txt", LSH_SFTP_FXF_WRITE |
                                               LSH_SFTP_FXF_CREAT |
                                               LSH_SFTP_FXF_EXCL),
                     LSH_SFTP_FX_FAILURE);
    /* APPEND. */
    assert_int_equal(open_file(t, "f.txt", LSH_SFTP_FXF_WRITE |
                                               LSH_SFTP_FXF_APPEND),
                     0);
    assert_int_equal(write_at(t, 0, "!"), 0);
    assert_int_equal(handle_req(t, LSH_SFTP_CLOSE, t->h, t->hn), 0);
    assert_string_equal(get_file(p), "hello!");
}

static void
read_is_clamped_to_the_limit(void **state)
{
    T *t = *state;
    char p[256];
    lsh_sftp_request q;
    FILE *f;
    uint64_t max_read;
    pathf(p, sizeof(p), t->root, "big");
    f = fopen(p, "wb");
    for (int i = 0; i < 600 * 1024; i++) {
        fputc(i & 0xff, f);
    }
    fclose(f);
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_EXTENDED;
    q.ext = LSH_SFTP_EXT_LIMITS;
    send_req(t, &q);
    assert_int_equal(t->r.type, LSH_SFTP_EXTENDED_REPLY);
    assert_int_equal(t->r.ext_data.n, 32);
    assert_true(lsh_peek_u64(t->r.ext_data.p) >= 34000);
    max_read = lsh_peek_u64(t->r.ext_data.p + 8);
    assert_true(max_read >= 32768);
    assert_int_equal(lsh_peek_u64(t->r.ext_data.p + 24), 256);
    assert_int_equal(open_file(t, "big", LSH_SFTP_FXF_READ), 0);
    assert_int_equal(read_at(t, 0, 0xffffffffu), 0);
    assert_int_equal(t->r.data.n, max_read);
    assert_int_equal(t->r.data.p[257], 1);
    assert_int_equal(handle_req(t, LSH_SFTP_CLOSE, t->h, t->hn), 0);
}

static void
forged_stale_and_wrong_kind_handles_are_refused(void **state)
{
    T *t = *state;
    uint8_t stale[8], forged[8];
    size_t sn;
    put_file("/dev/null", "");
    assert_int_equal(open_file(t, "g", LSH_SFTP_FXF_WRITE |
                                           LSH_SFTP_FXF_CREAT),
                     0);
    memcpy(stale, t->h, 8);
    sn = t->hn;
    assert_int_equal(handle_req(t, LSH_SFTP_CLOSE, stale, sn), 0);
    /* Closed: every use of the old string fails, twice. */
    assert_int_equal(handle_req(t, LSH_SFTP_CLOSE, stale, sn),
                     LSH_SFTP_FX_FAILURE);
    assert_int_equal(handle_req(t, LSH_SFTP_FSTAT, stale, sn),
                     LSH_SFTP_FX_FAILURE);
    /* The same slot reused by a new open keeps the old string dead. */
    assert_int_equal(open_file(t, "g", LSH_SFTP_FXF_READ), 0);
    assert_memory_equal(t->h, stale, 4);
    assert_memory_not_equal(t->h, stale, 8);
    assert_int_equal(handle_req(t, LSH_SFTP_FSTAT, stale, sn),
                     LSH_SFTP_FX_FAILURE);
    /* Forged: wrong slot, wrong generation, wrong length, empty. */
    memcpy(forged, t->h, 8);
    forged[3] ^= 0x40;
    assert_int_equal(handle_req(t, LSH_SFTP_FSTAT, forged, 8),
                     LSH_SFTP_FX_FAILURE);
    memcpy(forged, t->h, 8);
    forged[7] ^= 1;
    assert_int_equal(handle_req(t, LSH_SFTP_FSTAT, forged, 8),
                     LSH_SFTP_FX_FAILURE);
    assert_int_equal(handle_req(t, LSH_SFTP_FSTAT, t->h, 7),
                     LSH_SFTP_FX_FAILURE);
    assert_int_equal(handle_req(t, LSH_SFTP_FSTAT, t->h, 0),
                     LSH_SFTP_FX_FAILURE);
    memset(forged, 0, 8);
    assert_int_equal(handle_req(t, LSH_SFTP_CLOSE, forged, 8),
                     LSH_SFTP_FX_FAILURE);
    /* A file handle is not a directory handle. */
    assert_int_equal(handle_req(t, LSH_SFTP_READDIR, t->h, t->hn),
                     LSH_SFTP_FX_FAILURE);
    assert_int_equal(lsh_sftp_server_handles(t->s), 1);
    assert_int_equal(handle_req(t, LSH_SFTP_CLOSE, t->h, t->hn), 0);
    /* A directory handle is not a file handle. */
    assert_int_equal(path_req(t, LSH_SFTP_OPENDIR, "/"), LSH_SFTP_HANDLE);
    memcpy(t->h, t->r.handle.p, 8);
    assert_int_equal(read_at(t, 0, 10), LSH_SFTP_FX_FAILURE);
    assert_int_equal(write_at(t, 0, "x"), LSH_SFTP_FX_FAILURE);
    assert_int_equal(handle_req(t, LSH_SFTP_CLOSE, t->h, 8), 0);
}

static void
open_handles_are_capped(void **state)
{
    T *t = *state;
    uint8_t first[8];
    lsh_sftp_request q;
    lsh_sftp_server_free(t->s);
    assert_int_equal(start_server(t, 4), 0);
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_INIT;
    send_req(t, &q);
    t->id = 10;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(open_file(t, "/", LSH_SFTP_FXF_READ), 0);
        if (i == 0) {
            memcpy(first, t->h, 8);
        }
    }
    assert_int_equal(open_file(t, "/", LSH_SFTP_FXF_READ),
                     LSH_SFTP_FX_FAILURE);
    assert_int_equal(path_req(t, LSH_SFTP_OPENDIR, "/"), LSH_SFTP_STATUS);
    assert_int_equal(t->r.code, LSH_SFTP_FX_FAILURE);
    assert_int_equal(lsh_sftp_server_handles(t->s), 4);
    assert_int_equal(handle_req(t, LSH_SFTP_CLOSE, first, 8), 0);
    assert_int_equal(path_req(t, LSH_SFTP_OPENDIR, "/"), LSH_SFTP_HANDLE);
    /* lsh_sftp_server_free closes the four still open (ASan checks). */
}

/* Directories and paths */

static void
opendir_readdir_lists_every_entry(void **state)
{
    T *t = *state;
    char p[256], name[32];
    int seen[300] = {0}, dot = 0;
    uint8_t h[8];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "file%03d", i);
        pathf(p, sizeof(p), t->root, name);
        put_file(p, "x");
    }
    assert_int_equal(path_req(t, LSH_SFTP_OPENDIR, "/"), LSH_SFTP_HANDLE);
    memcpy(h, t->r.handle.p, 8);
    for (;;) {
        lsh_sftp_name nm;
        uint32_t i = 0;
        if (handle_req(t, LSH_SFTP_READDIR, h, 8) == LSH_SFTP_FX_EOF) {
            break;
        }
        assert_int_equal(t->r.type, LSH_SFTP_NAME);
        assert_true(t->r.count > 0);
        while (lsh_sftp_name_next(&t->r, &i, &nm) == 1) {
            int k;
            if (nm.filename.n == 1 || nm.filename.n == 2) {
                dot++;
                continue;
            }
            assert_int_equal(nm.filename.n, 7);
            k = atoi((const char *)nm.filename.p + 4);
            seen[k]++;
            /* "ls -l" style longname ending in the name. */
            assert_memory_equal(nm.longname.p, "-rw", 3);
            assert_memory_equal(nm.longname.p + nm.longname.n - 7,
                                nm.filename.p, 7);
            assert_int_equal(nm.attrs.size, 1);
        }
    }
    assert_int_equal(dot, 2);
    for (int i = 0; i < 300; i++) {
        assert_int_equal(seen[i], 1);
    }
    assert_int_equal(handle_req(t, LSH_SFTP_CLOSE, h, 8), 0);
    assert_int_equal(path_req(t, LSH_SFTP_OPENDIR, "file001"),
                     LSH_SFTP_STATUS);
    assert_int_equal(t->r.code, LSH_SFTP_FX_NO_SUCH_FILE);
    assert_int_equal(path_req(t, LSH_SFTP_OPENDIR, "nodir"),
                     LSH_SFTP_STATUS);
    assert_int_equal(t->r.code, LSH_SFTP_FX_NO_SUCH_FILE);
}

static void
stat_setstat_mkdir_rmdir_remove(void **state)
{
    T *t = *state;
    char p[256];
    struct stat st;
    lsh_sftp_request q;
    pathf(p, sizeof(p), t->root, "s");
    put_file(p, "12345");
    assert_int_equal(path_req(t, LSH_SFTP_STAT, "s"), LSH_SFTP_ATTRS);
    assert_int_equal(t->r.attrs.size, 5);
    assert_int_equal(path_req(t, LSH_SFTP_STAT, "missing"), LSH_SFTP_STATUS);
    assert_int_equal(t->r.code, LSH_SFTP_FX_NO_SUCH_FILE);
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_SETSTAT;
    q.path = S("s");
    q.attrs.flags = LSH_SFTP_ATTR_PERMISSIONS | LSH_SFTP_ATTR_ACMODTIME |
                    LSH_SFTP_ATTR_UIDGID;
    q.attrs.perms = 0640;
    q.attrs.atime = 1000000;
    q.attrs.mtime = 2000000;
    q.attrs.uid = getuid();
    q.attrs.gid = getgid();
    send_req(t, &q);
    assert_int_equal(status_of(t), LSH_SFTP_FX_OK);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(st.st_mtime, 2000000);
    q.path = S("missing");
    send_req(t, &q);
    assert_int_equal(status_of(t), LSH_SFTP_FX_NO_SUCH_FILE);

    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_MKDIR;
    q.path = S("d1");
    q.attrs.flags = LSH_SFTP_ATTR_PERMISSIONS;
    q.attrs.perms = 0700;
    send_req(t, &q);
    assert_int_equal(status_of(t), LSH_SFTP_FX_OK);
    pathf(p, sizeof(p), t->root, "d1");
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    send_req(t, &q);
    assert_int_equal(status_of(t), LSH_SFTP_FX_FAILURE); /* exists */
    pathf(p, sizeof(p), t->root, "d1/in");
    put_file(p, "");
    assert_int_equal(path_req(t, LSH_SFTP_RMDIR, "d1"), LSH_SFTP_STATUS);
    assert_int_equal(t->r.code, LSH_SFTP_FX_FAILURE); /* not empty */
    assert_int_equal(path_req(t, LSH_SFTP_REMOVE, "d1"), LSH_SFTP_STATUS);
    assert_int_not_equal(t->r.code, LSH_SFTP_FX_OK); /* a directory */
    assert_int_equal(path_req(t, LSH_SFTP_REMOVE, "d1/in"), LSH_SFTP_STATUS);
    assert_int_equal(t->r.code, LSH_SFTP_FX_OK);
    assert_int_equal(path_req(t, LSH_SFTP_REMOVE, "d1/in"), LSH_SFTP_STATUS);
    assert_int_equal(t->r.code, LSH_SFTP_FX_NO_SUCH_FILE);
    assert_int_equal(path_req(t, LSH_SFTP_RMDIR, "d1"), LSH_SFTP_STATUS);
    assert_int_equal(t->r.code, LSH_SFTP_FX_OK);
    assert_int_equal(path_req(t, LSH_SFTP_RMDIR, "/"), LSH_SFTP_STATUS);
    assert_int_not_equal(t->r.code, LSH_SFTP_FX_OK);
}

static void
rename_posix_rename_symlink_readlink_hardlink(void **state)
{
    T *t = *state;
    char p[256], q2[256];
    struct stat a, b;
    pathf(p, sizeof(p), t->root, "r1");
    put_file(p, "one");
    pathf(p, sizeof(p), t->root, "r2");
    put_file(p, "two");
    /* draft-02 §6.5: RENAME onto an existing name fails. */
    assert_int_equal(two_paths(t, LSH_SFTP_RENAME, 0, "r1", "r2"),
                     LSH_SFTP_FX_FAILURE);
    assert_int_equal(two_paths(t, LSH_SFTP_RENAME, 0, "r1", "r3"), 0);
    assert_int_equal(two_paths(t, LSH_SFTP_RENAME, 0, "r1", "r4"),
                     LSH_SFTP_FX_NO_SUCH_FILE);
    /* posix-rename replaces. */
    assert_int_equal(two_paths(t, LSH_SFTP_EXTENDED,
                               LSH_SFTP_EXT_POSIX_RENAME, "r3", "r2"),
                     0);
    assert_string_equal(get_file(p), "one");
    /* SYMLINK: target first (OpenSSH PROTOCOL §4.1). */
    assert_int_equal(two_paths(t, LSH_SFTP_SYMLINK, 0, "r2", "ln"), 0);
    assert_int_equal(path_req(t, LSH_SFTP_READLINK, "ln"), LSH_SFTP_NAME);
    assert_int_equal(t->r.count, 1);
    {
        lsh_sftp_name nm;
        uint32_t i = 0;
        assert_int_equal(lsh_sftp_name_next(&t->r, &i, &nm), 1);
        assert_int_equal(nm.filename.n, 2);
        assert_memory_equal(nm.filename.p, "r2", 2);
    }
    assert_string_equal(sftp_cat(t, "ln"), "one");
    assert_int_equal(path_req(t, LSH_SFTP_LSTAT, "ln"), LSH_SFTP_ATTRS);
    assert_true(S_ISLNK(t->r.attrs.perms));
    assert_int_equal(path_req(t, LSH_SFTP_STAT, "ln"), LSH_SFTP_ATTRS);
    assert_true(S_ISREG(t->r.attrs.perms));
    assert_int_equal(path_req(t, LSH_SFTP_READLINK, "r2"), LSH_SFTP_STATUS);
    assert_int_equal(two_paths(t, LSH_SFTP_SYMLINK, 0, "x", "ln"),
                     LSH_SFTP_FX_FAILURE); /* exists */
    /* hardlink@openssh.com */
    assert_int_equal(two_paths(t, LSH_SFTP_EXTENDED, LSH_SFTP_EXT_HARDLINK,
                               "r2", "hl"),
                     0);
    pathf(q2, sizeof(q2), t->root, "hl");
    assert_int_equal(stat(p, &a), 0);
    assert_int_equal(stat(q2, &b), 0);
    assert_int_equal(a.st_ino, b.st_ino);
    assert_int_equal(two_paths(t, LSH_SFTP_EXTENDED, LSH_SFTP_EXT_HARDLINK,
                               "nothing", "hl2"),
                     LSH_SFTP_FX_NO_SUCH_FILE);
}

static void
realpath_expand_path_home_directory(void **state)
{
    T *t = *state;
    static const struct {
        const char *in, *out;
    } cases[] = {{".", "/"},          {"", "/"},
                 {"/../../..", "/"},  {"a/b/../c", "/a/c"},
                 {"//x//y/", "/x/y"}, {"a/../../x", "/x"},
                 {"/./a/./", "/a"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lsh_sftp_name nm;
        uint32_t k = 0;
        assert_int_equal(path_req(t, LSH_SFTP_REALPATH, cases[i].in),
                         LSH_SFTP_NAME);
        assert_int_equal(lsh_sftp_name_next(&t->r, &k, &nm), 1);
        assert_int_equal(nm.filename.n, strlen(cases[i].out));
        assert_memory_equal(nm.filename.p, cases[i].out, nm.filename.n);
    }
    {
        lsh_sftp_request q;
        lsh_sftp_name nm;
        uint32_t k = 0;
        memset(&q, 0, sizeof(q));
        q.type = LSH_SFTP_EXTENDED;
        q.ext = LSH_SFTP_EXT_EXPAND_PATH;
        q.path = S("~/docs/../x");
        send_req(t, &q);
        assert_int_equal(t->r.type, LSH_SFTP_NAME);
        assert_int_equal(lsh_sftp_name_next(&t->r, &k, &nm), 1);
        assert_memory_equal(nm.filename.p, "/x", 2);
        q.path = S("~root/x");
        send_req(t, &q);
        assert_int_equal(status_of(t), LSH_SFTP_FX_NO_SUCH_FILE);
        q.ext = LSH_SFTP_EXT_HOME_DIRECTORY;
        q.path = S("");
        send_req(t, &q);
        assert_int_equal(t->r.type, LSH_SFTP_NAME);
        q.path = S("no-such-user-here");
        send_req(t, &q);
        assert_int_equal(status_of(t), LSH_SFTP_FX_NO_SUCH_FILE);
    }
}

static void
extensions_statvfs_fsync_lsetstat_copy_users(void **state)
{
    T *t = *state;
    lsh_sftp_request q;
    lsh_sftp_statvfs v;
    uint8_t src[8], ids[8];
    char p[256];
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_EXTENDED;
    q.ext = LSH_SFTP_EXT_STATVFS;
    q.path = S("/");
    send_req(t, &q);
    assert_int_equal(t->r.type, LSH_SFTP_EXTENDED_REPLY);
    assert_int_equal(lsh_sftp_statvfs_decode(t->r.ext_data.p,
                                             t->r.ext_data.n, &v),
                     0);
    assert_true(v.bsize > 0 && v.namemax > 0);
    q.path = S("/missing");
    send_req(t, &q);
    assert_int_equal(status_of(t), LSH_SFTP_FX_NO_SUCH_FILE);

    pathf(p, sizeof(p), t->root, "c1");
    put_file(p, "copy me, please");
    assert_int_equal(open_file(t, "c1", LSH_SFTP_FXF_READ), 0);
    memcpy(src, t->h, 8);
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_EXTENDED;
    q.ext = LSH_SFTP_EXT_FSTATVFS;
    q.handle.p = src;
    q.handle.n = 8;
    send_req(t, &q);
    assert_int_equal(t->r.type, LSH_SFTP_EXTENDED_REPLY);
    assert_int_equal(open_file(t, "c2", LSH_SFTP_FXF_WRITE |
                                            LSH_SFTP_FXF_CREAT),
                     0);
    q.ext = LSH_SFTP_EXT_FSYNC;
    q.handle.p = t->h;
    send_req(t, &q);
    assert_int_equal(status_of(t), LSH_SFTP_FX_OK);
    /* copy-data: 0 length means to EOF (PROTOCOL §4.10). */
    q.ext = LSH_SFTP_EXT_COPY_DATA;
    q.handle.p = src;
    q.handle.n = 8;
    q.offset = 5;
    q.len64 = 0;
    q.handle2.p = t->h;
    q.handle2.n = 8;
    q.offset2 = 0;
    send_req(t, &q);
    assert_int_equal(status_of(t), LSH_SFTP_FX_OK);
    q.handle2.p = src; /* same handle */
    send_req(t, &q);
    assert_int_equal(status_of(t), LSH_SFTP_FX_FAILURE);
    q.offset = 0;
    q.len64 = 4;
    q.handle2.p = t->h;
    q.offset2 = 100;
    send_req(t, &q);
    assert_int_equal(status_of(t), LSH_SFTP_FX_OK);
    assert_int_equal(handle_req(t, LSH_SFTP_CLOSE, t->h, 8), 0);
    /* Length 0 into the file being read stops at the size it had. */
    assert_int_equal(open_file(t, "c1", LSH_SFTP_FXF_WRITE), 0);
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_EXTENDED;
    q.ext = LSH_SFTP_EXT_COPY_DATA;
    q.handle.p = src;
    q.handle.n = 8;
    q.handle2.p = t->h;
    q.handle2.n = 8;
    q.offset2 = 15;
    send_req(t, &q);
    assert_int_equal(status_of(t), LSH_SFTP_FX_OK);
    assert_int_equal(handle_req(t, LSH_SFTP_CLOSE, t->h, 8), 0);
    pathf(p, sizeof(p), t->root, "c1");
    assert_string_equal(get_file(p), "copy me, pleasecopy me, please");
    assert_int_equal(handle_req(t, LSH_SFTP_CLOSE, src, 8), 0);
    pathf(p, sizeof(p), t->root, "c2");
    {
        FILE *f = fopen(p, "rb");
        char buf[200];
        size_t n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        assert_int_equal(n, 104);
        assert_memory_equal(buf, "me, please", 10);
        assert_memory_equal(buf + 100, "copy", 4);
    }
    /* lsetstat on a symlink: times apply to the link, not the target. */
    assert_int_equal(two_paths(t, LSH_SFTP_SYMLINK, 0, "c2", "c2link"), 0);
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_EXTENDED;
    q.ext = LSH_SFTP_EXT_LSETSTAT;
    q.path = S("c2link");
    q.attrs.flags = LSH_SFTP_ATTR_ACMODTIME;
    q.attrs.atime = 12345;
    q.attrs.mtime = 54321;
    send_req(t, &q);
    assert_int_equal(status_of(t), LSH_SFTP_FX_OK);
    assert_int_equal(path_req(t, LSH_SFTP_LSTAT, "c2link"), LSH_SFTP_ATTRS);
    assert_int_equal(t->r.attrs.mtime, 54321);
    assert_int_equal(path_req(t, LSH_SFTP_STAT, "c2link"), LSH_SFTP_ATTRS);
    assert_int_not_equal(t->r.attrs.mtime, 54321);
    /* users-groups-by-id: uid 0 is root; an unknown id is "". */
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_EXTENDED;
    q.ext = LSH_SFTP_EXT_USERS_GROUPS;
    memset(ids, 0, 4);
    lsh_poke_u32(ids + 4, 3999999999u);
    q.ids.p = ids;
    q.ids.n = 8;
    q.ids2.p = ids;
    q.ids2.n = 4;
    send_req(t, &q);
    assert_int_equal(t->r.type, LSH_SFTP_EXTENDED_REPLY);
    tu_assert_hex(t->r.ext_data.p, t->r.ext_data.n,
                  "0000000c 00000004 726f6f74 00000000"
                  "00000008 00000004 726f6f74");
}

/* Containment (reliability-plan.md §2.7, P-12) */

/* Plants escaping symlinks in the root, from the host side. */
static void
plant_links(T *t)
{
    char p[256], target[256];
    pathf(p, sizeof(p), t->root, "abs");
    pathf(target, sizeof(target), t->outside, "secret");
    assert_int_equal(symlink(target, p), 0);
    pathf(p, sizeof(p), t->root, "rel");
    assert_int_equal(symlink("../outside/secret", p), 0);
    pathf(p, sizeof(p), t->root, "deeprel");
    assert_int_equal(symlink("../../../../../../../../outside/secret", p), 0);
    pathf(p, sizeof(p), t->root, "dirlink");
    assert_int_equal(symlink(t->outside, p), 0);
    pathf(p, sizeof(p), t->root, "updir");
    assert_int_equal(symlink("..", p), 0);
    pathf(p, sizeof(p), t->root, "rootlink");
    assert_int_equal(symlink("/", p), 0);
}

static void
assert_outside_untouched(T *t)
{
    char p[256];
    struct stat st;
    pathf(p, sizeof(p), t->outside, "secret");
    assert_string_equal(get_file(p), "SECRET");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(st.st_nlink, 1);
    /* Nothing new appeared next to it. */
    assert_int_equal(system(NULL) != 0, 1);
    {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) -eq 1",
                 t->outside);
        assert_int_equal(system(cmd), 0);
        snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) -eq 2",
                 t->dir);
        assert_int_equal(system(cmd), 0);
    }
}

static void
escaping_paths_stay_in_root(void **state)
{
    T *t = *state;
    char hostpath[256], longp[5001];
    const char *paths[] = {"../outside/secret", "/../outside/secret",
                           "a/../../outside/secret", "//outside/secret",
                           "../../../../../../outside/secret", hostpath,
                           "abs", "rel", "deeprel", "dirlink/secret",
                           "updir/outside/secret",
                           "updir/updir/outside/secret",
                           "rootlink/../outside/secret", longp};
    pathf(hostpath, sizeof(hostpath), t->outside, "secret");
    memset(longp, 'a', 5000);
    for (int i = 0; i < 5000; i += 100) {
        longp[i] = '/';
    }
    longp[5000] = '\0';
    plant_links(t);
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        const char *c;
        lsh_sftp_request q;
        int ty;
        c = sftp_cat(t, paths[i]);
        assert_true(c == NULL || strcmp(c, "SECRET") != 0);
        ty = path_req(t, LSH_SFTP_STAT, paths[i]);
        assert_true(ty == LSH_SFTP_STATUS ||
                    t->r.attrs.size != 6); /* never the secret's size */
        path_req(t, LSH_SFTP_OPENDIR, paths[i]);
        if (t->r.type == LSH_SFTP_HANDLE) {
            uint8_t h[8];
            memcpy(h, t->r.handle.p, 8);
            handle_req(t, LSH_SFTP_CLOSE, h, 8);
        }
        memset(&q, 0, sizeof(q));
        q.type = LSH_SFTP_SETSTAT;
        q.path = S(paths[i]);
        q.attrs.flags = LSH_SFTP_ATTR_PERMISSIONS;
        q.attrs.perms = 0600;
        send_req(t, &q);
        memset(&q, 0, sizeof(q));
        q.type = LSH_SFTP_EXTENDED;
        q.ext = LSH_SFTP_EXT_LSETSTAT;
        q.path = S(paths[i]);
        q.attrs.flags = LSH_SFTP_ATTR_PERMISSIONS;
        q.attrs.perms = 0600;
        send_req(t, &q);
        path_req(t, LSH_SFTP_READLINK, paths[i]);
        path_req(t, LSH_SFTP_REMOVE, paths[i]);
        two_paths(t, LSH_SFTP_RENAME, 0, paths[i], "stolen");
        two_paths(t, LSH_SFTP_EXTENDED, LSH_SFTP_EXT_POSIX_RENAME, paths[i],
                  "stolen2");
        two_paths(t, LSH_SFTP_EXTENDED, LSH_SFTP_EXT_HARDLINK, paths[i],
                  "stolen3");
        /* Creating at an escaping name lands inside the root or fails. */
        if (open_file(t, paths[i], LSH_SFTP_FXF_WRITE | LSH_SFTP_FXF_CREAT) ==
            0) {
            handle_req(t, LSH_SFTP_CLOSE, t->h, t->hn);
        }
        memset(&q, 0, sizeof(q));
        q.type = LSH_SFTP_MKDIR;
        q.path = S(paths[i]);
        send_req(t, &q);
        two_paths(t, LSH_SFTP_SYMLINK, 0, "/etc/passwd", paths[i]);
        assert_outside_untouched(t);
    }
    /* The renames above never got hold of the secret. */
    assert_null(sftp_cat(t, "stolen3"));
}

static void
created_symlinks_are_rewritten_into_root(void **state)
{
    T *t = *state;
    char p[256], buf[256];
    ssize_t n;
    assert_int_equal(path_req(t, LSH_SFTP_MKDIR, "sub"), LSH_SFTP_STATUS);
    assert_int_equal(two_paths(t, LSH_SFTP_SYMLINK, 0, "/etc/passwd",
                               "sub/pw"),
                     0);
    pathf(p, sizeof(p), t->root, "sub/pw");
    n = readlink(p, buf, sizeof(buf) - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, "../etc/passwd");
    assert_int_equal(two_paths(t, LSH_SFTP_SYMLINK, 0,
                               "../../../../outside/secret", "sub/up"),
                     0);
    pathf(p, sizeof(p), t->root, "sub/up");
    n = readlink(p, buf, sizeof(buf) - 1);
    buf[n] = '\0';
    assert_string_equal(buf, "../outside/secret");
    /* A relative link that stays inside is kept as given. */
    assert_int_equal(two_paths(t, LSH_SFTP_SYMLINK, 0, "../sub/./pw",
                               "sub/keep"),
                     0);
    pathf(p, sizeof(p), t->root, "sub/keep");
    n = readlink(p, buf, sizeof(buf) - 1);
    buf[n] = '\0';
    assert_string_equal(buf, "../sub/./pw");
    assert_int_equal(two_paths(t, LSH_SFTP_SYMLINK, 0, "/", "sub/top"), 0);
    pathf(p, sizeof(p), t->root, "sub/top");
    n = readlink(p, buf, sizeof(buf) - 1);
    buf[n] = '\0';
    assert_string_equal(buf, "..");
    assert_null(sftp_cat(t, "sub/up"));
    /* Through a planted parent symlink that climbs: the target is made
     * relative to where the link really lands (the root), not to the
     * lexical "/deep/er". */
    pathf(p, sizeof(p), t->root, "deep");
    assert_int_equal(mkdir(p, 0755), 0);
    pathf(p, sizeof(p), t->root, "deep/er");
    assert_int_equal(symlink("../..", p), 0);
    assert_int_equal(two_paths(t, LSH_SFTP_SYMLINK, 0, "../../outside",
                               "deep/er/x"),
                     0);
    pathf(p, sizeof(p), t->root, "x");
    n = readlink(p, buf, sizeof(buf) - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, "outside");
    assert_outside_untouched(t);
}

static void
symlink_planted_during_session_is_contained(void **state)
{
    T *t = *state;
    char p[256], target[256];
    /* A directory the client has already used ... */
    assert_int_equal(path_req(t, LSH_SFTP_MKDIR, "w"), LSH_SFTP_STATUS);
    assert_int_equal(open_file(t, "w/secret", LSH_SFTP_FXF_WRITE |
                                                   LSH_SFTP_FXF_CREAT),
                     0);
    assert_int_equal(write_at(t, 0, "inside"), 0);
    assert_int_equal(handle_req(t, LSH_SFTP_CLOSE, t->h, t->hn), 0);
    /* ... is swapped for a symlink to the outside by someone else. */
    pathf(p, sizeof(p), t->root, "w/secret");
    assert_int_equal(unlink(p), 0);
    pathf(p, sizeof(p), t->root, "w");
    assert_int_equal(rmdir(p), 0);
    assert_int_equal(symlink(t->outside, p), 0);
    assert_null(sftp_cat(t, "w/secret"));
    assert_int_equal(path_req(t, LSH_SFTP_REMOVE, "w/secret"),
                     LSH_SFTP_STATUS);
    assert_int_not_equal(t->r.code, LSH_SFTP_FX_OK);
    assert_int_equal(path_req(t, LSH_SFTP_OPENDIR, "w"), LSH_SFTP_STATUS);
    /* And a file swapped for an absolute link. */
    pathf(p, sizeof(p), t->root, "w");
    unlink(p);
    pathf(target, sizeof(target), t->outside, "secret");
    assert_int_equal(symlink(target, p), 0);
    assert_null(sftp_cat(t, "w"));
    assert_outside_untouched(t);
}

/* Race (§2.7): a thread swaps root/d between a directory and a symlink
 * to the outside while the server opens d/secret. */
struct racer {
    char d[256], tmpd[256], outside[256];
    volatile int stop;
    volatile long swaps;
};

static void *
swapper(void *arg)
{
    struct racer *r = arg;
    char lnk[300];
    snprintf(lnk, sizeof(lnk), "%s.lnk", r->d);
    while (!r->stop) {
        /* d is a directory; make it a symlink, then a directory again,
         * each time by an atomic rename. */
        symlink(r->outside, lnk);
        rename(r->d, r->tmpd);
        rename(lnk, r->d);
        rename(r->d, lnk);
        unlink(lnk);
        rename(r->tmpd, r->d);
        r->swaps++;
    }
    return NULL;
}

static void
swap_race_never_reads_outside(void **state)
{
    T *t = *state;
    struct racer r;
    pthread_t th;
    char p[300];
    /* reliability-plan P-12 asks for 100 000 swaps:
     * LSH_SFTP_RACE_SWAPS=100000; the default keeps `make test` short. */
    long target = getenv("LSH_SFTP_RACE_SWAPS")
                      ? atol(getenv("LSH_SFTP_RACE_SWAPS"))
                      : 1000;
    long opened = 0, iters = 0;
    memset(&r, 0, sizeof(r));
    pathf(r.d, sizeof(r.d), t->root, "d");
    pathf(r.tmpd, sizeof(r.tmpd), t->root, "d.tmp");
    snprintf(r.outside, sizeof(r.outside), "%s", t->outside);
    assert_int_equal(mkdir(r.d, 0755), 0);
    snprintf(p, sizeof(p), "%s/secret", r.d);
    put_file(p, "inside");
    assert_int_equal(pthread_create(&th, NULL, swapper, &r), 0);
    while (r.swaps < target && iters < 200 * target) {
        const char *c = sftp_cat(t, "d/secret");
        iters++;
        if (c != NULL) {
            assert_string_not_equal(c, "SECRET");
            opened++;
        }
    }
    r.stop = 1;
    pthread_join(th, NULL);
    print_message("race: %ld opens, %ld inside, %ld swaps\n", iters, opened,
                  r.swaps);
    assert_true(r.swaps > 0);
    assert_outside_untouched(t);
}

static void
hard_link_out_of_root_is_refused(void **state)
{
    T *t = *state;
    /* hardlink@openssh.com cannot name a file outside: its old path is
     * resolved in the root, and a symlink is linked, not followed. */
    plant_links(t);
    assert_int_equal(two_paths(t, LSH_SFTP_EXTENDED, LSH_SFTP_EXT_HARDLINK,
                               "abs", "h1"),
                     0);
    assert_int_equal(path_req(t, LSH_SFTP_LSTAT, "h1"), LSH_SFTP_ATTRS);
    assert_true(S_ISLNK(t->r.attrs.perms)); /* a link to the link */
    assert_null(sftp_cat(t, "h1"));
    assert_int_equal(two_paths(t, LSH_SFTP_EXTENDED, LSH_SFTP_EXT_HARDLINK,
                               "dirlink/secret", "h2"),
                     LSH_SFTP_FX_NO_SUCH_FILE);
    assert_outside_untouched(t);
}

static void
output_backpressure_stops_input(void **state)
{
    T *t = *state;
    lsh_sftp_server_config cfg;
    lsh_sftp_server *s;
    lsh_buf b;
    lsh_sftp_request q;
    size_t used, total = 0;
    const uint8_t *o;
    size_t on;
    int responses = 0;
    memset(&cfg, 0, sizeof(cfg));
    lsh_sftp_fs_backend(t->fs, &cfg.backend);
    cfg.out_high = 1000;
    assert_int_equal(lsh_sftp_server_new(&cfg, &s), 0);
    lsh_buf_init(&b, 0);
    memset(&q, 0, sizeof(q));
    q.type = LSH_SFTP_INIT;
    q.id = 3;
    assert_int_equal(lsh_sftp_request_put(&b, &q), 0);
    for (int i = 0; i < 200; i++) {
        memset(&q, 0, sizeof(q));
        q.type = LSH_SFTP_REALPATH;
        q.id = (uint32_t)i;
        q.path = S("/a/b/c");
        assert_int_equal(lsh_sftp_request_put(&b, &q), 0);
    }
    assert_int_equal(lsh_sftp_server_feed(s, lsh_buf_ptr(&b), lsh_buf_len(&b),
                                          &used),
                     0);
    lsh_sftp_server_out(s, &o, &on);
    assert_true(on < 1000 + 200);
    /* Drain; everything is answered in order. */
    while (total < lsh_buf_len(&b) || on > 0) {
        const uint8_t *pkt;
        size_t len, c;
        lsh_sftp_server_out(s, &o, &on);
        while (lsh_sftp_frame(o, on, LSH_SFTP_MAX_PACKET, &pkt, &len, &c) ==
               1) {
            lsh_sftp_response r;
            assert_int_equal(lsh_sftp_response_decode(pkt, len, &r), 0);
            if (r.type == LSH_SFTP_NAME) {
                assert_int_equal(r.id, (uint32_t)responses);
                responses++;
            }
            o += c;
            on -= c;
            lsh_sftp_server_out_ack(s, c);
            lsh_sftp_server_out(s, &o, &on);
        }
        total = used;
        if (used < lsh_buf_len(&b)) {
            size_t more;
            assert_int_equal(lsh_sftp_server_feed(s, lsh_buf_ptr(&b) + used,
                                                  lsh_buf_len(&b) - used,
                                                  &more),
                             0);
            used += more;
            total = used;
        }
        lsh_sftp_server_out(s, &o, &on);
    }
    assert_int_equal(responses, 200);
    lsh_buf_free(&b);
    lsh_sftp_server_free(s);
}

#define TESTS(X)                                                          \
    X(init_answers_version_3_with_extensions)                             \
    X(oversized_or_empty_packet_is_fatal)                                 \
    X(malformed_and_unknown_requests_get_a_status)                        \
    X(open_write_read_fstat_close)                                        \
    X(read_is_clamped_to_the_limit)                                       \
    X(forged_stale_and_wrong_kind_handles_are_refused)                    \
    X(open_handles_are_capped)                                            \
    X(opendir_readdir_lists_every_entry)                                  \
    X(stat_setstat_mkdir_rmdir_remove)                                    \
    X(rename_posix_rename_symlink_readlink_hardlink)                      \
    X(realpath_expand_path_home_directory)                                \
    X(extensions_statvfs_fsync_lsetstat_copy_users)                       \
    X(escaping_paths_stay_in_root)                                        \
    X(created_symlinks_are_rewritten_into_root)                           \
    X(symlink_planted_during_session_is_contained)                        \
    X(swap_race_never_reads_outside)                                      \
    X(hard_link_out_of_root_is_refused)                                   \
    X(output_backpressure_stops_input)

#define T_ENTRY(name) cmocka_unit_test_setup_teardown(name, setup, teardown),

int
main(void)
{
    const struct CMUnitTest tests[] = {TESTS(T_ENTRY)};
    int failed;
    g_fsflags = 0;
    failed = cmocka_run_group_tests_name("sftp_server (openat2)", tests,
                                         NULL, NULL);
    g_fsflags = LSH_SFTP_FS_NO_OPENAT2;
    failed += cmocka_run_group_tests_name("sftp_server (fallback walker)",
                                          tests, NULL, NULL);
    return failed;
}
