/*
 * libFuzzer target for src/ssh/keys/known_hosts.c (and the pattern
 * matcher and trust-file lexer under it).
 *
 * The input is parsed as a known_hosts file, then looked up for fixed
 * hosts, addresses and ports and checked against a fixed key and CA.
 * Invariants: every entry and problem has a line number within the
 * input, every matched entry belongs to the store, and a line written by
 * lsh_known_hosts_format_entry() for a name taken from the input parses
 * back to exactly one entry that the lookup for that name finds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "ssh/keys/key.h"
#include "ssh/keys/known_hosts.h"
#include "ssh/keys/trustfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ssh-ed25519 key of OpenSSH's hostkeys/ed25519_1.pub. */
static const char KEY_B64[] =
    "AAAAC3NzaC1lZDI1NTE5AAAAIK9ks7jkua5YWIwByRnnnc6UPJQWI75O0e/UJdPYU1JI";
/* ecdsa-sha2-nistp256 key of hostkeys/ecdsa_4.pub. */
static const char CA_B64[] =
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHZd0OXHIWwK3xnjAdM"
    "Z1tojxWycdu38pORO/UX5cqsKMgGCKQVBWWO3TFk1ePkGIE9VMWT1hCGqWRRwYlH+dSE=";

static lsh_key *
load(const char *b64)
{
    uint8_t *blob = NULL;
    size_t n = 0;
    lsh_key *k = NULL;
    if (lsh__tf_b64_decode(b64, strlen(b64), 0, &blob, &n) != 0 ||
        lsh_key_from_blob(blob, n, &k) != 0) {
        abort();
    }
    free(blob);
    return k;
}

static int
fixed_rng(void *ctx, uint8_t *out, size_t n)
{
    (void)ctx;
    memset(out, 0x5a, n);
    return 0;
}

static size_t
count_lines(const uint8_t *data, size_t size)
{
    size_t lines = 0;
    for (size_t i = 0; i < size; i++) {
        lines += data[i] == '\n';
    }
    return lines + 1;
}

static void
check_match(const lsh_known_hosts *kh, const lsh_kh_match *m)
{
    const lsh_kh_entry *const *lists[3] = {m->host_keys, m->ca_keys,
                                           m->revoked};
    size_t counts[3] = {m->n_host_keys, m->n_ca_keys, m->n_revoked};
    const enum lsh_kh_marker marks[3] = {LSH_KH_MARK_NONE, LSH_KH_MARK_CA,
                                         LSH_KH_MARK_REVOKED};
    for (int l = 0; l < 3; l++) {
        for (size_t i = 0; i < counts[l]; i++) {
            const lsh_kh_entry *e = lists[l][i];
            if (e->marker != marks[l] || e->line == 0) {
                abort();
            }
        }
    }
    if (counts[0] + counts[1] + counts[2] > lsh_known_hosts_count(kh)) {
        abort();
    }
}

/* Writes a line for the name at the start of the input and reads it back. */
static void
check_format_roundtrip(const uint8_t *data, size_t size, const lsh_key *key)
{
    char host[65];
    size_t n = 0;
    int port = size > 0 ? data[0] * 257 : 22;
    lsh_buf out;
    lsh_known_hosts *kh;
    lsh_kh_match m;

    while (n < size && n < 64 && data[n] != '\n' && data[n] != '\0') {
        host[n] = (char)data[n];
        n++;
    }
    host[n] = '\0';
    lsh_buf_init(&out, 0);
    for (int hashed = 0; hashed < 2; hashed++) {
        lsh_buf_reset(&out);
        if (lsh_known_hosts_format_entry(host, port, key, hashed, fixed_rng,
                                         NULL, &out) != 0) {
            continue;
        }
        kh = lsh_known_hosts_parse((const char *)lsh_buf_ptr(&out),
                                   lsh_buf_len(&out), "fmt");
        if (kh == NULL) {
            abort();
        }
        if (lsh_known_hosts_count(kh) != 1 ||
            lsh_known_hosts_problem_count(kh) != 0) {
            abort();
        }
        if (lsh_known_hosts_match(kh, host, NULL, port, &m) != 0 ||
            m.n_host_keys != 1) {
            abort();
        }
        lsh_kh_match_free(&m);
        lsh_known_hosts_free(kh);
    }
    lsh_buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static lsh_key *key, *ca;
    static const struct {
        const char *host, *addr;
        int port;
    } q[] = {
        {"host.example.com", "192.0.2.1", 22},
        {"sisyphus.example.com", NULL, 22},
        {"Host.Example.COM", "2001:db8::1", 2222},
        {"a", "10.0.0.1", 0},
    };
    lsh_known_hosts *kh;
    size_t lines;

    if (key == NULL) {
        key = load(KEY_B64);
        ca = load(CA_B64);
    }
    kh = lsh_known_hosts_parse((const char *)data, size, "fuzz");
    if (kh == NULL) {
        return 0;
    }
    lines = count_lines(data, size);
    for (size_t i = 0; i < lsh_known_hosts_count(kh); i++) {
        const lsh_kh_entry *e = lsh_known_hosts_entry(kh, i);
        if (e->line == 0 || e->line > lines || e->key == NULL) {
            abort();
        }
    }
    for (size_t i = 0; i < lsh_known_hosts_problem_count(kh); i++) {
        const lsh_trust_problem *p = lsh_known_hosts_problem(kh, i);
        if (p->line == 0 || p->line > lines || p->reason == NULL) {
            abort();
        }
    }
    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
        lsh_kh_match m;
        lsh_kh_verdict v;
        if (lsh_known_hosts_match(kh, q[i].host, q[i].addr, q[i].port, &m) ==
            0) {
            check_match(kh, &m);
            lsh_kh_match_free(&m);
        }
        if (lsh_known_hosts_check(kh, q[i].host, q[i].addr, q[i].port, key,
                                  i % 2 ? ca : NULL, &v) == 0 &&
            (v.status == LSH_KH_UNKNOWN) != (v.entry == NULL)) {
            abort();
        }
    }
    lsh_known_hosts_free(kh);
    check_format_roundtrip(data, size, key);
    return 0;
}
