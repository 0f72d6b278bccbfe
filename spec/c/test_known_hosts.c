/*
 * Tests for src/ssh/keys/known_hosts.c: parsing, matching, verdicts and
 * writing of known_hosts files (sshd(8), SSH_KNOWN_HOSTS FILE FORMAT).
 *
 * Where the vectors come from:
 *  - KH_OPENSSH is a subset of OpenSSH's hostkeys regression file
 *    (/work/shared/specs/openssh-testdata/hostkeys/known_hosts: its
 *    Ed25519 lines, its hashed entries, its @revoked and @cert-authority
 *    lines and its invalid lines) with the keys of ed25519_N.pub and
 *    ecdsa_4.pub.  The expected line selections are what OpenSSH 9.2's
 *    `ssh-keygen -l -F NAME -f FILE` printed for this exact text.
 *  - The hashed-name known answer: HMAC-SHA1 under the salt 01 02 .. 14
 *    computed with `printf %s NAME | openssl dgst -sha1 -mac HMAC -macopt
 *    hexkey:0102..14 -binary | base64`.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "ssh/keys/key.h"
#include "ssh/keys/known_hosts.h"
#include "ssh/keys/trustfile.h"

#define ED1 "AAAAC3NzaC1lZDI1NTE5AAAAIK9ks7jkua5YWIwByRnnnc6UPJQWI75O0e/UJdPYU1JI"
#define ED2 "AAAAC3NzaC1lZDI1NTE5AAAAIIBp6PVW0z2o9C4Ukv/JOgmK7QMFe1pD1s3ADFF7IQob"
#define ED3 "AAAAC3NzaC1lZDI1NTE5AAAAIBlYfExtYZAPqYvYdrlpGlSWhh/XNHcH3v3c2JzsVNbB"
#define ED4 "AAAAC3NzaC1lZDI1NTE5AAAAIDFP8L9REfN/iYy1KIRtFqSCn3V2+vOCpoZYENFGLdOF"
#define ED5 "AAAAC3NzaC1lZDI1NTE5AAAAINf63qSV8rD57N+digID8t28WVhd3Yf2K2UhaoG8TsWQ"
#define ED6 "AAAAC3NzaC1lZDI1NTE5AAAAIPLW0ZwCkRQldpLa4I5BpwGa/om+WE6OgC8jdVqakt0Z"
#define ECDSA4                                                            \
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHZd0OXHIWwK3xnjAdM" \
    "Z1tojxWycdu38pORO/UX5cqsKMgGCKQVBWWO3TFk1ePkGIE9VMWT1hCGqWRRwYlH+dSE="

static const char KH_OPENSSH[] =
    "# Plain host keys, plain host names\n"
    "sisyphus.example.com ssh-ed25519 " ED1 " ED25519 #1\n"
    "\n"
    "# Plain host keys, hostnames + addresses\n"
    "prometheus.example.com,192.0.2.1,2001:db8::1 ssh-ed25519 " ED2
    " ED25519 #2\n"
    "\n"
    "# Some hosts with wildcard names / IPs\n"
    "*.example.com,192.0.2.*,2001:* ssh-ed25519 " ED3 " ED25519 #3\n"
    "\n"
    "# Hashed hostname and address entries\n"
    "|1|JR81WxEocTP5d7goIRkl8fHBbno=|l6sj6FOsoXxgEZMzn/BnOfPKN68= "
    "ssh-ed25519 " ED5 " ED25519 #5\n"
    "|1|OCcBfGc/b9+ip+W6Gp+3ftdluO4=|VbrKUdzOOtIBOOmEE+jlK4SD3Xc= "
    "ssh-ed25519 " ED6 " ED25519 #6\n"
    "|1|9fLN0YdP+BJ25lKuKvYuOdUo93w=|vZyr0rOiX01hv5XbghhHMW+Zb3U= "
    "ssh-ed25519 " ED6 " ED25519 #6\n"
    "|1|nc9RoaaQ0s5jdPxwlUmluGHU3uk=|un6OsJajokKQ3MgyS9mfDNeyP6U= "
    "ssh-ed25519 " ED6 " ED25519 #6\n"
    "\n"
    "# Revoked and CA keys\n"
    "@revoked sisyphus.example.com ssh-ed25519 " ED4 " ED25519 #4\n"
    "@cert-authority prometheus.example.com ecdsa-sha2-nistp256 " ECDSA4
    " ECDSA #4\n"
    "\n"
    "# Some invalid lines\n"
    "@what ssh-ed25519 " ED1 " ED25519 #1\n"
    "sisyphus.example.com      \n"
    "prometheus.example.com ssh-ed25519 \n"
    "sisyphus.example.com ssh-ed25519 AAAATgAAAAdz\n"
    "sisyphus.example.com ssh-XXX AAAATgAAAAdzc2gtWFhYAAAAP0ZVQ0tPRkZGVUNLT0ZG"
    "RlVDS09GRkZVQ0tPRkZGVUNLT0ZGRlVDS09GRkZVQ0tPRkZGVUNLT0ZGRlVDS09GRg==\n";

static lsh_key *
key_b64(const char *type, const char *b64)
{
    char line[1024];
    const char *p = line, *reason = NULL;
    lsh_key *k = NULL;
    snprintf(line, sizeof(line), "%s %s", type, b64);
    assert_int_equal(lsh__tf_read_key(&p, &k, &reason), 0);
    return k;
}

static lsh_known_hosts *
parse(const char *text)
{
    lsh_known_hosts *kh = lsh_known_hosts_parse(text, strlen(text),
                                                "known_hosts");
    assert_non_null(kh);
    return kh;
}

/* "2 8 11 17R" style summary of a match: lines in order, R/C markers. */
static void
summary(const lsh_kh_match *m, char *out, size_t n)
{
    size_t lines[64], k = 0, len = 0;
    char marks[64];
    const lsh_kh_entry *const *lists[3] = {m->host_keys, m->ca_keys,
                                           m->revoked};
    size_t counts[3] = {m->n_host_keys, m->n_ca_keys, m->n_revoked};
    const char tag[3] = {'\0', 'C', 'R'};

    for (int l = 0; l < 3; l++) {
        for (size_t i = 0; i < counts[l]; i++) {
            assert_true(k < 64);
            lines[k] = lists[l][i]->line;
            marks[k++] = tag[l];
        }
    }
    /* Insertion sort by line. */
    for (size_t i = 1; i < k; i++) {
        for (size_t j = i; j > 0 && lines[j - 1] > lines[j]; j--) {
            size_t t = lines[j];
            char c = marks[j];
            lines[j] = lines[j - 1];
            marks[j] = marks[j - 1];
            lines[j - 1] = t;
            marks[j - 1] = c;
        }
    }
    out[0] = '\0';
    for (size_t i = 0; i < k; i++) {
        len += (size_t)snprintf(out + len, n - len, "%s%zu", i ? " " : "",
                                lines[i]);
        if (marks[i]) {
            len += (size_t)snprintf(out + len, n - len, "%c", marks[i]);
        }
    }
}

