/*
 * Tests for src/common/pattern.c: wildcard patterns and pattern-lists
 * (ssh_config(5) PATTERNS) and the address lists of from= (sshd(8)).
 * The expected results follow the man pages' own examples and the
 * behaviour of OpenSSH 9.2 (ssh-keygen -F for host patterns).
 */
#include "testutil.h"

#include <string.h>

#include "common/pattern.h"

static void
test_wildcards(void **state)
{
    (void)state;
    assert_true(lsh_pattern_match("host", "host"));
    assert_false(lsh_pattern_match("host", "hos"));
    assert_false(lsh_pattern_match("hos", "host"));
    assert_true(lsh_pattern_match("", ""));
    assert_true(lsh_pattern_match("", "*"));
    assert_true(lsh_pattern_match("", "***"));
    assert_false(lsh_pattern_match("", "?"));
    assert_true(lsh_pattern_match("a.co.uk", "*.co.uk"));
    assert_false(lsh_pattern_match("co.uk", "*.co.uk"));
    assert_true(lsh_pattern_match("192.168.0.7", "192.168.0.?"));
    assert_false(lsh_pattern_match("192.168.0.17", "192.168.0.?"));
    assert_true(lsh_pattern_match("abcabd", "*ab?"));
    assert_true(lsh_pattern_match("xaaab", "*a*b"));
    assert_true(lsh_pattern_match("mississippi", "m*iss*ppi"));
    assert_false(lsh_pattern_match("mississippi", "m*iss*ppx"));
    assert_true(lsh_pattern_match("a*b", "a*b"));
    /* Case-sensitive unless asked. */
    assert_false(lsh_pattern_match("Host", "host"));
    assert_true(lsh_pattern_match_n("HoSt.ExAmple", 12, "host.*", 6, 1));
    assert_false(lsh_pattern_match_n("HoSt.ExAmple", 12, "host.*", 6, 0));
    /* Counted strings stop at their length. */
    assert_true(lsh_pattern_match_n("abc,def", 3, "a?c,zzz", 3, 0));
}

static void
test_no_exponential_backtracking(void **state)
{
    char s[4097], p[201];
    (void)state;
    memset(s, 'a', 4096);
    s[4096] = '\0';
    for (int i = 0; i < 100; i++) {
        p[2 * i] = '*';
        p[2 * i + 1] = 'a';
    }
    p[199] = 'b';
    p[200] = '\0';
    /* "*a*a...*b" against a^4096: quadratic at worst, not 4096^100. */
    assert_false(lsh_pattern_match(s, p));
    p[199] = 'a';
    assert_true(lsh_pattern_match(s, p));
}

static void
test_pattern_lists(void **state)
{
    (void)state;
    assert_int_equal(lsh_pattern_list_match("b", "a,b,c", 0), 1);
    assert_int_equal(lsh_pattern_list_match("d", "a,b,c", 0), 0);
    /* A negated match wins wherever it stands. */
    assert_int_equal(lsh_pattern_list_match("x.dialup.example.com",
                                            "!*.dialup.example.com,"
                                            "*.example.com",
                                            1),
                     LSH_PATTERN_NEGATED);
    assert_int_equal(lsh_pattern_list_match("x.dialup.example.com",
                                            "*.example.com,"
                                            "!*.dialup.example.com",
                                            1),
                     LSH_PATTERN_NEGATED);
    assert_int_equal(lsh_pattern_list_match("y.example.com",
                                            "!*.dialup.example.com,"
                                            "*.example.com",
                                            1),
                     1);
    /* ssh_config(5): negations alone never match. */
    assert_int_equal(lsh_pattern_list_match("host3", "!host1,!host2", 0), 0);
    assert_int_equal(lsh_pattern_list_match("host3", "!host1,!host2,*", 0),
                     1);
    assert_int_equal(lsh_pattern_list_match("host1", "!host1,!host2,*", 0),
                     -1);
    /* Case. */
    assert_int_equal(lsh_pattern_list_match("HOST", "host", 1), 1);
    assert_int_equal(lsh_pattern_list_match("host", "HOST", 1), 1);
    assert_int_equal(lsh_pattern_list_match("HOST", "host", 0), 0);
    /* Empty patterns match only the empty string. */
    assert_int_equal(lsh_pattern_list_match("a", "a,", 0), 1);
    assert_int_equal(lsh_pattern_list_match("", "a,", 0), 1);
    assert_int_equal(lsh_pattern_list_match("", "a,,b", 0), 1);
    assert_int_equal(lsh_pattern_list_match("b", ",b", 0), 1);
    assert_int_equal(lsh_pattern_list_match("", "!", 0), -1);
    assert_int_equal(lsh_pattern_list_match("x", "!", 0), 0);
    assert_int_equal(lsh_pattern_list_match("x", "", 0), 0);
    /* '!' only negates at the start of a pattern. */
    assert_int_equal(lsh_pattern_list_match("a!b", "a!b", 0), 1);
}

