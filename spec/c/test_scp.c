/*
 * Tests for src/ssh/scp: the sink against scripted (often malicious)
 * sources, the source's exact output, and both machines back to back over
 * the POSIX backend.  The byte layouts follow
 * ../shared/specs/scp-protocol-how-it-works.md and what OpenSSH's scp -O
 * sends (checked by spec/interop/scp_spec.lua).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "common/buf.h"
#include "ssh/scp/scp.h"

static char g_root[256]; /* sandbox: <root>/dst is the target */
static char g_dst[300];
static lsh_scp_fs g_fs;

typedef struct evlog {
    int nerr, nremote, nbegin, nend, ndir;
} evlog;

static void
log_event(void *ud, const lsh_scp_event *ev)
{
    evlog *l = ud;
    switch (ev->type) {
    case LSH_SCP_EV_ERROR:
        l->nerr++;
        l->nremote += ev->remote;
        /* Peer text never reaches a terminal raw (CVE-2019-6109). */
        for (const char *p = ev->message; *p; p++) {
            assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
        }
        break;
    case LSH_SCP_EV_FILE_BEGIN: l->nbegin++; break;
    case LSH_SCP_EV_FILE_END: l->nend++; break;
    case LSH_SCP_EV_DIR_BEGIN: l->ndir++; break;
    default: break;
    }
}

static int
group_setup(void **state)
{
    (void)state;
    return lsh_scp_fs_posix_init(&g_fs) == 0 ? 0 : -1;
}

static int
group_teardown(void **state)
{
    (void)state;
    lsh_scp_fs_posix_free(&g_fs);
    return 0;
}

/* A fresh sandbox per test: <root>/dst. */
static int
setup(void **state)
{
    (void)state;
    snprintf(g_root, sizeof(g_root), "/tmp/test_scp.XXXXXX");
    if (mkdtemp(g_root) == NULL) {
        return -1;
    }
    snprintf(g_dst, sizeof(g_dst), "%s/dst", g_root);
    return mkdir(g_dst, 0755);
}

static int
teardown(void **state)
{
    char cmd[400];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_root);
    return system(cmd) == 0 ? 0 : -1;
}

/* Number of entries (besides . and ..) in a directory, -1 if missing. */
static int
count_entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    int n = 0;
    if (d == NULL) {
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

static char *
slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *p;
    long k;
    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    k = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = malloc((size_t)k + 1);
    *n = fread(p, 1, (size_t)k, f);
    p[*n] = '\0';
    fclose(f);
    return p;
}

static void
put_file(const char *path, const char *data)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(data, f);
    fclose(f);
}

/*
 * Runs a sink on `target` over the scripted source bytes, `step` bytes at
 * a time (0: all at once).  Collects the sink's output in *out.
 */
static int
run_sink_step(unsigned flags, const char *target, const char *const *pats,
              size_t npats, const char *script, size_t len, size_t step,
              lsh_buf *out, evlog *log)
{
    lsh_scp_opts o;
    lsh_scp *s = NULL;
    size_t pos = 0, used, n;
    const uint8_t *p;
    int r;

    memset(&o, 0, sizeof(o));
    o.flags = flags;
    o.target = target;
    o.patterns = pats;
    o.npatterns = npats;
    o.max_depth = 4;
    o.block_size = 7; /* small blocks: several writes per file */
    o.event_cb = log_event;
    o.event_ud = log;
    lsh_buf_init(out, 0);
    assert_int_equal(0, lsh_scp_sink_new(&o, &g_fs, &s));
    r = lsh_scp_run(s); /* queues the ready byte (or the refusal) */
    (void)r;
    for (;;) {
        size_t k = len - pos;
        p = lsh_scp_out(s, &n);
        assert_int_equal(0, lsh_buf_put(out, p, n));
        lsh_scp_out_ack(s, n);
        if (lsh_scp_wants(s) & LSH_SCP_DONE) {
            break;
        }
        if (pos == len) {
            r = lsh_scp_feed_eof(s); /* result read at the end */
            (void)r;
            continue;
        }
        if (step != 0 && k > step) {
            k = step;
        }
        r = lsh_scp_feed(s, script + pos, k, &used);
        (void)r;
        pos += used;
    }
    p = lsh_scp_out(s, &n);
    assert_int_equal(0, lsh_buf_put(out, p, n));
    r = lsh_scp_result(s, NULL);
    lsh_scp_free(s);
    return r;
}