static void
assert_names(const lsh_known_hosts *kh, const char *name,
             const char *expect)
{
    const char *names[1] = {name};
    lsh_kh_match m;
    char got[256];
    assert_int_equal(lsh_known_hosts_match_names(kh, names, 1, &m), 0);
    summary(&m, got, sizeof(got));
    assert_string_equal(got, expect);
    lsh_kh_match_free(&m);
}

static void
assert_conn(const lsh_known_hosts *kh, const char *host, const char *addr,
            int port, const char *expect)
{
    lsh_kh_match m;
    char got[256];
    assert_int_equal(lsh_known_hosts_match(kh, host, addr, port, &m), 0);
    summary(&m, got, sizeof(got));
    assert_string_equal(got, expect);
    lsh_kh_match_free(&m);
}

static void
test_openssh_file_parses_with_problems_listed(void **state)
{
    static const struct {
        size_t line;
        const char *reason;
    } want[] = {
        {21, "invalid marker"},
        {22, "missing key"},
        {23, "missing base64 key"},
        {24, "invalid key blob"},
        {25, "unknown key type"},
    };
    lsh_known_hosts *kh = parse(KH_OPENSSH);
    const lsh_kh_entry *e;
    (void)state;

    assert_int_equal(lsh_known_hosts_count(kh), 9);
    assert_int_equal(lsh_known_hosts_problem_count(kh), 5);
    for (size_t i = 0; i < 5; i++) {
        const lsh_trust_problem *p = lsh_known_hosts_problem(kh, i);
        assert_string_equal(p->filename, "known_hosts");
        assert_int_equal(p->line, want[i].line);
        assert_string_equal(p->reason, want[i].reason);
    }
    e = lsh_known_hosts_entry(kh, 0);
    assert_int_equal(e->line, 2);
    assert_string_equal(e->hosts, "sisyphus.example.com");
    assert_string_equal(e->comment, "ED25519 #1");
    assert_string_equal(e->filename, "known_hosts");
    assert_int_equal(e->marker, LSH_KH_MARK_NONE);
    assert_false(e->hashed);
    assert_true(lsh_known_hosts_entry(kh, 3)->hashed);
    assert_int_equal(lsh_known_hosts_entry(kh, 7)->marker,
                     LSH_KH_MARK_REVOKED);
    assert_int_equal(lsh_known_hosts_entry(kh, 8)->marker, LSH_KH_MARK_CA);
    assert_int_equal(lsh_key_type(lsh_known_hosts_entry(kh, 8)->key),
                     LSH_KEY_ECDSA_P256);
    assert_null(lsh_known_hosts_entry(kh, 9));
    lsh_known_hosts_free(kh);
}

