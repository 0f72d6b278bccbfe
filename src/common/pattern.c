/*
 * Wildcard patterns, pattern-lists and address lists (ssh_config(5)
 * PATTERNS; sshd(8) AUTHORIZED_KEYS FILE FORMAT, from=).
 *
 * IMPLEMENTATION NOTES
 * The matcher keeps one backtracking point, the last '*' seen: on a
 * mismatch it lets that star swallow one more character and retries.
 * With only '*' and '?' as wildcards this finds a match whenever one
 * exists, and bounds the work by |s| * |pattern| instead of the
 * exponential recursion a naive matcher takes on "*a*a*a*a*b".
 *
 * Lists are walked in place (no copies, no allocation), so a list of any
 * length is fine.
 */
#include "common/pattern.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

static int
lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

static int
char_eq(char a, char b, int ci)
{
    if (ci) {
        return lower((unsigned char)a) == lower((unsigned char)b);
    }
    return a == b;
}

int
lsh_pattern_match_n(const char *s, size_t slen, const char *p, size_t plen,
                    int case_insensitive)
{
    size_t si = 0, pi = 0;
    size_t star_p = SIZE_MAX, star_s = 0;

    while (si < slen) {
        if (pi < plen && p[pi] == '*') {
            star_p = pi++;
            star_s = si;
            continue;
        }
        if (pi < plen &&
            (p[pi] == '?' || char_eq(p[pi], s[si], case_insensitive))) {
            pi++;
            si++;
            continue;
        }
        if (star_p == SIZE_MAX) {
            return 0;
        }
        /* Let the last star absorb one more character and retry. */
        pi = star_p + 1;
        si = ++star_s;
    }
    while (pi < plen && p[pi] == '*') {
        pi++;
    }
    return pi == plen;
}

int
lsh_pattern_match(const char *s, const char *pattern)
{
    return lsh_pattern_match_n(s, strlen(s), pattern, strlen(pattern), 0);
}

int
lsh_pattern_list_match(const char *s, const char *list, int case_insensitive)
{
    size_t slen = strlen(s);
    int got_positive = 0;
    const char *p = list;

    for (;;) {
        size_t n = strcspn(p, ",");
        const char *pat = p;
        int negated = 0;

        if (n > 0 && *pat == '!') {
            negated = 1;
            pat++;
            n--;
        }
        if (lsh_pattern_match_n(s, slen, pat, n, case_insensitive)) {
            if (negated) {
                return LSH_PATTERN_NEGATED;
            }
            got_positive = 1;
        }
        p = pat + n;
        if (*p == '\0') {
            break;
        }
        p++; /* the comma */
    }
    return got_positive ? LSH_PATTERN_MATCH : LSH_PATTERN_NOMATCH;
}

int
lsh_name_in_list(const char *name, const char *list)
{
    size_t nlen = strlen(name);
    const char *p = list;

    for (;;) {
        size_t n = strcspn(p, ",");
        if (n == nlen && memcmp(p, name, n) == 0) {
            return 1;
        }
        if (p[n] == '\0') {
            return 0;
        }
        p += n + 1;
    }
}

/*
 * Addresses.
 */

struct ipaddr {
    int family; /* 4 or 6 */
    uint8_t a[16];
};

/* Parses IPv4 or IPv6 text (NUL-terminated); 0 or -1. */
static int
ip_parse(const char *s, struct ipaddr *ip)
{
    if (inet_pton(AF_INET, s, ip->a) == 1) {
        ip->family = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, s, ip->a) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0,
                                           0, 0, 0, 0, 0xff, 0xff};
        ip->family = 6;
        /* ::ffff:a.b.c.d is the IPv4 client sshd sees it as. */
        if (memcmp(ip->a, mapped, 12) == 0) {
            memmove(ip->a, ip->a + 12, 4);
            ip->family = 4;
        }
        return 0;
    }
    return -1;
}

static unsigned
family_bits(int family)
{
    return family == 4 ? 32 : 128;
}

/* 1 if the first `bits` bits of a and b agree. */
static int
prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, full) != 0) {
        return 0;
    }
    if (rest == 0) {
        return 1;
    }
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