static int
run_sink(unsigned flags, const char *script, size_t len, lsh_buf *out,
         evlog *log)
{
    return run_sink_step(flags, g_dst, NULL, 0, script, len, 0, out, log);
}

#define S(lit) (lit), (sizeof(lit) - 1)

static void
sink_receives_one_file(void **state)
{
    lsh_buf out;
    evlog log = {0};
    char path[400], *data;
    size_t n;
    (void)state;
    assert_int_equal(0, run_sink(0, S("C0644 11 a.txt\nhello world\0"),
                                 &out, &log));
    /* ready, C accepted, file stored */
    assert_int_equal(3, lsh_buf_len(&out));
    assert_memory_equal("\0\0\0", lsh_buf_ptr(&out), 3);
    snprintf(path, sizeof(path), "%s/a.txt", g_dst);
    data = slurp(path, &n);
    assert_non_null(data);
    assert_int_equal(11, n);
    assert_memory_equal("hello world", data, 11);
    assert_int_equal(1, log.nbegin);
    assert_int_equal(1, log.nend);
    free(data);
    lsh_buf_free(&out);
}

static void
sink_same_result_byte_by_byte(void **state)
{
    static const char script[] =
        "D0755 0 d\nT1000000000 0 1000000001 0\nC0600 3 x\nabc\0"
        "C0644 0 empty\n\0E\n";
    lsh_buf out;
    evlog log = {0};
    struct stat st;
    char path[400];
    (void)state;
    assert_int_equal(0, run_sink_step(LSH_SCP_RECURSE | LSH_SCP_PRESERVE,
                                      g_dst, NULL, 0, script,
                                      sizeof(script) - 1, 1, &out, &log));
    /* ready, D, T, C, data, C, data, E */
    assert_int_equal(8, lsh_buf_len(&out));
    snprintf(path, sizeof(path), "%s/d/x", g_dst);
    assert_int_equal(0, stat(path, &st));
    assert_int_equal(3, st.st_size);
    assert_int_equal(0600, st.st_mode & 07777);
    assert_int_equal(1000000000, st.st_mtime);
    assert_int_equal(1000000001, st.st_atime);
    snprintf(path, sizeof(path), "%s/d/empty", g_dst);
    assert_int_equal(0, stat(path, &st));
    assert_int_equal(0, st.st_size);
    lsh_buf_free(&out);
}

/* Every refused script: result, the \2 line, and nothing written. */
static void
expect_refused(unsigned flags, const char *const *pats, size_t npats,
               const char *script, size_t len, int code)
{
    lsh_buf out;
    evlog log = {0};
    int r = run_sink_step(flags, g_dst, pats, npats, script, len, 0, &out,
                          &log);
    const uint8_t *p = lsh_buf_ptr(&out);
    assert_int_equal(code, r);
    assert_true(lsh_buf_len(&out) >= 3);
    assert_int_equal(0, p[0]);
    assert_non_null(memchr(p, 2, lsh_buf_len(&out)));
    assert_int_equal('\n', p[lsh_buf_len(&out) - 1]);
    /* Nothing beside the target in the sandbox, nothing in the target. */
    assert_int_equal(1, count_entries(g_root));
    assert_int_equal(0, count_entries(g_dst));
    assert_true(log.nerr >= 1);
    lsh_buf_free(&out);
}