/* The selections ssh-keygen -l -F printed for KH_OPENSSH. */
static void
test_lookup_like_ssh_keygen(void **state)
{
    lsh_known_hosts *kh = parse(KH_OPENSSH);
    (void)state;
    assert_names(kh, "sisyphus.example.com", "2 8 11 17R");
    assert_names(kh, "prometheus.example.com", "5 8 12 18C");
    assert_names(kh, "192.0.2.1", "5 8 13");
    assert_names(kh, "2001:db8::1", "5 8 14");
    /* Patterns ignore case; hashes are of the name as given. */
    assert_names(kh, "SISYPHUS.EXAMPLE.COM", "2 8 17R");
    assert_names(kh, "x.example.com", "8");
    assert_names(kh, "example.com", "");
    assert_names(kh, "[sisyphus.example.com]:22", "");
    lsh_known_hosts_free(kh);
}

static void
test_connection_candidates(void **state)
{
    lsh_known_hosts *kh = parse(KH_OPENSSH);
    lsh_kh_match m;
    (void)state;
    /* The host is lowercased as ssh(1) does, so the hash matches too. */
    assert_conn(kh, "SISYPHUS.EXAMPLE.COM", NULL, 22, "2 8 11 17R");
    /* Name and address both count. */
    assert_conn(kh, "alias", "192.0.2.1", 22, "5 8 13");
    assert_conn(kh, "prometheus.example.com", "2001:DB8::1", 0,
                "5 8 12 14 18C");
    /* Other ports look up [name]:port only. */
    assert_conn(kh, "sisyphus.example.com", "192.0.2.1", 2222, "");
    assert_int_equal(lsh_known_hosts_match(kh, "", NULL, 22, &m),
                     LSH_EINVAL);
    assert_int_equal(lsh_known_hosts_match(kh, "h", NULL, 65536, &m),
                     LSH_EINVAL);
    assert_int_equal(lsh_known_hosts_match(kh, "h", NULL, -1, &m),
                     LSH_EINVAL);
    lsh_known_hosts_free(kh);
}