/* 1 if some bit after the first `bits` bits of a is set. */
static int
host_bits_set(const uint8_t *a, int family, unsigned bits)
{
    unsigned total = family_bits(family);
    for (unsigned i = bits; i < total; i++) {
        if (a[i / 8] & (0x80 >> (i % 8))) {
            return 1;
        }
    }
    return 0;
}

enum cidr_parse { CIDR_OK, CIDR_NOT_ADDRESS, CIDR_BAD };

/*
 * Parses e[0..n) as addr[/masklen].  CIDR_NOT_ADDRESS sends the entry to
 * wildcard matching instead; CIDR_BAD makes the whole list invalid.
 */
static enum cidr_parse
cidr_parse(const char *e, size_t n, struct ipaddr *net, unsigned *masklen)
{
    char buf[64];
    const char *slash;
    size_t alen;
    unsigned len = 0;

    if (n >= sizeof(buf) ||
        strspn(e, "0123456789abcdefABCDEF.:/") < n) {
        return CIDR_NOT_ADDRESS;
    }
    memcpy(buf, e, n);
    buf[n] = '\0';
    slash = strchr(buf, '/');
    alen = slash != NULL ? (size_t)(slash - buf) : n;
    if (slash != NULL) {
        const char *m = slash + 1;
        if (*m == '\0') {
            return CIDR_NOT_ADDRESS;
        }
        for (; *m != '\0'; m++) {
            if (*m < '0' || *m > '9' || len > 128) {
                return CIDR_NOT_ADDRESS;
            }
            len = len * 10 + (unsigned)(*m - '0');
        }
        if (len > 128) {
            return CIDR_NOT_ADDRESS;
        }
    }
    buf[alen] = '\0';
    if (ip_parse(buf, net) != 0) {
        return CIDR_NOT_ADDRESS;
    }
    if (slash == NULL) {
        len = family_bits(net->family);
    }
    if (len > family_bits(net->family) ||
        host_bits_set(net->a, net->family, len)) {
        return CIDR_BAD;
    }
    *masklen = len;
    return CIDR_OK;
}

int
lsh_addr_match_cidr_list(const char *addr, const char *list)
{
    struct ipaddr client;
    int have_client = ip_parse(addr, &client) == 0;
    int ret = LSH_PATTERN_NOMATCH;
    const char *p = list;

    for (;;) {
        size_t n = strcspn(p, ",");
        const char *e = p;
        int negated = 0, hit = 0;
        struct ipaddr net;
        unsigned masklen = 0;

        if (n > 0 && *e == '!') {
            negated = 1;
            e++;
            n--;
        }
        if (n == 0) {
            return LSH_EINVAL;
        }
        switch (cidr_parse(e, n, &net, &masklen)) {
        case CIDR_BAD:
            return LSH_EINVAL;
        case CIDR_OK:
            hit = have_client && client.family == net.family &&
                  prefix_equal(client.a, net.a, masklen);
            break;
        case CIDR_NOT_ADDRESS:
            hit = have_client &&
                  lsh_pattern_match_n(addr, strlen(addr), e, n, 0);
            break;
        }
        if (hit) {
            if (negated) {
                return LSH_PATTERN_NEGATED;
            }
            ret = LSH_PATTERN_MATCH;
        }
        p = e + n;
        if (*p == '\0') {
            break;
        }
        p++;
    }
    return ret;
}

int
lsh_from_match(const char *host, const char *addr, const char *list)
{
    int by_addr, by_name;

    if (addr == NULL) {
        return 0;
    }
    by_addr = lsh_addr_match_cidr_list(addr, list);
    if (by_addr == LSH_EINVAL) {
        return LSH_EINVAL;
    }
    if (by_addr == LSH_PATTERN_NEGATED) {
        return 0;
    }
    by_name = lsh_pattern_list_match(host != NULL ? host : addr, list, 1);
    if (by_name == LSH_PATTERN_NEGATED) {
        return 0;
    }
    return by_addr == LSH_PATTERN_MATCH || by_name == LSH_PATTERN_MATCH;
}
