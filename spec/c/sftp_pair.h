/*
 * For the SFTP client tests: a client and the real server
 * (src/ssh/sftp/server.c over fs_posix) on a throw-away root under /tmp,
 * and the test data helpers both files need.
 */
#ifndef LSH_SPEC_SFTP_PAIR_H
#define LSH_SPEC_SFTP_PAIR_H

#include "testutil.h"

#include <stdio.h>
#include <sys/stat.h>

#include "ssh/sftp/client.h"
#include "ssh/sftp/server.h"

typedef struct sftp_pair {
    char dir[64], root[96];
    lsh_sftp_fs *fs;
    lsh_sftp_server *s;
    lsh_sftp_client *c;
} sftp_pair;

/* (Re)creates the server; max_read 0: its default READ clamp. */
static inline int
sftp_pair_server(sftp_pair *p, size_t max_read)
{
    lsh_sftp_server_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    lsh_sftp_fs_backend(p->fs, &cfg.backend);
    cfg.max_read = max_read;
    return lsh_sftp_server_new(&cfg, &p->s);
}

/* A root under /tmp/<tag>.XXXXXX, the server on it and a new client. */
static inline int
sftp_pair_open(sftp_pair *p, const char *tag)
{
    char cmd[160];
    memset(p, 0, sizeof(*p));
    snprintf(p->dir, sizeof(p->dir), "/tmp/%s.XXXXXX", tag);
    if (mkdtemp(p->dir) == NULL) {
        return -1;
    }
    snprintf(p->root, sizeof(p->root), "%s/root", p->dir);
    snprintf(cmd, sizeof(cmd), "mkdir -p %s", p->root);
    if (system(cmd) != 0 || lsh_sftp_fs_new(p->root, 0, &p->fs) != 0 ||
        sftp_pair_server(p, 0) != 0 || lsh_sftp_client_new(&p->c) != 0) {
        return -1;
    }
    return 0;
}

static inline int
sftp_pair_close(sftp_pair *p)
{
    char cmd[128];
    lsh_sftp_client_free(p->c);
    lsh_sftp_server_free(p->s);
    lsh_sftp_fs_free(p->fs);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", p->dir);
    return system(cmd) != 0 ? -1 : 0;
}

/* n pseudo-random bytes (malloc'd, one spare) from seed. */
static inline uint8_t *
sftp_pattern(size_t n, unsigned seed)
{
    uint8_t *p = malloc(n + 1);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)(x >> 16);
    }
    return p;
}

/* Asserts that rel under the root holds exactly data[0, n). */
static inline void
sftp_pair_assert_file(const sftp_pair *p, const char *rel,
                      const uint8_t *data, size_t n)
{
    char path[256];
    struct stat st;
    uint8_t *d;
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", p->root, rel);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((size_t)st.st_size, n);
    d = malloc(n + 1);
    assert_non_null(f = fopen(path, "rb"));
    assert_int_equal(fread(d, 1, n, f), n);
    fclose(f);
    if (n > 0) {
        assert_memory_equal(d, data, n);
    }
    free(d);
}

#endif