static void
test_patterns_ports_and_negation(void **state)
{
    static const char text[] =
        "[git.example.com]:2222 ssh-ed25519 " ED1 "\n"
        "[*.example.com]:*,![*.internal.example.com]:* ssh-ed25519 " ED2 "\n"
        "host?.example.org,!host9.example.org ssh-ed25519 " ED3 "\n"
        "*,!10.0.0.66 ssh-ed25519 " ED4 "\n"
        "\t  [2001:db8::1]:830\tssh-ed25519\t" ED5 "\t comment \r\n";
    lsh_known_hosts *kh = parse(text);
    (void)state;
    assert_int_equal(lsh_known_hosts_problem_count(kh), 0);
    assert_conn(kh, "git.example.com", NULL, 2222, "1 2 4");
    assert_conn(kh, "git.example.com", NULL, 22, "4");
    assert_conn(kh, "a.internal.example.com", NULL, 2222, "4");
    assert_conn(kh, "host1.example.org", NULL, 22, "3 4");
    assert_conn(kh, "host9.example.org", NULL, 22, "4");
    assert_conn(kh, "host10.example.org", NULL, 22, "4");
    /* A negated address excludes the line even though the name matched. */
    assert_conn(kh, "host1.example.org", "10.0.0.66", 22, "3");
    assert_conn(kh, "v6", "2001:db8::1", 830, "4 5");
    assert_string_equal(lsh_known_hosts_entry(kh, 4)->comment, "comment");
    lsh_known_hosts_free(kh);
}

static void
test_verdicts(void **state)
{
    lsh_known_hosts *kh = parse(KH_OPENSSH);
    lsh_key *k1 = key_b64("ssh-ed25519", ED1);
    lsh_key *k3 = key_b64("ssh-ed25519", ED3);
    lsh_key *k4 = key_b64("ssh-ed25519", ED4);
    lsh_key *ca = key_b64("ecdsa-sha2-nistp256", ECDSA4);
    lsh_key *fresh = NULL, *fresh_ec = NULL;
    lsh_kh_verdict v;
    (void)state;

    assert_int_equal(lsh_key_generate(LSH_KEY_ED25519, 0, &fresh), 0);
    assert_int_equal(lsh_key_generate(LSH_KEY_ECDSA_P384, 0, &fresh_ec), 0);

    assert_int_equal(lsh_known_hosts_check(kh, "sisyphus.example.com", NULL,
                                           22, k1, NULL, &v),
                     0);
    assert_int_equal(v.status, LSH_KH_OK);
    assert_int_equal(v.entry->line, 2);
    assert_int_equal(v.n_host_keys, 3);

    /* The wildcard line trusts k3 for any *.example.com. */
    assert_int_equal(lsh_known_hosts_check(kh, "new.example.com", NULL, 22,
                                           k3, NULL, &v),
                     0);
    assert_int_equal(v.status, LSH_KH_OK);
    assert_int_equal(v.entry->line, 8);

    assert_int_equal(lsh_known_hosts_check(kh, "sisyphus.example.com", NULL,
                                           22, k4, NULL, &v),
                     0);
    assert_int_equal(v.status, LSH_KH_REVOKED);
    assert_int_equal(v.entry->line, 17);

    /* A revoked CA is revoked even when the plain key is trusted. */
    assert_int_equal(lsh_known_hosts_check(kh, "sisyphus.example.com", NULL,
                                           22, k1, k4, &v),
                     0);
    assert_int_equal(v.status, LSH_KH_REVOKED);

    assert_int_equal(lsh_known_hosts_check(kh, "prometheus.example.com",
                                           NULL, 22, fresh, ca, &v),
                     0);
    assert_int_equal(v.status, LSH_KH_OK_CA);
    assert_int_equal(v.entry->line, 18);
    assert_int_equal(v.n_ca_keys, 1);

    /* The CA is trusted for prometheus only. */
    assert_int_equal(lsh_known_hosts_check(kh, "sisyphus.example.com", NULL,
                                           22, fresh, ca, &v),
                     0);
    assert_int_equal(v.status, LSH_KH_CHANGED);
    assert_int_equal(v.entry->line, 2);
    assert_string_equal(v.entry->filename, "known_hosts");

    assert_int_equal(lsh_known_hosts_check(kh, "sisyphus.example.com", NULL,
                                           22, fresh_ec, NULL, &v),
                     0);
    assert_int_equal(v.status, LSH_KH_UNKNOWN_TYPE_KNOWN_OTHERS);
    assert_int_equal(v.entry->line, 2);

    assert_int_equal(lsh_known_hosts_check(kh, "nowhere.example.org", NULL,
                                           22, k1, NULL, &v),
                     0);
    assert_int_equal(v.status, LSH_KH_UNKNOWN);
    assert_null(v.entry);
    assert_string_equal(lsh_kh_status_str(LSH_KH_CHANGED),
                        "host key changed");

    assert_int_equal(lsh_known_hosts_check(kh, "h", NULL, 22, NULL, NULL,
                                           &v),
                     LSH_EINVAL);
    lsh_key_free(k1);
    lsh_key_free(k3);
    lsh_key_free(k4);
    lsh_key_free(ca);
    lsh_key_free(fresh);
    lsh_key_free(fresh_ec);
    lsh_known_hosts_free(kh);
}