static void
sink_refuses_traversal_names(void **state)
{
    (void)state;
    expect_refused(LSH_SCP_RECURSE, NULL, 0, S("C0644 5 ../x\nhello\0"),
                   LSH_EREFUSED);
    expect_refused(LSH_SCP_RECURSE, NULL, 0, S("C0644 5 a/b\nhello\0"),
                   LSH_EREFUSED);
    expect_refused(LSH_SCP_RECURSE, NULL, 0, S("C0644 5 /etc/x\nhello\0"),
                   LSH_EREFUSED);
    expect_refused(LSH_SCP_RECURSE, NULL, 0, S("C0644 5 ..\nhello\0"),
                   LSH_EREFUSED);
    expect_refused(LSH_SCP_RECURSE, NULL, 0, S("C0644 5 .\nhello\0"),
                   LSH_EREFUSED);
    expect_refused(LSH_SCP_RECURSE, NULL, 0, S("C0644 5 \nhello\0"),
                   LSH_EREFUSED);
    expect_refused(LSH_SCP_RECURSE, NULL, 0, S("C0644 5 a\0b\nhello\0"),
                   LSH_EREFUSED);
    expect_refused(LSH_SCP_RECURSE, NULL, 0,
                   S("C0644 5 x\x1b[2J\nhello\0"), LSH_EREFUSED);
    /* CVE-2018-20685: "D0000 0 ." must not touch the target. */
    expect_refused(LSH_SCP_RECURSE, NULL, 0, S("D0000 0 .\nE\n"),
                   LSH_EREFUSED);
    expect_refused(LSH_SCP_RECURSE, NULL, 0, S("D0755 0 ..\nE\n"),
                   LSH_EREFUSED);
    /* Inside a directory too: the refusal comes before the write. */
    {
        lsh_buf out;
        evlog log = {0};
        char path[400];
        assert_int_equal(LSH_EREFUSED,
                         run_sink(LSH_SCP_RECURSE,
                                  S("D0755 0 d\nC0644 1 ../../y\nz\0E\n"),
                                  &out, &log));
        snprintf(path, sizeof(path), "%s/d", g_dst);
        assert_int_equal(0, count_entries(path));
        assert_int_equal(1, count_entries(g_root));
        rmdir(path);
        lsh_buf_free(&out);
    }
}

static void
sink_refuses_names_not_asked_for(void **state)
{
    static const char *const want[] = {"file.txt"};
    static const char *const glob[] = {"*.txt"};
    lsh_buf out;
    evlog log = {0};
    char path[400];
    (void)state;
    expect_refused(LSH_SCP_SINGLE, want, 1, S("C0644 5 .bashrc\nhello\0"),
                   LSH_EREFUSED);
    expect_refused(LSH_SCP_SINGLE, glob, 1, S("C0644 5 .x.txt\nhello\0"),
                   LSH_EREFUSED);
    /* A directory when one file was asked for, without -r. */
    expect_refused(LSH_SCP_SINGLE, want, 1, S("D0755 0 file.txt\nE\n"),
                   LSH_EREFUSED);
    expect_refused(0, NULL, 0, S("D0755 0 d\nE\n"), LSH_EREFUSED);
    /* Several files when one was asked for: the first only. */
    assert_int_equal(LSH_EREFUSED,
                     run_sink_step(LSH_SCP_SINGLE, g_dst, want, 1,
                                   S("C0644 1 file.txt\na\0"
                                     "C0644 1 file.txt\nb\0"),
                                   0, &out, &log));
    assert_int_equal(1, count_entries(g_dst));
    snprintf(path, sizeof(path), "%s/file.txt", g_dst);
    unlink(path);
    lsh_buf_free(&out);
    /* Wildcards match what they should. */
    assert_int_equal(0, run_sink_step(0, g_dst, glob, 1,
                                      S("C0644 1 a.txt\na\0"
                                        "C0644 1 b.txt\nb\0"),
                                      0, &out, &log));
    assert_int_equal(2, count_entries(g_dst));
    snprintf(path, sizeof(path), "%s/a.txt", g_dst);
    unlink(path);
    snprintf(path, sizeof(path), "%s/b.txt", g_dst);
    unlink(path);
    lsh_buf_free(&out);
}

