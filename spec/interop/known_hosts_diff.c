/*
 * Differential test driver for src/ssh/keys/known_hosts.c against
 * `ssh-keygen -F` (see known_hosts_diff.sh).
 *
 *     known_hosts_diff KNOWN_HOSTS QUERIES
 *
 * QUERIES holds one "host port" pair per line.  For each, the lookup name
 * is host for port 22, else "[host]:port" (what `ssh-keygen -F` is given),
 * and every line of KNOWN_HOSTS that applies to it is printed the way
 * `ssh-keygen -l -F name` announces it:
 *
 *     # Host NAME found: line N [CA|REVOKED]
 *
 * The name is used as given (no lowercasing), like ssh-keygen does.
 *
 *     known_hosts_diff --format PUBKEY_FILE REQUESTS
 *
 * writes, for each "host port hashed" line of REQUESTS, the known_hosts
 * line lsh_known_hosts_format_entry() makes for the key of PUBKEY_FILE
 * (a "type base64 [comment]" line), hashed with salts from OpenSSL's RNG
 * when hashed is 1.  The script then asks ssh-keygen -F to find them.
 *
 * Exit status 0, or 1 on a usage or I/O error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "common/buf.h"
#include "ssh/keys/known_hosts.h"

static char *
slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, len = 0, got;

    if (f == NULL) {
        return NULL;
    }
    do {
        if (len + 65536 > cap) {
            char *nb;
            cap = cap ? cap * 2 : 1 << 20;
            if ((nb = realloc(buf, cap)) == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    fclose(f);
    *n = len;
    return buf;
}

static int
cmp_line(const void *a, const void *b)
{
    size_t x = (*(const lsh_kh_entry *const *)a)->line;
    size_t y = (*(const lsh_kh_entry *const *)b)->line;
    return x < y ? -1 : x > y;
}

static int
rand_bytes(void *ctx, uint8_t *out, size_t n)
{
    (void)ctx;
    return RAND_bytes(out, (int)n) == 1 ? 0 : LSH_ECRYPTO;
}

/* --format: the key comes from a one-line store "x <pubkey line>". */
static int
format_mode(const char *pubfile, const char *requests)
{
    char line[2048], *pub;
    size_t n;
    lsh_known_hosts *kh;
    lsh_buf out;
    FILE *q;

    if ((pub = slurp(pubfile, &n)) == NULL) {
        perror(pubfile);
        return 1;
    }
    snprintf(line, sizeof(line), "x %.*s", (int)n, pub);
    free(pub);
    kh = lsh_known_hosts_parse(line, strlen(line), pubfile);
    if (kh == NULL || lsh_known_hosts_count(kh) != 1) {
        fprintf(stderr, "%s: not a public key line\n", pubfile);
        return 1;
    }
    if ((q = fopen(requests, "r")) == NULL) {
        perror(requests);
        return 1;
    }
    lsh_buf_init(&out, 0);
    while (fgets(line, sizeof(line), q) != NULL) {
        char host[1024];
        int port, hashed, r;
        if (sscanf(line, "%1023s %d %d", host, &port, &hashed) != 3) {
            continue;
        }
        r = lsh_known_hosts_format_entry(host, port,
                                         lsh_known_hosts_entry(kh, 0)->key,
                                         hashed, rand_bytes, NULL, &out);
        if (r != 0) {
            fprintf(stderr, "%s: %s\n", host, lsh_strerror(r));
            return 1;
        }
    }
    fclose(q);
    fwrite(lsh_buf_ptr(&out), 1, lsh_buf_len(&out), stdout);
    lsh_buf_free(&out);
    lsh_known_hosts_free(kh);
    return 0;
}

int
main(int argc, char **argv)
{
    lsh_known_hosts *kh;
    FILE *q;
    char *data, line[2048];
    size_t n;

    if (argc == 4 && strcmp(argv[1], "--format") == 0) {
        return format_mode(argv[2], argv[3]);
    }
    if (argc != 3) {
        fprintf(stderr,
                "usage: %s KNOWN_HOSTS QUERIES\n"
                "       %s --format PUBKEY_FILE REQUESTS\n",
                argv[0], argv[0]);
        return 1;
    }
    if ((data = slurp(argv[1], &n)) == NULL) {
        perror(argv[1]);
        return 1;
    }
    if ((kh = lsh_known_hosts_parse(data, n, argv[1])) == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    free(data);
    fprintf(stderr, "%zu entries, %zu problem lines\n",
            lsh_known_hosts_count(kh), lsh_known_hosts_problem_count(kh));
    if ((q = fopen(argv[2], "r")) == NULL) {
        perror(argv[2]);
        return 1;
    }
    while (fgets(line, sizeof(line), q) != NULL) {
        char host[1024], name[1100];
        const char *names[1] = {name};
        const lsh_kh_entry **all;
        lsh_kh_match m;
        size_t total;
        int port;

        if (sscanf(line, "%1023s %d", host, &port) != 2) {
            continue;
        }
        if (port == 22) {
            snprintf(name, sizeof(name), "%s", host);
        } else {
            snprintf(name, sizeof(name), "[%s]:%d", host, port);
        }
        if (lsh_known_hosts_match_names(kh, names, 1, &m) != 0) {
            fprintf(stderr, "match failed\n");
            return 1;
        }
        total = m.n_host_keys + m.n_ca_keys + m.n_revoked;
        if ((all = malloc((total + 1) * sizeof(*all))) == NULL) {
            return 1;
        }
        memcpy(all, m.host_keys, m.n_host_keys * sizeof(*all));
        memcpy(all + m.n_host_keys, m.ca_keys, m.n_ca_keys * sizeof(*all));
        memcpy(all + m.n_host_keys + m.n_ca_keys, m.revoked,
               m.n_revoked * sizeof(*all));
        qsort(all, total, sizeof(*all), cmp_line);
        for (size_t i = 0; i < total; i++) {
            printf("# Host %s found: line %zu %s\n", name, all[i]->line,
                   all[i]->marker == LSH_KH_MARK_CA        ? "CA"
                   : all[i]->marker == LSH_KH_MARK_REVOKED ? "REVOKED"
                                                           : "");
        }
        free(all);
        lsh_kh_match_free(&m);
    }
    fclose(q);
    lsh_known_hosts_free(kh);
    return 0;
}
