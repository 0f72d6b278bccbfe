/*
 * Tests for src/ssh/keys/auth_keys.c: authorized_keys lines, options and
 * lookups (sshd(8), AUTHORIZED_KEYS FILE FORMAT).
 *
 * The keys are Ed25519 public keys from OpenSSH's regression test data
 * (/work/shared/specs/openssh-testdata/hostkeys/ed25519_{1,2,3}.pub).
 * Epoch values were computed with GNU date (`date -u -d ... +%s`).
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ssh/keys/auth_keys.h"
#include "ssh/keys/key.h"
#include "ssh/keys/trustfile.h"

#define K1 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK9ks7jkua5YWIwByRnnnc6UPJQWI75O0e/UJdPYU1JI"
#define K2 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIBp6PVW0z2o9C4Ukv/JOgmK7QMFe1pD1s3ADFF7IQob"
#define K3 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBlYfExtYZAPqYvYdrlpGlSWhh/XNHcH3v3c2JzsVNbB"

#define T2030 1893456000u /* 2030-01-01T00:00:00Z */

static lsh_key *
key_of(const char *line)
{
    const char *p = line, *reason = NULL;
    lsh_key *k = NULL;
    assert_int_equal(lsh__tf_read_key(&p, &k, &reason), 0);
    return k;
}

static lsh_auth_keys *
parse(const char *text)
{
    lsh_auth_keys *ak = NULL;
    assert_int_equal(lsh_auth_keys_parse(text, strlen(text),
                                         "authorized_keys", 0, &ak),
                     0);
    return ak;
}

/* The options of a single line "OPTIONS K1"; fails the test if bad. */
static const lsh_auth_opts *
opts_of(lsh_auth_keys **ak, const char *options)
{
    char text[2048];
    snprintf(text, sizeof(text), "%s%s" K1 " comment\n", options,
             *options ? " " : "");
    *ak = parse(text);
    assert_int_equal(lsh_auth_keys_problem_count(*ak), 0);
    assert_int_equal(lsh_auth_keys_count(*ak), 1);
    return lsh_auth_keys_entry(*ak, 0)->opts;
}

/* The problem reason for a single bad line "LINE". */
static void
assert_bad_line(const char *line, const char *reason)
{
    char text[2048];
    lsh_auth_keys *ak;
    const lsh_trust_problem *p;
    snprintf(text, sizeof(text), "# first\n%s\n" K2 "\n", line);
    ak = parse(text);
    assert_int_equal(lsh_auth_keys_count(ak), 1);
    assert_int_equal(lsh_auth_keys_entry(ak, 0)->line, 3);
    assert_int_equal(lsh_auth_keys_problem_count(ak), 1);
    p = lsh_auth_keys_problem(ak, 0);
    assert_int_equal(p->line, 2);
    assert_string_equal(p->filename, "authorized_keys");
    assert_string_equal(p->reason, reason);
    lsh_auth_keys_free(ak);
}

static void
test_plain_key_has_defaults(void **state)
{
    lsh_auth_keys *ak;
    const lsh_auth_opts *o = opts_of(&ak, "");
    const lsh_ak_entry *e = lsh_auth_keys_entry(ak, 0);
    (void)state;
    assert_string_equal(e->comment, "comment");
    assert_int_equal(e->line, 1);
    assert_true(o->permit_port_forwarding && o->permit_agent_forwarding &&
                o->permit_x11_forwarding && o->permit_pty &&
                o->permit_user_rc);
    assert_false(o->cert_authority || o->restricted || o->no_touch_required ||
                 o->verify_required);
    assert_null(o->command);
    assert_null(o->from);
    assert_null(o->principals);
    assert_int_equal(o->n_env + o->n_permitopen + o->n_permitlisten, 0);
    assert_int_equal(o->expiry_time, 0);
    assert_int_equal(o->tunnel, LSH_AK_TUNNEL_NONE);
    lsh_auth_keys_free(ak);
}