static void
test_several_files(void **state)
{
    static const char a[] = "# global\nh.example.com ssh-ed25519 " ED1 "\n";
    static const char b[] = "h.example.com ssh-ed25519 " ED2 "\nbad line\n";
    lsh_known_hosts *kh = lsh_known_hosts_new();
    lsh_key *k3 = key_b64("ssh-ed25519", ED3);
    lsh_kh_verdict v;
    (void)state;
    assert_non_null(kh);
    assert_int_equal(lsh_known_hosts_add(kh, a, strlen(a),
                                         "/etc/ssh/ssh_known_hosts"),
                     0);
    assert_int_equal(lsh_known_hosts_add(kh, b, strlen(b),
                                         "~/.ssh/known_hosts"),
                     0);
    assert_int_equal(lsh_known_hosts_count(kh), 2);
    assert_string_equal(lsh_known_hosts_entry(kh, 0)->filename,
                        "/etc/ssh/ssh_known_hosts");
    assert_int_equal(lsh_known_hosts_entry(kh, 0)->line, 2);
    assert_string_equal(lsh_known_hosts_entry(kh, 1)->filename,
                        "~/.ssh/known_hosts");
    assert_int_equal(lsh_known_hosts_entry(kh, 1)->line, 1);
    assert_int_equal(lsh_known_hosts_problem_count(kh), 1);
    assert_string_equal(lsh_known_hosts_problem(kh, 0)->filename,
                        "~/.ssh/known_hosts");
    assert_int_equal(lsh_known_hosts_problem(kh, 0)->line, 2);
    assert_int_equal(lsh_known_hosts_check(kh, "h.example.com", NULL, 22, k3,
                                           NULL, &v),
                     0);
    assert_int_equal(v.status, LSH_KH_CHANGED);
    assert_string_equal(v.entry->filename, "/etc/ssh/ssh_known_hosts");
    lsh_key_free(k3);
    lsh_known_hosts_free(kh);
}