static void
sink_refuses_bad_sizes_modes_and_lines(void **state)
{
    (void)state;
    expect_refused(0, NULL, 0, S("C0644 abc x\n"), LSH_EREFUSED);
    expect_refused(0, NULL, 0, S("C0644 -1 x\n"), LSH_EREFUSED);
    expect_refused(0, NULL, 0, S("C0644 99999999999999999999 x\n"),
                   LSH_EREFUSED);
    expect_refused(0, NULL, 0, S("C0644 9223372036854775808 x\n"),
                   LSH_EREFUSED);
    expect_refused(0, NULL, 0, S("C0644  5 x\n"), LSH_EREFUSED);
    expect_refused(0, NULL, 0, S("C0644 5\n"), LSH_EREFUSED);
    expect_refused(0, NULL, 0, S("C10000 5 x\n"), LSH_EREFUSED);
    expect_refused(0, NULL, 0, S("C0899 5 x\n"), LSH_EPROTOCOL);
    expect_refused(0, NULL, 0, S("C 5 x\n"), LSH_EPROTOCOL);
    expect_refused(0, NULL, 0, S("X 1 a\n"), LSH_EPROTOCOL);
    expect_refused(0, NULL, 0, S("\n"), LSH_EPROTOCOL);
    expect_refused(LSH_SCP_RECURSE, NULL, 0, S("E\n"), LSH_EREFUSED);
    expect_refused(LSH_SCP_RECURSE, NULL, 0, S("Ex\n"), LSH_EPROTOCOL);
    /* Times: absurd values, extra fields, bad microseconds. */
    expect_refused(LSH_SCP_PRESERVE, NULL, 0,
                   S("T99999999999999 0 1 0\n"), LSH_EPROTOCOL);
    expect_refused(LSH_SCP_PRESERVE, NULL, 0, S("T1 0 1 0 123\n"),
                   LSH_EPROTOCOL);
    expect_refused(LSH_SCP_PRESERVE, NULL, 0, S("T1 1000000 1 0\n"),
                   LSH_EPROTOCOL);
    expect_refused(LSH_SCP_PRESERVE, NULL, 0, S("T-1 0 1 0\n"),
                   LSH_EPROTOCOL);
    /* A bad status byte after the data. */
    {
        lsh_buf out;
        evlog log = {0};
        char path[400];
        assert_int_equal(LSH_EPROTOCOL,
                         run_sink(0, S("C0644 1 z\nzX"), &out, &log));
        snprintf(path, sizeof(path), "%s/z", g_dst);
        unlink(path);
        lsh_buf_free(&out);
    }
}

static void
sink_refuses_overlong_lines(void **state)
{
    char *script = malloc(LSH_SCP_MAX_LINE + 32);
    (void)state;
    memcpy(script, "C0644 1 ", 8);
    memset(script + 8, 'a', LSH_SCP_MAX_LINE + 10);
    expect_refused(0, NULL, 0, script, LSH_SCP_MAX_LINE + 18, LSH_EPROTOCOL);
    free(script);
}

static void
sink_bounds_recursion(void **state)
{
    char path[400];
    lsh_buf out;
    evlog log = {0};
    (void)state;
    /* max_depth is 4 in run_sink_step: the fifth D is refused. */
    assert_int_equal(LSH_EREFUSED,
                     run_sink(LSH_SCP_RECURSE,
                              S("D0755 0 a\nD0755 0 a\nD0755 0 a\n"
                                "D0755 0 a\nD0755 0 a\n"),
                              &out, &log));
    snprintf(path, sizeof(path), "%s/a/a/a/a/a", g_dst);
    assert_int_equal(-1, count_entries(path));
    snprintf(path, sizeof(path), "%s/a/a/a/a", g_dst);
    assert_int_equal(0, count_entries(path));
    lsh_buf_free(&out);
    snprintf(path, sizeof(path), "rm -rf '%s/a'", g_dst);
    assert_int_equal(0, system(path));
}

static void
sink_never_follows_planted_symlinks(void **state)
{
    char outside[400], link[400], odir[400], dlink[400], *data;
    lsh_buf out;
    evlog log = {0};
    size_t n;
    const uint8_t *p;
    (void)state;
    snprintf(outside, sizeof(outside), "%s/outside", g_root);
    snprintf(odir, sizeof(odir), "%s/odir", g_root);
    snprintf(link, sizeof(link), "%s/evil", g_dst);
    snprintf(dlink, sizeof(dlink), "%s/evildir", g_dst);
    put_file(outside, "secret");
    assert_int_equal(0, mkdir(odir, 0755));
    assert_int_equal(0, symlink(outside, link));
    assert_int_equal(0, symlink(odir, dlink));
    /* The file and the directory fail with \1 lines; the source skips
     * them (no data, no contents), so the stream stays in step. */
    assert_int_equal(LSH_EIO,
                     run_sink(LSH_SCP_RECURSE,
                              S("C0644 5 evil\nD0755 0 evildir\n"
                                "C0644 2 ok\nok\0"),
                              &out, &log));
    p = lsh_buf_ptr(&out);
    assert_int_equal(0, p[0]);
    assert_int_equal(1, p[1]);
    data = slurp(outside, &n);
    assert_string_equal("secret", data);
    free(data);
    assert_int_equal(0, count_entries(odir));
    assert_int_equal(2, log.nerr);
    lsh_buf_free(&out);
    unlink(link);
    unlink(dlink);
    unlink(outside);
    rmdir(odir);
    snprintf(link, sizeof(link), "%s/ok", g_dst);
    assert_int_equal(0, unlink(link));
}