/* Each flag option, alone: which permission it leaves and which it sets. */
static void
test_flag_options(void **state)
{
    static const struct {
        const char *opts;
        int port, agent, x11, pty, rc, touchless, verify, ca;
    } v[] = {
        {"no-port-forwarding", 0, 1, 1, 1, 1, 0, 0, 0},
        {"no-agent-forwarding", 1, 0, 1, 1, 1, 0, 0, 0},
        {"no-X11-forwarding", 1, 1, 0, 1, 1, 0, 0, 0},
        {"no-pty", 1, 1, 1, 0, 1, 0, 0, 0},
        {"no-user-rc", 1, 1, 1, 1, 0, 0, 0, 0},
        {"no-touch-required", 1, 1, 1, 1, 1, 1, 0, 0},
        {"verify-required", 1, 1, 1, 1, 1, 0, 1, 0},
        {"cert-authority", 1, 1, 1, 1, 1, 0, 0, 1},
        {"restrict", 0, 0, 0, 0, 0, 0, 0, 0},
        {"restrict,port-forwarding", 1, 0, 0, 0, 0, 0, 0, 0},
        {"restrict,agent-forwarding", 0, 1, 0, 0, 0, 0, 0, 0},
        {"restrict,X11-forwarding", 0, 0, 1, 0, 0, 0, 0, 0},
        {"restrict,pty", 0, 0, 0, 1, 0, 0, 0, 0},
        {"restrict,user-rc", 0, 0, 0, 0, 1, 0, 0, 0},
        {"pty,restrict", 0, 0, 0, 0, 0, 0, 0, 0},
        {"no-pty,pty", 1, 1, 1, 1, 1, 0, 0, 0},
        {"no-touch-required,touch-required", 1, 1, 1, 1, 1, 0, 0, 0},
        /* Names are case-insensitive. */
        {"NO-PTY,No-Agent-Forwarding,x11-FORWARDING", 1, 0, 1, 0, 1, 0, 0, 0},
        {"RESTRICT,Cert-Authority,VERIFY-REQUIRED", 0, 0, 0, 0, 0, 0, 1, 1},
        /* Empty options are skipped, as sshd does. */
        {",no-pty,,no-user-rc", 1, 1, 1, 0, 0, 0, 0, 0},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        lsh_auth_keys *ak;
        const lsh_auth_opts *o = opts_of(&ak, v[i].opts);
        assert_int_equal(o->permit_port_forwarding, v[i].port);
        assert_int_equal(o->permit_agent_forwarding, v[i].agent);
        assert_int_equal(o->permit_x11_forwarding, v[i].x11);
        assert_int_equal(o->permit_pty, v[i].pty);
        assert_int_equal(o->permit_user_rc, v[i].rc);
        assert_int_equal(o->no_touch_required, v[i].touchless);
        assert_int_equal(o->verify_required, v[i].verify);
        assert_int_equal(o->cert_authority, v[i].ca);
        assert_int_equal(o->restricted, strstr(v[i].opts, "estrict") ||
                                            strstr(v[i].opts, "ESTRICT"));
        lsh_auth_keys_free(ak);
    }
}

static void
test_command_and_quoting(void **state)
{
    lsh_auth_keys *ak;
    const lsh_auth_opts *o;
    (void)state;
    o = opts_of(&ak, "restrict,command=\"echo \\\"hi there\\\" \\n\"");
    assert_string_equal(o->command, "echo \"hi there\" \\n");
    lsh_auth_keys_free(ak);
    o = opts_of(&ak, "COMMAND=\"\"");
    assert_string_equal(o->command, "");
    lsh_auth_keys_free(ak);
    /* A quoted value may hold tabs and commas. */
    o = opts_of(&ak, "command=\"a,b\tc\",no-pty");
    assert_string_equal(o->command, "a,b\tc");
    assert_false(o->permit_pty);
    lsh_auth_keys_free(ak);
}

static void
test_environment(void **state)
{
    lsh_auth_keys *ak;
    const lsh_auth_opts *o;
    (void)state;
    o = opts_of(&ak, "environment=\"LANG=C\",environment=\"PATH=/bin:/usr/"
                     "bin\",environment=\"LANG=fr_FR\",Environment=\"_X1=\"");
    assert_int_equal(o->n_env, 3);
    assert_string_equal(o->env[0], "LANG=C"); /* first one wins */
    assert_string_equal(o->env[1], "PATH=/bin:/usr/bin");
    assert_string_equal(o->env[2], "_X1=");
    assert_null(o->env[3]);
    lsh_auth_keys_free(ak);
}