static void
test_malformed_lines(void **state)
{
    static const struct {
        const char *line, *reason;
    } v[] = {
        {"@revoked", "missing host names"},
        {"@revoked @cert-authority h ssh-ed25519 " ED1, "invalid marker"},
        {"@CERT-AUTHORITY h ssh-ed25519 " ED1, "invalid marker"},
        {"@cert-authorityx h ssh-ed25519 " ED1, "invalid marker"},
        {"h #comment ssh-ed25519 " ED1, "missing key"},
        {"h ssh-rsa " ED1, "key type does not match its blob"},
        {"h ssh-ed25519-cert-v01@openssh.com " ED1,
         "certificates are not allowed here"},
        {"h ssh-ed25519 " ED1 "!", "invalid base64 key"},
        {"h ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK9ks7jkua5YWIwByRnnnc6UPJQ"
         "WI75O0e/UJdPYU1J", "invalid base64 key"},
        /* Nonzero bits under the '=' padding: not the canonical form. */
        {"h ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAy"
         "NTYAAABBBHZd0OXHIWwK3xnjAdMZ1tojxWycdu38pORO/UX5cqsKMgGCKQVBWWO3TF"
         "k1ePkGIE9VMWT1hCGqWRRwYlH+dSF=", "invalid base64 key"},
        {"h ecdsa-sha2-nistp384 " ECDSA4, "key type does not match its blob"},
        {"|1|c2FsdA==|l6sj6FOsoXxgEZMzn/BnOfPKN68= ssh-ed25519 " ED1,
         "invalid hashed host name"},
        {"|2|JR81WxEocTP5d7goIRkl8fHBbno=|l6sj6FOsoXxgEZMzn/BnOfPKN68= "
         "ssh-ed25519 " ED1, "invalid hashed host name"},
        {"|1|JR81WxEocTP5d7goIRkl8fHBbno=|l6sj6FOsoXxgEZMzn/BnOfPKN6= "
         "ssh-ed25519 " ED1, "invalid hashed host name"},
        {"|1|JR81WxEocTP5d7goIRkl8fHBbno= ssh-ed25519 " ED1,
         "invalid hashed host name"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char text[1024];
        lsh_known_hosts *kh;
        const lsh_trust_problem *p;
        snprintf(text, sizeof(text), "ok ssh-ed25519 %s\n%s\nok2 ssh-ed25519 %s",
                 ED1, v[i].line, ED2);
        kh = parse(text);
        assert_int_equal(lsh_known_hosts_count(kh), 2);
        assert_int_equal(lsh_known_hosts_problem_count(kh), 1);
        p = lsh_known_hosts_problem(kh, 0);
        assert_int_equal(p->line, 2);
        assert_string_equal(p->reason, v[i].reason);
        lsh_known_hosts_free(kh);
    }
}

static void
test_oversize_lines_and_nul_bytes(void **state)
{
    size_t prefix = strlen("h ssh-ed25519 " ED1 " ");
    size_t n = 3 * (LSH_TRUST_MAX_LINE + 64);
    char *text = malloc(n), *p = text;
    lsh_known_hosts *kh;
    (void)state;
    assert_non_null(text);
    /* Line 1: exactly the limit (a long comment): accepted. */
    p += sprintf(p, "h ssh-ed25519 %s ", ED1);
    memset(p, 'c', LSH_TRUST_MAX_LINE - prefix);
    p += LSH_TRUST_MAX_LINE - prefix;
    *p++ = '\n';
    /* Line 2: one byte over: rejected. */
    p += sprintf(p, "h ssh-ed25519 %s ", ED1);
    memset(p, 'c', LSH_TRUST_MAX_LINE - prefix + 1);
    p += LSH_TRUST_MAX_LINE - prefix + 1;
    *p++ = '\n';
    /* Line 3: a NUL byte inside; line 4 still parses. */
    p += sprintf(p, "h ssh-ed25519 %s a", ED1);
    *p++ = '\0';
    p += sprintf(p, "b\nh2 ssh-ed25519 %s", ED2);
    kh = lsh_known_hosts_parse(text, (size_t)(p - text), NULL);
    assert_non_null(kh);
    assert_int_equal(lsh_known_hosts_count(kh), 2);
    assert_int_equal(lsh_known_hosts_entry(kh, 0)->line, 1);
    assert_int_equal(lsh_known_hosts_entry(kh, 1)->line, 4);
    assert_string_equal(lsh_known_hosts_entry(kh, 1)->filename, "(memory)");
    assert_int_equal(lsh_known_hosts_problem_count(kh), 2);
    assert_int_equal(lsh_known_hosts_problem(kh, 0)->line, 2);
    assert_string_equal(lsh_known_hosts_problem(kh, 0)->reason,
                        "line too long");
    assert_int_equal(lsh_known_hosts_problem(kh, 1)->line, 3);
    assert_string_equal(lsh_known_hosts_problem(kh, 1)->reason,
                        "NUL byte in line");
    lsh_known_hosts_free(kh);
    free(text);
}

static void
test_empty_input(void **state)
{
    lsh_known_hosts *kh = lsh_known_hosts_parse(NULL, 0, "empty");
    lsh_kh_match m;
    (void)state;
    assert_non_null(kh);
    assert_int_equal(lsh_known_hosts_count(kh), 0);
    assert_int_equal(lsh_known_hosts_match(kh, "h", "10.0.0.1", 22, &m), 0);
    assert_int_equal(m.n_host_keys + m.n_ca_keys + m.n_revoked, 0);
    lsh_kh_match_free(&m);
    lsh_known_hosts_free(kh);
}

/* Counts up from 1: salt 01 02 .. 14. */
static int
counting_rng(void *ctx, uint8_t *out, size_t n)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        out[i] = (uint8_t)(i + 1);
    }
    return 0;
}