static void
sink_passes_source_errors_on(void **state)
{
    lsh_buf out;
    evlog log = {0};
    char path[400];
    (void)state;
    assert_int_equal(LSH_EIO,
                     run_sink(0, S("\1scp: x: Permission denied\n"
                                   "C0644 1 y\ny\1scp: y: read error\n"),
                              &out, &log));
    assert_int_equal(2, log.nremote);
    assert_int_equal(3, lsh_buf_len(&out)); /* no reply to \1 lines */
    snprintf(path, sizeof(path), "%s/y", g_dst);
    assert_int_equal(0, unlink(path));
    lsh_buf_free(&out);
    /* \2 ends it. */
    assert_int_equal(LSH_EDISCONNECTED,
                     run_sink(0, S("\2scp: fatal\nC0644 1 z\nz\0"), &out,
                              &log));
    assert_int_equal(0, count_entries(g_dst));
    lsh_buf_free(&out);
}

static void
sink_rename_mode_and_truncation(void **state)
{
    char target[400], *data;
    lsh_buf out;
    evlog log = {0};
    size_t n;
    (void)state;
    snprintf(target, sizeof(target), "%s/newname", g_dst);
    assert_int_equal(0, run_sink_step(0, target, NULL, 0,
                                      S("C0644 2 other\nhi\0"), 0, &out,
                                      &log));
    data = slurp(target, &n);
    assert_string_equal("hi", data);
    free(data);
    lsh_buf_free(&out);
    /* A second top-level entry would overwrite the same path. */
    assert_int_equal(LSH_EREFUSED,
                     run_sink_step(0, target, NULL, 0,
                                   S("C0644 1 a\nA\0C0644 1 b\nB\0"), 0,
                                   &out, &log));
    data = slurp(target, &n);
    assert_string_equal("A", data);
    free(data);
    unlink(target);
    lsh_buf_free(&out);
    /* -d: the target must be a directory. */
    assert_int_equal(LSH_ENOTFOUND,
                     run_sink_step(LSH_SCP_TARGET_DIR, target, NULL, 0,
                                   S("C0644 1 a\nA\0"), 0, &out, &log));
    assert_int_equal(0, count_entries(g_dst));
    lsh_buf_free(&out);
    /* End of input inside data, a line or a directory. */
    assert_int_equal(LSH_ETRUNCATED,
                     run_sink(0, S("C0644 5 a\nhel"), &out, &log));
    lsh_buf_free(&out);
    assert_int_equal(LSH_ETRUNCATED, run_sink(0, S("C0644 5"), &out, &log));
    lsh_buf_free(&out);
    assert_int_equal(LSH_ETRUNCATED,
                     run_sink(LSH_SCP_RECURSE, S("D0755 0 q\n"), &out, &log));
    lsh_buf_free(&out);
    snprintf(target, sizeof(target), "rm -rf '%s'/*", g_dst);
    assert_int_equal(0, system(target));
}

/* ---- source ---- */

/* Runs a source over `paths`, answering each wait with the next byte of
 * `replies` (then 0s).  Returns the result; output in *out. */
static int
run_source(unsigned flags, const char *const *paths, size_t npaths,
           const char *replies, size_t nrep, lsh_buf *out, evlog *log)
{
    lsh_scp_opts o;
    lsh_scp *s = NULL;
    size_t pos = 0, used, n;
    const uint8_t *p;
    int r, guard = 0;

    memset(&o, 0, sizeof(o));
    o.flags = flags;
    o.paths = paths;
    o.npaths = npaths;
    o.block_size = 5;
    o.event_cb = log_event;
    o.event_ud = log;
    lsh_buf_init(out, 0);
    assert_int_equal(0, lsh_scp_source_new(&o, &g_fs, &s));
    while (!(lsh_scp_wants(s) & LSH_SCP_DONE) && guard++ < 100000) {
        unsigned w;
        r = lsh_scp_run(s);
        (void)r;
        p = lsh_scp_out(s, &n);
        assert_int_equal(0, lsh_buf_put(out, p, n));
        lsh_scp_out_ack(s, n);
        w = lsh_scp_wants(s);
        if (w & LSH_SCP_WANT_INPUT) {
            char z = 0;
            if (pos < nrep) {
                r = lsh_scp_feed(s, replies + pos, 1, &used);
                pos += used;
            } else {
                r = lsh_scp_feed(s, &z, 1, &used);
            }
        }
    }
    p = lsh_scp_out(s, &n);
    assert_int_equal(0, lsh_buf_put(out, p, n));
    r = lsh_scp_result(s, NULL);
    lsh_scp_free(s);
    return r;
}