static void
test_name_in_list(void **state)
{
    (void)state;
    assert_true(lsh_name_in_list("b", "a,b,c"));
    assert_true(lsh_name_in_list("a", "a"));
    assert_false(lsh_name_in_list("a*", "a"));
    assert_false(lsh_name_in_list("a", "a*"));
    assert_false(lsh_name_in_list("ab", "a,b"));
    assert_true(lsh_name_in_list("", "a,,b"));
    assert_false(lsh_name_in_list("", "a"));
}

static void
test_cidr_lists(void **state)
{
    (void)state;
    assert_int_equal(lsh_addr_match_cidr_list("192.0.2.7", "192.0.2.0/24"),
                     1);
    assert_int_equal(lsh_addr_match_cidr_list("192.0.3.7", "192.0.2.0/24"),
                     0);
    assert_int_equal(lsh_addr_match_cidr_list("192.0.2.7", "192.0.2.7"), 1);
    assert_int_equal(lsh_addr_match_cidr_list("192.0.2.7", "0.0.0.0/0"), 1);
    assert_int_equal(lsh_addr_match_cidr_list("10.1.2.3", "10.0.0.0/15"), 1);
    assert_int_equal(lsh_addr_match_cidr_list("10.2.2.3", "10.0.0.0/15"), 0);
    assert_int_equal(lsh_addr_match_cidr_list("2001:db8::5", "2001:db8::/32"),
                     1);
    assert_int_equal(lsh_addr_match_cidr_list("2001:db9::5", "2001:db8::/32"),
                     0);
    assert_int_equal(lsh_addr_match_cidr_list("2001:DB8::5", "2001:db8::5"),
                     1);
    /* An IPv4-mapped client is its IPv4 address; families never mix. */
    assert_int_equal(lsh_addr_match_cidr_list("::ffff:192.0.2.7",
                                              "192.0.2.0/24"),
                     1);
    assert_int_equal(lsh_addr_match_cidr_list("192.0.2.7", "::/0"), 0);
    /* Entries that are not addresses are wildcards on the text. */
    assert_int_equal(lsh_addr_match_cidr_list("192.168.1.9", "192.168.1.*"),
                     1);
    assert_int_equal(lsh_addr_match_cidr_list("192.168.1.9", "192.168.?.9"),
                     1);
    /* Negation. */
    assert_int_equal(lsh_addr_match_cidr_list("10.0.0.5",
                                              "!10.0.0.0/24,10.0.0.0/8"),
                     -1);
    assert_int_equal(lsh_addr_match_cidr_list("10.9.0.5",
                                              "!10.0.0.0/24,10.0.0.0/8"),
                     1);
    /* A client that is not an address matches nothing. */
    assert_int_equal(lsh_addr_match_cidr_list("host", "*"), 0);
    /* Malformed lists. */
    assert_int_equal(lsh_addr_match_cidr_list("10.0.0.1", "10.0.0.0/33"),
                     LSH_EINVAL);
    assert_int_equal(lsh_addr_match_cidr_list("::1", "::/129"), 0);
    assert_int_equal(lsh_addr_match_cidr_list("10.0.0.1", "10.1.2.3/8"),
                     LSH_EINVAL);
    assert_int_equal(lsh_addr_match_cidr_list("10.0.0.1", "10.0.0.1,"),
                     LSH_EINVAL);
    assert_int_equal(lsh_addr_match_cidr_list("10.0.0.1", "!,10.0.0.1"),
                     LSH_EINVAL);
    assert_int_equal(lsh_addr_match_cidr_list("10.0.0.1", "2001:db8::1/64"),
                     LSH_EINVAL);
}

static void
test_from_match(void **state)
{
    static const char list[] = "!*.dialup.example.com,*.example.com,"
                               "198.51.100.0/24";
    (void)state;
    assert_int_equal(lsh_from_match("ws.example.com", "203.0.113.1", list),
                     1);
    assert_int_equal(lsh_from_match("WS.EXAMPLE.COM", "203.0.113.1", list),
                     1);
    assert_int_equal(lsh_from_match("x.dialup.example.com", "198.51.100.9",
                                    list),
                     0);
    assert_int_equal(lsh_from_match("other.org", "198.51.100.9", list), 1);
    assert_int_equal(lsh_from_match("other.org", "203.0.113.1", list), 0);
    assert_int_equal(lsh_from_match(NULL, "198.51.100.9", list), 1);
    assert_int_equal(lsh_from_match(NULL, "203.0.113.1", list), 0);
    /* Without a name, the address text stands for it. */
    assert_int_equal(lsh_from_match(NULL, "203.0.113.1", "203.0.113.*"), 1);
    assert_int_equal(lsh_from_match(NULL, "203.0.113.1", "!203.0.113.1,*"),
                     0);
    assert_int_equal(lsh_from_match("h", NULL, "*"), 0);
    assert_int_equal(lsh_from_match("h", "10.0.0.1", "10.0.0.0/99"),
                     LSH_EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wildcards),
        cmocka_unit_test(test_no_exponential_backtracking),
        cmocka_unit_test(test_pattern_lists),
        cmocka_unit_test(test_name_in_list),
        cmocka_unit_test(test_cidr_lists),
        cmocka_unit_test(test_from_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