static int
failing_rng(void *ctx, uint8_t *out, size_t n)
{
    (void)ctx;
    (void)out;
    (void)n;
    return LSH_ECRYPTO;
}

static void
assert_formats(const char *host, int port, int hashed, const char *expect)
{
    lsh_key *k = key_b64("ssh-ed25519", ED1);
    lsh_buf out;
    lsh_buf_init(&out, 0);
    assert_int_equal(lsh_known_hosts_format_entry(host, port, k, hashed,
                                                  counting_rng, NULL, &out),
                     0);
    assert_int_equal(lsh_buf_len(&out), strlen(expect));
    assert_memory_equal(lsh_buf_ptr(&out), expect, strlen(expect));
    lsh_buf_free(&out);
    lsh_key_free(k);
}

static void
test_format_entry(void **state)
{
    (void)state;
    assert_formats("host.example.com", 22, 0,
                   "host.example.com ssh-ed25519 " ED1 "\n");
    assert_formats("Host.Example.COM", 0, 0,
                   "host.example.com ssh-ed25519 " ED1 "\n");
    assert_formats("host.example.com", 2222, 0,
                   "[host.example.com]:2222 ssh-ed25519 " ED1 "\n");
    assert_formats("2001:db8::1", 830, 0,
                   "[2001:db8::1]:830 ssh-ed25519 " ED1 "\n");
    assert_formats("host.example.com", 22, 1,
                   "|1|AQIDBAUGBwgJCgsMDQ4PEBESExQ=|68cHBGsOI9ML7LfxwdGjB2to"
                   "IPo= ssh-ed25519 " ED1 "\n");
    assert_formats("host.example.com", 2222, 1,
                   "|1|AQIDBAUGBwgJCgsMDQ4PEBESExQ=|eezMzszSwWiwP23a2AMUMB9W"
                   "RHQ= ssh-ed25519 " ED1 "\n");
}