static void
source_sends_exact_lines(void **state)
{
    char a[400], missing[400], exp[800];
    const char *paths[3];
    lsh_buf out;
    evlog log = {0};
    int k;
    (void)state;
    snprintf(a, sizeof(a), "%s/hello.txt", g_root);
    snprintf(missing, sizeof(missing), "%s/missing", g_root);
    put_file(a, "hello world");
    chmod(a, 0640);
    paths[0] = missing;
    paths[1] = a;
    paths[2] = g_dst; /* a directory without -r */
    assert_int_equal(LSH_EIO, run_source(0, paths, 3, "", 0, &out, &log));
    k = snprintf(exp, sizeof(exp),
                 "\1scp: %s: No such file or directory\n"
                 "C0640 11 hello.txt\nhello world%c"
                 "\1scp: %s: not a regular file\n",
                 missing, 0, g_dst);
    assert_int_equal(k, lsh_buf_len(&out));
    assert_memory_equal(exp, lsh_buf_ptr(&out), (size_t)k);
    assert_int_equal(2, log.nerr);
    lsh_buf_free(&out);
    unlink(a);
}

static void
source_obeys_sink_replies(void **state)
{
    char a[400], b[400];
    const char *paths[2];
    lsh_buf out;
    evlog log = {0};
    static const char warn[] = "\0\1no space\n\0\0";
    (void)state;
    snprintf(a, sizeof(a), "%s/a", g_root);
    snprintf(b, sizeof(b), "%s/b", g_root);
    put_file(a, "AAAA");
    put_file(b, "BB");
    paths[0] = a;
    paths[1] = b;
    /* start ok, C for a refused with \1: its data is not sent. */
    assert_int_equal(LSH_EIO,
                     run_source(0, paths, 2, warn, sizeof(warn) - 1, &out,
                                &log));
    assert_int_equal(1, log.nremote);
    assert_int_equal(strlen("C0644 4 a\nC0644 2 b\nBB") + 1,
                     lsh_buf_len(&out));
    lsh_buf_free(&out);
    /* \2 stops everything. */
    assert_int_equal(LSH_EDISCONNECTED,
                     run_source(0, paths, 2, "\0\2stop\n", 7, &out, &log));
    assert_int_equal(strlen("C0644 4 a\n"), lsh_buf_len(&out));
    lsh_buf_free(&out);
    unlink(a);
    unlink(b);
}

static void
source_skips_newline_names(void **state)
{
    char a[400];
    const char *paths[1];
    lsh_buf out;
    evlog log = {0};
    (void)state;
    snprintf(a, sizeof(a), "%s/bad\nname", g_root);
    put_file(a, "x");
    paths[0] = a;
    assert_int_equal(LSH_EIO, run_source(0, paths, 1, "", 0, &out, &log));
    assert_int_equal(1, lsh_buf_ptr(&out)[0]);
    assert_non_null(memmem(lsh_buf_ptr(&out), lsh_buf_len(&out),
                           "filename contains a newline", 27));
    lsh_buf_free(&out);
    unlink(a);
}