static void
test_permitopen_permitlisten(void **state)
{
    lsh_auth_keys *ak;
    const lsh_auth_opts *o;
    (void)state;
    o = opts_of(&ak, "permitopen=\"192.0.2.1:80\",permitopen=\"[::1]:25\","
                     "permitopen=\"db.example.com:*\","
                     "permitopen=\"h/65535\"");
    assert_int_equal(o->n_permitopen, 4);
    assert_string_equal(o->permitopen[0].host, "192.0.2.1");
    assert_int_equal(o->permitopen[0].port, 80);
    assert_string_equal(o->permitopen[1].host, "::1");
    assert_int_equal(o->permitopen[1].port, 25);
    assert_string_equal(o->permitopen[2].host, "db.example.com");
    assert_int_equal(o->permitopen[2].port, LSH_AK_PORT_ANY);
    assert_string_equal(o->permitopen[3].host, "h");
    assert_int_equal(o->permitopen[3].port, 65535);
    lsh_auth_keys_free(ak);
    o = opts_of(&ak, "permitlisten=\"localhost:8080\","
                     "permitlisten=\"[::1]:22000\",permitlisten=\"9000\","
                     "permitlisten=\"*\"");
    assert_int_equal(o->n_permitlisten, 4);
    assert_string_equal(o->permitlisten[0].host, "localhost");
    assert_int_equal(o->permitlisten[0].port, 8080);
    assert_string_equal(o->permitlisten[1].host, "::1");
    assert_int_equal(o->permitlisten[1].port, 22000);
    assert_string_equal(o->permitlisten[2].host, "*");
    assert_int_equal(o->permitlisten[2].port, 9000);
    assert_string_equal(o->permitlisten[3].host, "*");
    assert_int_equal(o->permitlisten[3].port, LSH_AK_PORT_ANY);
    lsh_auth_keys_free(ak);
}

static void
test_principals_tunnel_from(void **state)
{
    lsh_auth_keys *ak;
    const lsh_auth_opts *o;
    (void)state;
    o = opts_of(&ak, "cert-authority,principals=\"alice,bob\",tunnel=\"7\","
                     "from=\"*.example.com,!bad.example.com,10.0.0.0/8\"");
    assert_int_equal(o->n_principals, 2);
    assert_string_equal(o->principals[0], "alice");
    assert_string_equal(o->principals[1], "bob");
    assert_true(lsh_auth_opts_principal_ok(o, "bob"));
    assert_false(lsh_auth_opts_principal_ok(o, "Bob"));
    assert_false(lsh_auth_opts_principal_ok(o, "alice,bob"));
    assert_int_equal(o->tunnel, 7);
    assert_string_equal(o->from, "*.example.com,!bad.example.com,10.0.0.0/8");
    lsh_auth_keys_free(ak);
    o = opts_of(&ak, "tunnel=\"any\",principals=\"\"");
    assert_int_equal(o->tunnel, LSH_AK_TUNNEL_ANY);
    assert_non_null(o->principals);
    assert_int_equal(o->n_principals, 0);
    assert_false(lsh_auth_opts_principal_ok(o, "alice"));
    lsh_auth_keys_free(ak);
    o = opts_of(&ak, "tunnel=\"2147483645\"");
    assert_int_equal(o->tunnel, 2147483645);
    assert_true(lsh_auth_opts_principal_ok(o, "anyone"));
    lsh_auth_keys_free(ak);
}