static void
test_format_entry_roundtrip(void **state)
{
    lsh_key *k = NULL;
    lsh_buf out;
    lsh_known_hosts *kh;
    lsh_kh_verdict v;
    (void)state;
    assert_int_equal(lsh_key_generate(LSH_KEY_ECDSA_P521, 0, &k), 0);
    lsh_buf_init(&out, 0);
    assert_int_equal(lsh_known_hosts_format_entry("a.example", 22, k, 1,
                                                  counting_rng, NULL, &out),
                     0);
    assert_int_equal(lsh_known_hosts_format_entry("b.example", 2022, k, 0,
                                                  NULL, NULL, &out),
                     0);
    kh = lsh_known_hosts_parse((const char *)lsh_buf_ptr(&out),
                               lsh_buf_len(&out), NULL);
    assert_non_null(kh);
    assert_int_equal(lsh_known_hosts_count(kh), 2);
    assert_int_equal(lsh_known_hosts_problem_count(kh), 0);
    assert_int_equal(lsh_known_hosts_check(kh, "A.example", NULL, 22, k,
                                           NULL, &v),
                     0);
    assert_int_equal(v.status, LSH_KH_OK);
    assert_int_equal(v.entry->line, 1);
    assert_int_equal(lsh_known_hosts_check(kh, "b.example", NULL, 2022, k,
                                           NULL, &v),
                     0);
    assert_int_equal(v.status, LSH_KH_OK);
    assert_int_equal(v.entry->line, 2);
    assert_int_equal(lsh_known_hosts_check(kh, "b.example", NULL, 22, k,
                                           NULL, &v),
                     0);
    assert_int_equal(v.status, LSH_KH_UNKNOWN);
    lsh_known_hosts_free(kh);
    lsh_buf_free(&out);
    lsh_key_free(k);
}

static void
test_format_entry_rejects(void **state)
{
    static const char *const bad_hosts[] = {
        "", "a b", "a\tb", "a,b", "*.example.com", "h?", "|1|x", "@revoked",
        "#c", "!h", "[h]:22", "a\nb", "a\x7f",
    };
    lsh_key *k = key_b64("ssh-ed25519", ED1);
    lsh_buf out;
    (void)state;
    lsh_buf_init(&out, 0);
    for (size_t i = 0; i < sizeof(bad_hosts) / sizeof(bad_hosts[0]); i++) {
        assert_int_equal(lsh_known_hosts_format_entry(bad_hosts[i], 22, k, 0,
                                                      NULL, NULL, &out),
                         LSH_EINVAL);
    }
    assert_int_equal(lsh_known_hosts_format_entry("h", -1, k, 0, NULL, NULL,
                                                  &out),
                     LSH_EINVAL);
    assert_int_equal(lsh_known_hosts_format_entry("h", 65536, k, 0, NULL,
                                                  NULL, &out),
                     LSH_EINVAL);
    assert_int_equal(lsh_known_hosts_format_entry("h", 22, k, 1, NULL, NULL,
                                                  &out),
                     LSH_EINVAL);
    assert_int_equal(lsh_known_hosts_format_entry("h", 22, k, 1, failing_rng,
                                                  NULL, &out),
                     LSH_ECRYPTO);
    assert_int_equal(lsh_buf_len(&out), 0);
    /* A full buffer leaves nothing behind either. */
    lsh_buf_free(&out);
    lsh_buf_init(&out, 40);
    assert_int_equal(lsh_known_hosts_format_entry("host.example.com", 22, k,
                                                  0, NULL, NULL, &out),
                     LSH_ETOOLARGE);
    assert_int_equal(lsh_buf_len(&out), 0);
    lsh_buf_free(&out);
    lsh_key_free(k);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openssh_file_parses_with_problems_listed),
        cmocka_unit_test(test_lookup_like_ssh_keygen),
        cmocka_unit_test(test_connection_candidates),
        cmocka_unit_test(test_patterns_ports_and_negation),
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_several_files),
        cmocka_unit_test(test_malformed_lines),
        cmocka_unit_test(test_oversize_lines_and_nul_bytes),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_format_entry),
        cmocka_unit_test(test_format_entry_roundtrip),
        cmocka_unit_test(test_format_entry_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