/* Source and sink back to back over the POSIX backend. */
static void
source_to_sink_tree(void **state)
{
    char src[400], p[500], cmd[4000];
    const char *paths[1];
    lsh_scp_opts so, ko;
    lsh_scp *s = NULL, *k = NULL;
    int guard = 0, i;
    (void)state;
    snprintf(src, sizeof(src), "%s/tree", g_root);
    snprintf(cmd, sizeof(cmd),
             "mkdir -p '%s/a/b/c' '%s/empty' && "
             "head -c 70000 /dev/urandom > '%s/a/big' && "
             "printf x > '%s/a/b/c/one' && : > '%s/zero' && "
             "chmod 0751 '%s/a/b' && chmod 0600 '%s/a/big' && "
             "touch -d '2003-04-05 06:07:08' '%s/a/big' '%s/a/b'",
             src, src, src, src, src, src, src, src, src);
    assert_int_equal(0, system(cmd));
    paths[0] = src;
    memset(&so, 0, sizeof(so));
    so.flags = LSH_SCP_RECURSE | LSH_SCP_PRESERVE;
    so.paths = paths;
    so.npaths = 1;
    so.block_size = 4096;
    ko = so;
    ko.paths = NULL;
    ko.npaths = 0;
    ko.target = g_dst;
    assert_int_equal(0, lsh_scp_source_new(&so, &g_fs, &s));
    assert_int_equal(0, lsh_scp_sink_new(&ko, &g_fs, &k));
    while (!(lsh_scp_wants(s) & LSH_SCP_DONE) && guard++ < 1000000) {
        const uint8_t *o;
        size_t n, used;
        assert_int_equal(0, lsh_scp_run(s));
        assert_int_equal(0, lsh_scp_run(k));
        o = lsh_scp_out(s, &n);
        assert_int_equal(0, lsh_scp_feed(k, o, n, &used));
        lsh_scp_out_ack(s, used);
        o = lsh_scp_out(k, &n);
        assert_int_equal(0, lsh_scp_feed(s, o, n, &used));
        lsh_scp_out_ack(k, used);
    }
    assert_int_equal(0, lsh_scp_result(s, NULL));
    assert_int_equal(0, lsh_scp_feed_eof(k));
    assert_int_equal(0, lsh_scp_result(k, NULL));
    lsh_scp_free(s);
    lsh_scp_free(k);
    snprintf(cmd, sizeof(cmd), "diff -r '%s' '%s/tree' >/dev/null", src,
             g_dst);
    assert_int_equal(0, system(cmd));
    for (i = 0; i < 3; i++) {
        static const char *const rel[] = {"a/big", "a/b", "a/b/c/one"};
        struct stat s1, s2;
        snprintf(p, sizeof(p), "%s/%s", src, rel[i]);
        assert_int_equal(0, stat(p, &s1));
        snprintf(p, sizeof(p), "%s/tree/%s", g_dst, rel[i]);
        assert_int_equal(0, stat(p, &s2));
        assert_int_equal(s1.st_mode, s2.st_mode);
        assert_int_equal(s1.st_mtime, s2.st_mtime);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s/tree'", src, g_dst);
    assert_int_equal(0, system(cmd));
}

/* ---- failing backends: the stream stays in step ---- */

static int
failing_write(void *ctx, void *fh, uint64_t off, const uint8_t *buf,
              size_t n)
{
    (void)ctx;
    (void)fh;
    (void)buf;
    (void)n;
    return off >= 7 ? LSH_EIO : 0;
}

static int (*g_real_read)(void *, void *, uint64_t, uint8_t *, size_t,
                          size_t *);

static int
failing_read(void *ctx, void *fh, uint64_t off, uint8_t *buf, size_t n,
             size_t *got)
{
    if (off >= 5) {
        return LSH_EIO;
    }
    return g_real_read(ctx, fh, off, buf, n, got);
}

static void
sink_write_error_keeps_stream_in_step(void **state)
{
    lsh_scp_fs saved = g_fs;
    lsh_buf out;
    evlog log = {0};
    const uint8_t *p;
    (void)state;
    g_fs.write = failing_write;
    /* 20 bytes in blocks of 7: the second write fails, the rest of the
     * data is still consumed and the next file arrives normally. */
    assert_int_equal(LSH_EIO,
                     run_sink(0, S("C0644 20 a\n01234567890123456789\0"
                                   "C0644 3 b\nxyz\0"),
                              &out, &log));
    g_fs = saved;
    p = lsh_buf_ptr(&out);
    assert_int_equal(0, p[0]);
    assert_int_equal(0, p[1]);
    assert_int_equal(1, p[2]); /* "\1scp: a: input/output error\n" */
    assert_non_null(memmem(p, lsh_buf_len(&out), "scp: a: ", 8));
    assert_int_equal(0, p[lsh_buf_len(&out) - 1]); /* b stored fine */
    assert_int_equal(0, p[lsh_buf_len(&out) - 2]);
    assert_int_equal(2, log.nend);
    lsh_buf_free(&out);
}

static void
source_read_error_pads_and_reports(void **state)
{
    lsh_scp_fs saved = g_fs;
    char a[400];
    const char *paths[1];
    lsh_buf out;
    evlog log = {0};
    const uint8_t *p;
    size_t n;
    (void)state;
    snprintf(a, sizeof(a), "%s/f", g_root);
    put_file(a, "0123456789ab");
    paths[0] = a;
    g_real_read = g_fs.read;
    g_fs.read = failing_read;
    assert_int_equal(LSH_EIO, run_source(0, paths, 1, "", 0, &out, &log));
    g_fs = saved;
    p = lsh_buf_ptr(&out);
    n = lsh_buf_len(&out);
    /* All 12 promised bytes (zero after the failure), then \1 text. */
    assert_memory_equal("C0644 12 f\n01234", p, 16);
    assert_memory_equal("\0\0\0\0\0\0\0", p + 16, 7);
    assert_int_equal(1, p[23]);
    assert_int_equal('\n', p[n - 1]);
    assert_int_equal(1, log.nerr);
    lsh_buf_free(&out);
}

static void
helpers_check_and_quote(void **state)
{
    lsh_buf b;
    static const char quoted[] = "'a'\\''b; $(x) `y`'";
    (void)state;
    assert_int_equal(0, lsh_scp_check_name("a b", 3));
    assert_int_equal(0, lsh_scp_check_name("...", 3));
    assert_int_equal(0, lsh_scp_check_name(".hidden", 7));
    assert_int_equal(LSH_EREFUSED, lsh_scp_check_name("", 0));
    assert_int_equal(LSH_EREFUSED, lsh_scp_check_name(".", 1));
    assert_int_equal(LSH_EREFUSED, lsh_scp_check_name("..", 2));
    assert_int_equal(LSH_EREFUSED, lsh_scp_check_name("a/b", 3));
    assert_int_equal(LSH_EREFUSED, lsh_scp_check_name("a\0b", 3));
    assert_int_equal(LSH_EREFUSED, lsh_scp_check_name("a\nb", 3));
    assert_int_equal(LSH_EREFUSED, lsh_scp_check_name("\x7f", 1));
    lsh_buf_init(&b, 0);
    assert_int_equal(0, lsh_scp_quote_arg(&b, "a'b; $(x) `y`"));
    assert_int_equal(sizeof(quoted) - 1, lsh_buf_len(&b));
    assert_memory_equal(quoted, lsh_buf_ptr(&b), sizeof(quoted) - 1);
    lsh_buf_free(&b);
    /* A full buffer leaves it unchanged. */
    lsh_buf_init(&b, 4);
    assert_int_equal(LSH_ETOOLARGE, lsh_scp_quote_arg(&b, "abcdef"));
    assert_int_equal(0, lsh_buf_len(&b));
    lsh_buf_free(&b);
}

static void
options_are_checked(void **state)
{
    lsh_scp_opts o;
    lsh_scp *s = NULL;
    (void)state;
    memset(&o, 0, sizeof(o));
    assert_int_equal(LSH_EINVAL, lsh_scp_sink_new(&o, &g_fs, &s));
    o.target = "";
    assert_int_equal(LSH_EINVAL, lsh_scp_sink_new(&o, &g_fs, &s));
    o.target = "/tmp";
    o.block_size = LSH_SCP_MAX_BLOCK + 1;
    assert_int_equal(LSH_EINVAL, lsh_scp_sink_new(&o, &g_fs, &s));
    assert_null(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(sink_receives_one_file, setup, teardown),
        cmocka_unit_test_setup_teardown(sink_same_result_byte_by_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(sink_refuses_traversal_names, setup, teardown),
        cmocka_unit_test_setup_teardown(sink_refuses_names_not_asked_for, setup, teardown),
        cmocka_unit_test_setup_teardown(sink_refuses_bad_sizes_modes_and_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(sink_refuses_overlong_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(sink_bounds_recursion, setup, teardown),
        cmocka_unit_test_setup_teardown(sink_never_follows_planted_symlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(sink_passes_source_errors_on, setup, teardown),
        cmocka_unit_test_setup_teardown(sink_rename_mode_and_truncation, setup, teardown),
        cmocka_unit_test_setup_teardown(source_sends_exact_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(source_obeys_sink_replies, setup, teardown),
        cmocka_unit_test_setup_teardown(source_skips_newline_names, setup, teardown),
        cmocka_unit_test_setup_teardown(source_to_sink_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(sink_write_error_keeps_stream_in_step,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(source_read_error_pads_and_reports,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(helpers_check_and_quote, setup, teardown),
        cmocka_unit_test_setup_teardown(options_are_checked, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