static void
test_expiry_time(void **state)
{
    static const struct {
        const char *v;
        uint64_t t;
    } v[] = {
        {"20300101Z", T2030},
        {"20300101z", T2030},
        {"20300101UTC", T2030},
        {"203001011230Z", T2030 + 45000},
        {"20300101123045Z", T2030 + 45045},
        {"20240229235959Z", 1709251199u},
        /* Local time: the test runs with TZ=UTC. */
        {"20300101", T2030},
        {"203001010001", T2030 + 60},
    };
    lsh_auth_keys *ak;
    const lsh_auth_opts *o;
    char opt[64];
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        snprintf(opt, sizeof(opt), "expiry-time=\"%s\"", v[i].v);
        o = opts_of(&ak, opt);
        assert_int_equal(o->expiry_time, v[i].t);
        lsh_auth_keys_free(ak);
    }
    /* Several: the earliest wins. */
    o = opts_of(&ak, "expiry-time=\"20310101Z\",expiry-time=\"20300101Z\","
                     "expiry-time=\"20320101Z\"");
    assert_int_equal(o->expiry_time, T2030);
    lsh_auth_keys_free(ak);
    /* Another zone, with daylight saving time in July (UTC-4). */
    setenv("TZ", "America/New_York", 1);
    tzset();
    {
        /* Only where the zone database knows New York. */
        time_t t = (time_t)1909152000;
        struct tm tm;
        if (localtime_r(&t, &tm) != NULL && tm.tm_hour == 12) {
            o = opts_of(&ak, "expiry-time=\"203007011200\"");
            assert_int_equal(o->expiry_time, 1909152000u);
            lsh_auth_keys_free(ak);
        }
    }
    setenv("TZ", "UTC", 1);
    tzset();
}

