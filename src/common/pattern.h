/*
 * OpenSSH-style wildcard patterns, pattern lists and address lists, as
 * ssh_config(5) PATTERNS and the from= option of sshd(8) describe them.
 *
 *   pattern       characters plus '*' (zero or more characters) and '?'
 *                 (exactly one character); no escapes, no classes.
 *   pattern-list  comma-separated patterns, each optionally preceded by
 *                 '!' (negation).  A list matches when a plain pattern
 *                 matches and no negated one does: a negated match wins
 *                 and never yields a positive result by itself.
 *   address list  a pattern-list whose entries may also be IPv4 or IPv6
 *                 addresses in CIDR notation (addr[/masklen]).
 *
 * Nothing here allocates; all functions take NUL-terminated strings.
 */
#ifndef LSH_COMMON_PATTERN_H
#define LSH_COMMON_PATTERN_H

#include <stddef.h>

#include "common/error.h"

/* Results of the list matchers (not error codes). */
#define LSH_PATTERN_MATCH 1
#define LSH_PATTERN_NOMATCH 0
#define LSH_PATTERN_NEGATED (-1)

/*
 * 1 if all of s matches the wildcard pattern, else 0.  Case-sensitive.
 * Runs in O(|s| * |pattern|) time at worst (no exponential backtracking).
 */
int lsh_pattern_match(const char *s, const char *pattern);

/*
 * Same on counted strings; with case_insensitive, ASCII letters compare
 * without regard to case (on both sides).
 */
int lsh_pattern_match_n(const char *s, size_t slen, const char *pattern,
                        size_t plen, int case_insensitive);

/*
 * Matches s against a comma-separated pattern-list.  Returns
 * LSH_PATTERN_MATCH (1) if a plain pattern matches and no negated one,
 * LSH_PATTERN_NEGATED (-1) as soon as a negated pattern ("!pat") matches,
 * LSH_PATTERN_NOMATCH (0) otherwise.  An empty pattern (",," or a
 * trailing comma) matches only the empty string.  With case_insensitive
 * (host names), ASCII case is ignored on both sides.
 */
int lsh_pattern_list_match(const char *s, const char *list,
                           int case_insensitive);

/*
 * 1 if name is one of the comma-separated names of list (exact,
 * case-sensitive, no wildcards), else 0.
 */
int lsh_name_in_list(const char *name, const char *list);

/*
 * Matches the IP address addr (dotted IPv4 or IPv6 text; an IPv4-mapped
 * IPv6 address counts as its IPv4 address) against an address list as
 * sshd does for from= and source-address: each entry, optionally negated
 * with '!', is either an address with an optional /masklen (compared by
 * network) or, when it does not parse as one, a wildcard pattern compared
 * with the address text.  Returns 1 (a positive entry matched and no
 * negated one), 0 (no match; also when addr itself is not an address),
 * -1 (a negated entry matched), or LSH_EINVAL (-2) when the list is
 * malformed: an empty entry, a mask length too long for its family, or
 * an address with bits set beyond its mask ("10.1.2.3/8").
 */
int lsh_addr_match_cidr_list(const char *addr, const char *list);

/*
 * The from= test of sshd: 1 if the client is permitted by list, else 0,
 * or LSH_EINVAL if the list is malformed as an address list.  The client
 * is permitted when its address matches the list (as an address list) or
 * its host name matches it (as a case-insensitive pattern-list), and
 * neither matches a negated entry.  host NULL means no name is known; the
 * address text then stands for the name, which is what sshd does without
 * UseDNS.
 */
int lsh_from_match(const char *host, const char *addr, const char *list);

#endif