static void
test_bad_lines_are_reported(void **state)
{
    static const struct {
        const char *line, *reason;
    } v[] = {
        {"bogus " K1, "unknown option \"bogus\""},
        {"pty,foo=\"x\" " K1, "unknown option \"foo\""},
        {"no-restrict " K1, "unknown option \"no-restrict\""},
        {"no-cert-authority " K1, "unknown option \"no-cert-authority\""},
        {"ptyx " K1, "unknown option \"ptyx\""},
        {"command=\"x\"y " K1, "unknown option \"command\""},
        {"command=\"unterminated " K1, "missing end quote"},
        {"command=x " K1, "missing start quote"},
        {"command=\"a\",command=\"b\" " K1, "multiple command options"},
        {"from=\"a\",from=\"b\" " K1, "multiple from options"},
        {"from=\"10.0.0.1/8\" " K1, "invalid from address list"},
        {"principals=\"a\",principals=\"b\" " K1,
         "multiple principals options"},
        {"pty, " K1, "unexpected end of options"},
        {"pty,", "unexpected end of options"},
        {"environment=\"NOEQUALS\" " K1, "invalid environment string"},
        {"environment=\"BAD-NAME=x\" " K1, "invalid environment string"},
        {"environment=\"=x\" " K1, "invalid environment string"},
        {"permitopen=\"host\" " K1, "invalid permission port"},
        {"permitopen=\"host:0\" " K1, "invalid permission port"},
        {"permitopen=\"host:65536\" " K1, "invalid permission port"},
        {"permitopen=\"host:http\" " K1, "invalid permission port"},
        {"permitopen=\":80\" " K1, "invalid permission hostname"},
        {"permitopen=\"[::1\" " K1, "invalid permission hostname"},
        {"permitopen=\"[::1]\" " K1, "invalid permission port"},
        {"permitlisten=\"0\" " K1, "invalid permission port"},
        {"tunnel=\"-1\" " K1, "invalid tunnel device"},
        {"tunnel=\"2147483646\" " K1, "invalid tunnel device"},
        {"tunnel=\"\" " K1, "invalid tunnel device"},
        {"expiry-time=\"2030\" " K1, "invalid expiry-time"},
        {"expiry-time=\"20301301Z\" " K1, "invalid expiry-time"},
        {"expiry-time=\"20230229Z\" " K1, "invalid expiry-time"},
        {"expiry-time=\"203001012400Z\" " K1, "invalid expiry-time"},
        {"expiry-time=\"19691231Z\" " K1, "invalid expiry-time"},
        {"expiry-time=\"19700101Z\" " K1, "invalid expiry-time"},
        {"no-pty", "missing key"},
        {"ssh-ed25519", "missing base64 key"},
        {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK9ks7jkua5YWIwByRnnnc6UPJQ*"
         "I75O0e/UJdPYU1JI", "invalid base64 key"},
        {"ssh-ed25519 AAAATgAAAAdz", "invalid key blob"},
        {"ecdsa-sha2-nistp256 AAAAC3NzaC1lZDI1NTE5AAAAIK9ks7jkua5YWIwByRnnnc6"
         "UPJQWI75O0e/UJdPYU1JI", "key type does not match its blob"},
        {"ssh-ed25519-cert-v01@openssh.com AAAA", 
         "certificates are not allowed here"},
        {"no-pty ssh-foo AAAA", "unknown key type"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        assert_bad_line(v[i].line, v[i].reason);
    }
}

static void
test_oversize_and_nul(void **state)
{
    size_t klen = strlen(K1 " ");
    size_t n = 2 * LSH_TRUST_MAX_LINE + 256;
    char *text = malloc(n), *p = text;
    lsh_auth_keys *ak = NULL;
    (void)state;
    assert_non_null(text);
    p += sprintf(p, "%s ", K1);
    memset(p, 'c', LSH_TRUST_MAX_LINE - klen + 1);
    p += LSH_TRUST_MAX_LINE - klen + 1;
    p += sprintf(p, "\r\nno-pty %s x", K2);
    *p++ = '\0';
    p += sprintf(p, "\r\n%s last\r\n", K3);
    assert_int_equal(lsh_auth_keys_parse(text, (size_t)(p - text), NULL, 0,
                                         &ak),
                     0);
    assert_int_equal(lsh_auth_keys_count(ak), 1);
    assert_int_equal(lsh_auth_keys_entry(ak, 0)->line, 3);
    assert_string_equal(lsh_auth_keys_entry(ak, 0)->comment, "last");
    assert_int_equal(lsh_auth_keys_problem_count(ak), 2);
    assert_string_equal(lsh_auth_keys_problem(ak, 0)->reason,
                        "line too long");
    assert_int_equal(lsh_auth_keys_problem(ak, 1)->line, 2);
    assert_string_equal(lsh_auth_keys_problem(ak, 1)->reason,
                        "NUL byte in line");
    lsh_auth_keys_free(ak);
    free(text);
}

static void
test_strict_mode(void **state)
{
    static const char text[] = K1 "\nbogus " K2 "\n" K3 "\n";
    lsh_auth_keys *ak = NULL;
    (void)state;
    assert_int_equal(lsh_auth_keys_parse(text, strlen(text), "f",
                                         LSH_AK_STRICT, &ak),
                     LSH_EINVAL);
    assert_null(ak);
    ak = lsh_auth_keys_new();
    assert_non_null(ak);
    assert_int_equal(lsh_auth_keys_add(ak, K1 "\n", strlen(K1) + 1, "ok",
                                       LSH_AK_STRICT),
                     0);
    assert_int_equal(lsh_auth_keys_add(ak, text, strlen(text), "f",
                                       LSH_AK_STRICT),
                     LSH_EINVAL);
    /* The good file stays; the bad one adds nothing but its problem. */
    assert_int_equal(lsh_auth_keys_count(ak), 1);
    assert_int_equal(lsh_auth_keys_problem_count(ak), 1);
    assert_string_equal(lsh_auth_keys_problem(ak, 0)->filename, "f");
    assert_int_equal(lsh_auth_keys_problem(ak, 0)->line, 2);
    assert_string_equal(lsh_auth_keys_problem(ak, 0)->reason,
                        "unknown option \"bogus\"");
    lsh_auth_keys_free(ak);
}

static void
test_match(void **state)
{
    static const char text[] =
        "# user keys\n"
        "from=\"10.0.0.0/8,!10.6.6.6\",command=\"backup\" " K1 "\n"
        "from=\"*.example.com\",no-pty " K1 "\n"
        "expiry-time=\"20300101Z\",restrict " K2 "\n"
        "cert-authority,principals=\"alice\" " K3 "\n";
    lsh_auth_keys *ak = parse(text);
    lsh_key *k1 = key_of(K1), *k2 = key_of(K2), *k3 = key_of(K3);
    lsh_auth_opts o;
    (void)state;

    /* from= by address. */
    assert_int_equal(lsh_auth_keys_match(ak, k1, 0, "10.1.2.3", NULL, 0, &o),
                     0);
    assert_int_equal(o.line, 2);
    assert_string_equal(o.filename, "authorized_keys");
    assert_string_equal(o.command, "backup");
    lsh_auth_opts_clear(&o);
    /* A negated address skips line 2; line 3 wants a name. */
    assert_int_equal(lsh_auth_keys_match(ak, k1, 0, "10.6.6.6", NULL, 0, &o),
                     LSH_ENOTFOUND);
    assert_int_equal(lsh_auth_keys_match(ak, k1, 0, "10.6.6.6",
                                         "ws.EXAMPLE.com", 0, &o),
                     0);
    assert_int_equal(o.line, 3);
    assert_null(o.command);
    assert_false(o.permit_pty);
    lsh_auth_opts_clear(&o);
    assert_int_equal(lsh_auth_keys_match(ak, k1, 0, "192.0.2.1",
                                         "ws.example.org", 0, &o),
                     LSH_ENOTFOUND);
    assert_int_equal(lsh_auth_keys_match(ak, k1, 0, NULL, NULL, 0, &o),
                     LSH_ENOTFOUND);
    /* expiry-time: valid up to and including the instant. */
    assert_int_equal(lsh_auth_keys_match(ak, k2, 0, "192.0.2.1", NULL, T2030,
                                         &o),
                     0);
    assert_true(o.restricted);
    lsh_auth_opts_clear(&o);
    assert_int_equal(lsh_auth_keys_match(ak, k2, 0, "192.0.2.1", NULL,
                                         T2030 + 1, &o),
                     LSH_ENOTFOUND);
    /* A cert-authority line is for CA lookups only, and vice versa. */
    assert_int_equal(lsh_auth_keys_match(ak, k3, 0, "192.0.2.1", NULL, 0,
                                         &o),
                     LSH_ENOTFOUND);
    assert_int_equal(lsh_auth_keys_match(ak, k2, 1, "192.0.2.1", NULL, 0,
                                         &o),
                     LSH_ENOTFOUND);
    assert_int_equal(lsh_auth_keys_match(ak, k3, 1, "192.0.2.1", NULL, 0,
                                         &o),
                     0);
    assert_true(o.cert_authority);
    assert_int_equal(o.line, 5);
    lsh_auth_keys_free(ak);
    /* The options are a copy: they outlive the store. */
    assert_true(lsh_auth_opts_principal_ok(&o, "alice"));
    assert_false(lsh_auth_opts_principal_ok(&o, "bob"));
    lsh_auth_opts_clear(&o);
    lsh_auth_opts_clear(NULL);
    lsh_key_free(k1);
    lsh_key_free(k2);
    lsh_key_free(k3);
}

static void
test_opts_parse_and_copy(void **state)
{
    lsh_auth_opts o, c;
    const char *reason = NULL;
    (void)state;
    assert_int_equal(lsh_auth_opts_parse("restrict,pty,environment=\"A=1\","
                                         "permitopen=\"h:1\",principals=\"p\","
                                         "from=\"*\",command=\"c\"",
                                         &o, &reason),
                     0);
    assert_int_equal(lsh_auth_opts_copy(&c, &o), 0);
    lsh_auth_opts_clear(&o);
    assert_true(c.permit_pty);
    assert_false(c.permit_agent_forwarding);
    assert_string_equal(c.env[0], "A=1");
    assert_string_equal(c.permitopen[0].host, "h");
    assert_string_equal(c.principals[0], "p");
    assert_string_equal(c.from, "*");
    assert_string_equal(c.command, "c");
    lsh_auth_opts_clear(&c);
    assert_int_equal(lsh_auth_opts_parse("nope", &o, &reason), LSH_EINVAL);
    assert_string_equal(reason, "unknown option");
    assert_null(o.command);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_key_has_defaults),
        cmocka_unit_test(test_flag_options),
        cmocka_unit_test(test_command_and_quoting),
        cmocka_unit_test(test_environment),
        cmocka_unit_test(test_permitopen_permitlisten),
        cmocka_unit_test(test_principals_tunnel_from),
        cmocka_unit_test(test_expiry_time),
        cmocka_unit_test(test_bad_lines_are_reported),
        cmocka_unit_test(test_oversize_and_nul),
        cmocka_unit_test(test_strict_mode),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_opts_parse_and_copy),
    };
    setenv("TZ", "UTC", 1);
    tzset();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
