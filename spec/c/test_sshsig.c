/*
 * Tests for src/ssh/keys/sshsig.c: SSH signatures (PROTOCOL.sshsig) and
 * allowed_signers files (ssh-keygen(1), ALLOWED SIGNERS).
 *
 * Where the vectors come from:
 *  - TD_SIG_* / TD_PUB_*: OpenSSH's regression test data
 *    (/work/shared/specs/openssh-testdata/sshsig/NAME.sig and NAME.pub),
 *    signatures by `ssh-keygen -Y sign -n unittest` over the file
 *    signed-data ("This is a test, this is only a test", no newline).
 *  - FIXTURE_SIG_*: made by lsh_sshsig_sign() with the Ed25519 key whose
 *    seed is the bytes 0x42..0x61 (FIXTURE_PUB) over FIXTURE_MSG in
 *    namespace "file", then checked by hand with `ssh-keygen -Y verify`
 *    (OpenSSH 9.2) and found byte-identical to what `ssh-keygen -Y sign`
 *    (-O hashalg=sha256 for the second) writes with that key, converted
 *    to an OpenSSH private key file.  Ed25519 is deterministic, so the
 *    test re-signs and compares bytes.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "ssh/keys/key.h"
#include "ssh/keys/key_internal.h"
#include "ssh/keys/sshsig.h"
#include "ssh/keys/trustfile.h"

#define TD_MSG "This is a test, this is only a test"
#define TD_NS "unittest"
#define FIXTURE_MSG "luassh sshsig interop message\n"
#define FIXTURE_PUB                                                       \
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMXbLFPCvPPdiG8F5grJgo7SROYaT9wJ" \
    "J31YvfSvG6Kf"

/* openssh-testdata/sshsig/ed25519.sig */
static const char TD_SIG_ED25519[] =
    "-----BEGIN SSH SIGNATURE-----\n"
    "U1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAgiWLNIg3cNBXvxU82NW+/COB/4/\n"
    "keps9gJi7cE4x2MAQAAAAIdW5pdHRlc3QAAAAAAAAABnNoYTUxMgAAAFMAAAALc3NoLWVk\n"
    "MjU1MTkAAABAihQsbUzuNEFflk5Tw1+H9aLS7tZQk0RG8KW1DtOmDYYnWe3D3UKiG3fcJa\n"
    "DNg4vBWp1j1gLRiBMOF+gwYNegDg==\n"
    "-----END SSH SIGNATURE-----\n";
/* openssh-testdata/sshsig/ed25519.pub */
static const char TD_PUB_ED25519[] =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIlizSIN3DQV78VPNjVvvwjgf+P5HqbPYCYu3BOMdjAE ED25519 test key\n";

/* openssh-testdata/sshsig/ecdsa.sig */
static const char TD_SIG_ECDSA[] =
    "-----BEGIN SSH SIGNATURE-----\n"
    "U1NIU0lHAAAAAQAAAGgAAAATZWNkc2Etc2hhMi1uaXN0cDI1NgAAAAhuaXN0cDI1NgAAAE\n"
    "EE3sud88FV0N8FPspZSV7LWqj6uPPLRZiSsenNuEYAteWPyDgrZsWbLzXBuUJucepaCNuW\n"
    "/QWgHBRbrjWj3ERm3AAAAAh1bml0dGVzdAAAAAAAAAAGc2hhNTEyAAAAZQAAABNlY2RzYS\n"
    "1zaGEyLW5pc3RwMjU2AAAASgAAACEAycVNsTlE+XEZYyYiDxWZlliruf/pPMhEEMR/XLdQ\n"
    "a4MAAAAhALQt+5gES7L3uKGptHB6UZQMuZ2WyI0C6FJs4v6AtMIU\n"
    "-----END SSH SIGNATURE-----\n";
/* openssh-testdata/sshsig/ecdsa.pub */
static const char TD_PUB_ECDSA[] =
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBN7LnfPBVdDfBT7KWUley1qo+rjzy0WYkrHpzbhGALXlj8g4K2bFmy81wblCbnHqWgjblv0FoBwUW641o9xEZtw= ECDSA test\n";

/* openssh-testdata/sshsig/rsa.sig */
static const char TD_SIG_RSA[] =
    "-----BEGIN SSH SIGNATURE-----\n"
    "U1NIU0lHAAAAAQAAAZcAAAAHc3NoLXJzYQAAAAMBAAEAAAGBAN/OpZo0R7Saco/Owa0vrL\n"
    "DJrb3P9UjzdIF0z7PY2dYWAKvfD3Gt/0WFTOB2krugjs7UCdmZ2Q903v13gZyFNpn7r0BJ\n"
    "fg4sIrBnjYJVckQou+/O3zxRX3Mc2Xw2uxAdqmPEt6GkhmSvEKs7hsJhgCJo5UF8+ifhwn\n"
    "f3g/+fBqAkkoqyBAhVggLfrjazgvxJoAM7G33H2iG21cwONLZYFN4TtieNpHXc/AorA07Q\n"
    "ykAARXDmkGcnEn5+xwz/loFy11wVCPcFTNU4n9X/vTF9PMSLLwrxs6O8i4G20xS0hq+UpA\n"
    "PrTq2LqAO1fH4HtInf96Z1bRtVItyO73o3gMH9B2arRXgRJzsJCCRZmXjLRXjlX/uJIuId\n"
    "aw6gL0rHDbzLS6ejl6WwAEwEwLhFhJCEAZda54JxHtIgvYlPYrSjFuqieBbSG+AAh9RKFN\n"
    "cfL6qxXnINob6n5OQmQSSG1dvCRbho2nNzsQWdexam/JY6JlIq9RqxE9s+ujTIG+U4ww+w\n"
    "VQAAAAh1bml0dGVzdAAAAAAAAAAGc2hhNTEyAAABlAAAAAxyc2Etc2hhMi01MTIAAAGACi\n"
    "nEpBrQxZi0yOrrT6h98JFfZh0XXioih4fzmvtoV0yOReWClS+otGgXoJyZHcbaKNOjDwSM\n"
    "rIkUoX6OUJmtHYP0HRELnKw35m33LdBPXpFGS4tRS7NeSpvc04KtjT6jYXY9FjWy5hcn17\n"
    "Sxc/3DnJqLgJBur8acY7FeIzpWmKixPd/dGkEjdWoD9gO6szLczGuQgrOdYmSRL4yKadTJ\n"
    "lVjz5OSeKSYYGQy33US2XQassRRNYf4e9byTA3DKvHa/OcTt7lFerea0kZdDpAboqffz7T\n"
    "Yaw/hFskAYLIEdTW3aoXBGHSOvu8AkDOtb7qwuxGSQ27pjkDLDNsp1ceCFaCaQ6X83RZuK\n"
    "ACv9JUBI5KaSf81e0bs0KezJKkhB9czeZ6dk96qISbgayEBnvhYgXvUDKtHn7HzNlCJKfK\n"
    "5ABhNxfGG2CD+NKqcrndwFgS1sQO3hbA84zPQb26ShBovT8ytHBmW1F8ZK4O9Bz61Q6EZK\n"
    "vs/u6xP6LUean/so5daa\n"
    "-----END SSH SIGNATURE-----\n";
/* openssh-testdata/sshsig/rsa.pub */
static const char TD_PUB_RSA[] =
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQDfzqWaNEe0mnKPzsGtL6ywya29z/VI83SBdM+z2NnWFgCr3w9xrf9FhUzgdpK7oI7O1AnZmdkPdN79d4GchTaZ+69ASX4OLCKwZ42CVXJEKLvvzt88UV9zHNl8NrsQHapjxLehpIZkrxCrO4bCYYAiaOVBfPon4cJ394P/nwagJJKKsgQIVYIC3642s4L8SaADOxt9x9ohttXMDjS2WBTeE7YnjaR13PwKKwNO0MpAAEVw5pBnJxJ+fscM/5aBctdcFQj3BUzVOJ/V/70xfTzEiy8K8bOjvIuBttMUtIavlKQD606ti6gDtXx+B7SJ3/emdW0bVSLcju96N4DB/Qdmq0V4ESc7CQgkWZl4y0V45V/7iSLiHWsOoC9Kxw28y0uno5elsABMBMC4RYSQhAGXWueCcR7SIL2JT2K0oxbqongW0hvgAIfUShTXHy+qsV5yDaG+p+TkJkEkhtXbwkW4aNpzc7EFnXsWpvyWOiZSKvUasRPbPro0yBvlOMMPsFU= RSA test\n";

/* openssh-testdata/sshsig/ed25519_sk.sig */
static const char TD_SIG_ED25519_SK[] =
    "-----BEGIN SSH SIGNATURE-----\n"
    "U1NIU0lHAAAAAQAAAEoAAAAac2stc3NoLWVkMjU1MTlAb3BlbnNzaC5jb20AAAAgmxoNhd\n"
    "Biu5zpuKUJgMgrhhI54b7OatE7Yz23Tf//sscAAAAEc3NoOgAAAAh1bml0dGVzdAAAAAAA\n"
    "AAAGc2hhNTEyAAAAZwAAABpzay1zc2gtZWQyNTUxOUBvcGVuc3NoLmNvbQAAAEAi+7eTjW\n"
    "/+LQ2M+sCD+KFtH1n7VFFJon/SZFsxODyV8cWTlFKj617Ys1Ur5TV6uaEXQhck8rBA2oQI\n"
    "HTPANLIPARI0Vng=\n"
    "-----END SSH SIGNATURE-----\n";
/* openssh-testdata/sshsig/ed25519_sk.pub */
static const char TD_PUB_ED25519_SK[] =
    "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIJsaDYXQYruc6bilCYDIK4YSOeG+zmrRO2M9t03//7LHAAAABHNzaDo= ED25519-SK test key\n";

/* openssh-testdata/sshsig/ecdsa_sk.sig */
static const char TD_SIG_ECDSA_SK[] =
    "-----BEGIN SSH SIGNATURE-----\n"
    "U1NIU0lHAAAAAQAAAH8AAAAic2stZWNkc2Etc2hhMi1uaXN0cDI1NkBvcGVuc3NoLmNvbQ\n"
    "AAAAhuaXN0cDI1NgAAAEEEoNVrmNFxPlXsTrKybBWLsclaHunkP6F5ss9qRBymcPZqMlno\n"
    "b/hbO6GVhadyVZjrcmykOnb31GWGrkBPzr+DwAAAAARzc2g6AAAACHVuaXR0ZXN0AAAAAA\n"
    "AAAAZzaGE1MTIAAAB3AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3BlbnNzaC5jb20A\n"
    "AABIAAAAIHohGwyy8iKT3zwd1TYA9V/Ioo7h/3zCJUtyq/Qigt/HAAAAIGzidTwq7D/kFa\n"
    "7Xjcp/KkdbIs4MfQpfAW/0OciajlpzARI0Vng=\n"
    "-----END SSH SIGNATURE-----\n";
/* openssh-testdata/sshsig/ecdsa_sk.pub */
static const char TD_PUB_ECDSA_SK[] =
    "sk-ecdsa-sha2-nistp256@openssh.com AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3BlbnNzaC5jb20AAAAIbmlzdHAyNTYAAABBBKDVa5jRcT5V7E6ysmwVi7HJWh7p5D+hebLPakQcpnD2ajJZ6G/4WzuhlYWnclWY63JspDp299Rlhq5AT86/g8AAAAAEc3NoOg== ECDSA-SK test key\n";

/* openssh-testdata/sshsig/ecdsa_sk_webauthn.sig */
static const char TD_SIG_ECDSA_SK_WEBAUTHN[] =
    "-----BEGIN SSH SIGNATURE-----\n"
    "U1NIU0lHAAAAAQAAAIYAAAAic2stZWNkc2Etc2hhMi1uaXN0cDI1NkBvcGVuc3NoLmNvbQ\n"
    "AAAAhuaXN0cDI1NgAAAEEEFEbAOOzgeEkVyfi0nkavvYpyZGYJLU6KsRPFpe+ew0CmCg4s\n"
    "XVr/uvGV19Iwebvd5PWeEd73tbyqJw88QAoMlAAAAAttaW5kcm90Lm9yZwAAAAh1bml0dG\n"
    "VzdAAAAAAAAAAGc2hhNTEyAAABhwAAACt3ZWJhdXRobi1zay1lY2RzYS1zaGEyLW5pc3Rw\n"
    "MjU2QG9wZW5zc2guY29tAAAASQAAACBj2oMT9tb5wRXe6mdmf4/lgAO8wrgr95ouozwNg4\n"
    "itnQAAACEAtU9g5wz3HchUiLfLD6plr9T4TiJ32lVCrATSjpiy0SMBAAADHwAAABdodHRw\n"
    "czovL3d3dy5taW5kcm90Lm9yZwAAAON7InR5cGUiOiJ3ZWJhdXRobi5nZXQiLCJjaGFsbG\n"
    "VuZ2UiOiJVMU5JVTBsSEFBQUFDSFZ1YVhSMFpYTjBBQUFBQUFBQUFBWnphR0UxTVRJQUFB\n"
    "QkFMTHU4WmdjU3h0Nk1zRlV6dWlaZ0c2R3dNZEo5ZDd4ZUU3WW9SSXcwZzlpSEpfd3NGRD\n"
    "cxbzRXbHllenZGV0VqYnFRMHFDN0Z3R3Bqa2pVUVAtTmQ2dyIsIm9yaWdpbiI6Imh0dHBz\n"
    "Oi8vd3d3Lm1pbmRyb3Qub3JnIiwiY3Jvc3NPcmlnaW4iOmZhbHNlfQAAAAA=\n"
    "-----END SSH SIGNATURE-----\n";

/* openssh-testdata/sshsig/mldsa44-ed25519.sig */
static const char TD_SIG_MLDSA44_ED25519[] =
    "-----BEGIN SSH SIGNATURE-----\n"
    "U1NIU0lHAAAAAQAABWcAAAAfc3NoLW1sZHNhNDQtZWQyNTUxOUBvcGVuc3NoLmNvbQAABU\n"
    "BCckJw18f779DiT10o2HHr8ZhWZ1+Wk71/hJ92MEvDW+sCQtQoLmsJiTg+ydswJs+dudYC\n"
    "CKA64Tz1UinWl6peElJkorT/QIykvZd1bPJW9Zm8XrhLj2NltY2DAVgK+d16dwo+F+jRIt\n"
    "oJRSER55e5TwVMgVS0/uqplUWEXRvaU2zUfyMsbLg1UOGp2k5TxOzXJP8zPOlfm5hW5Qhp\n"
    "eFD29qK1I3EU9SDRR8H5xSTsM0BB3QS5LY33curubmVgqgvE/s0u35wz3orWpBaDgHkbsM\n"
    "tkjI8oGlPP+Khy6MiVqR+enNbZvqMrH2ZkWeyejt7IQbaBaISwTJSnPzYtFP9rebZHQoCv\n"
    "nuaFIaMEPQjoHo1TMSIGYPyU971Um7mydxqot5HCxrXAkcsz5e5UtwlG/oxRtLCWgmUh1j\n"
    "MewMN5VeQm44gCAp0IKGuZfsP619xVixZishQddxW7CiZ1T+HjWXtVcAdTb6g92y3JSEP2\n"
    "xyUfPmCrFVW/ZalLQiO9dTJJHNe15okWhCmhnE5Ea9MP+aYVHHq6glr6uL2vNTtS5qAXZS\n"
    "84EQxC5fQXy8oM4kM5GpDsWlM4WfKKCTH/Oi90G2tJe/lPTHvu3A3hRiD+7fdRrDxn6JFn\n"
    "AXI2gmkYrOmMqRgz7UgF+jXQflDiDwz3Vo5p7oHCy/tZSjqqC1ae0RN5tVM9hZtnka+ptQ\n"
    "slAguAJL+GoQ3KtKjsaV5MT9+8yqfmryYzyiTIVZ3B9y0OwPQ8hpMZ1rQIPP9RytZTSG/a\n"
    "UyC3ePnN8JQo1VgqPPLqamxKeuxqoXzlpQ88OBxRh9A9JfHpfTTWdXD+cq6acZQPC3oCFj\n"
    "fxFVZafqjYCxem5NpvbIY0H8to+TKO9R00FNWfMZuCOJGC+zbvIY4Cv8FEyM2ifLTebo8g\n"
    "23M7bEeuOgYhGBjwRJMccDEaJp+8O5rfe4p6xPWiDgXNpSpCTvrO8CC3DNWzGnpW2Sqgvu\n"
    "dvFx1BFobyIGmOwl5DSAQVkgxadJF8gJ7ZDGh0elbkyL2XnyDXM5uYyfvv2H0aZA3qrqbU\n"
    "4x+bhZymsleO70CCOMBgHqZfnFqr+SZPvKSQoYuU02nohGYZ/aQu5aCtP/5yyQK3j/8FbL\n"
    "jK/rksi9NDb1fAaX/uvGmt25/QXh/c1yqTESnSogiznPeA8NtyeLCIya+6gbWlwiUDoVNP\n"
    "peT9SUQ0jYa9FR0Qr2/x9fuYBrqtK7Mj5jrZ/TNJiHxzyszistmV/1mmOH/hcrWZ0ZWNTQ\n"
    "pQClH9A7SMzaSSdL6Y3P2cmqJycWj7SaAyqt+5LTq1Ie5pRSwlc8DOy8uUOL9IeeNmsJ9e\n"
    "cfKkWu7edH9a4D0xg0g0yMh34+eOAtmXnjzHBck0BR+sKAs0K/To5utAm4IwoE9wOTFhRR\n"
    "QxSpQ0bvWSW0pV3ch/VeoZZXihPDbmpQlzKSHRGavya7LikEy0btrligKbyBgRe2rWR2Ys\n"
    "Ppi+aDUKvtwPjw56yFjAAZtufDOQOvZutos/xa2isKgzRBMIqHnBgAL+vRObnjGm7zAXjx\n"
    "MPdJIflwtyiqEZXEhi4pAbj2UX3iD0rONYw2hP017/NzZMhlKqGhxQxZh0NeXStGSbT2xm\n"
    "TWxO+b9kCoPK1ON/P+nX5e4KxKE610n/ejaihMaKvDoGSIvGYE/SC0avc9lTk7qZh0m0/c\n"
    "39r5nAx5pjTrK01X9Go4hAoHW7oxSSRrgxz4HC9YYS2yot9UqJjtn72wQGF3fZ8nn/OeHD\n"
    "VUDCt9g/IexThNwyDliHrHLT61NdBPexTQ33xzLGjrYAAAAIdW5pdHRlc3QAAAAAAAAABn\n"
    "NoYTUxMgAACdsAAAAfc3NoLW1sZHNhNDQtZWQyNTUxOUBvcGVuc3NoLmNvbQAACbTPlGm4\n"
    "hZSSu1pnt2Tr5TpqUqvjw8F55anEUT1Yi05dtTlnkewIxMeleaY/DJGK9uoSYlauaTh+8w\n"
    "Ijrn6ZMrFkGHY8mnA73jw0b71CWljntHPWI2lS/mWOhRcAwAKakxkmgKQDNXGCC/NfpKn2\n"
    "hfDvUezAbhThoBS5hNlQ+FJKWnRN2Mpa01Q7ZqBZ2vVQ2oDTPd2Yivf/5tJzkiYufkEWZK\n"
    "VWEO6lYjWGlk9MIXVegQPO/Ucp+B42DckzHbOiDozFC4N+DrkyMwMeY98/H7nlR72xmzw2\n"
    "/ylnACyLCstcagxG9cRbA2FQvbVgxQzO7Am0XLQ8ELsinwphAYRVuyU6cgClFDutraA80S\n"
    "VaEVHrJgKYd2FpdDfjV1cXDUaN2bQz3VXYOEq42LKOmOJBCxNCqm/EUhY1fY+nFdIwmIy5\n"
    "OraN6Ut93PCKtLzmlXPMwXJA5eHORnUy8j4RpO7egKEQ52GDEHHsQDjf9siEoyaVSwfgKI\n"
    "A30SwzXALQh3uFOjjEizv4rZb/eID6PWWu1cD/nVMG2oEJWoUeARGrRPeJHDjW4eGgAZWT\n"
    "bz4GRqf4t/oCeLyNvjwIg0gLphE6YTCpBttBJahG1GNWVhD1Q9EpmgWBGiEOk4ak7dPEZB\n"
    "0ljMgONB6p+z7H2SlvHSihpzzOldZhPMTgxMUDSG20pvyTwL40sHKPe3bOfIi7H31LDkF/\n"
    "OeXB7SwNitG2S1dTLLzpwBbdAahqxDikDH+s17NFzNatGWlEzWQ+jzcI9/mbLpKAveGxiY\n"
    "C8eoL1C/y7u+vXL9eW+zyRNlSt0ewD1SIPxoEFNz/IbjzLB4TMs/raEgwPu4sLm4KAuvoj\n"
    "A8mGbNiTXAWsGIns5UJgsSrJUnM3/yxT86V9KBVhIUDV0GKS81+WoSnlQ/o4le0CCTXJUU\n"
    "feV3gnL5SlF5RFgfE+5OFYQ2WYhl7o1MLymunQ7S0BWzBGYMXGoT/DQ6LMxqAOZkNWADeV\n"
    "76jDwgeIso3q4BEmHeiZOJBat5mQ04FWkrY7decWXNpkEEUQdhHc09wA/NtGla6EQzNxG7\n"
    "voc4gr7h1ZbJg6IhI5wnr80maDpFFoC3FAy9w1gic0kBfpklprgg9f/BMwz9RK0iULTvjT\n"
    "HB7vIs4iGaIhPjaiD/kxiC/spIfyWLrHT7RFWpOUIDQrCMEiF/OoJhp8v2gzW9LlYisP4U\n"
    "ljZOj0438lxefebJQry1KUOH99HZVC7cjm41PWMkYUT1RRITlz/HhOrMqt1LZ64yVbazau\n"
    "kvs/P5Ngeo0HcKbbExFWu4efgeYzqgZ7wZ7PAlu82LUkBtdjaFV+c/HOkTAv1pc9X8/DuQ\n"
    "K2eeLnO4Z9cwF2G2OaOsU53Cq4xypxqrmGEcS7Lf/9vZe271RNfH62HvlLv/PEG3VlpEHp\n"
    "BmUzqHiNp85aYtcMKhK6JcY6UnYiFXOarxymZYiCykVZDAUN3azdh7ClYIvUg/k7ZjSHHX\n"
    "2ELtzJKsonNBtt/YybaNLInrhj8s58GaJv3tZTkfxOzEMXR6iBauOATMEKu8YQ8e6h4dag\n"
    "sf6Q7SGzcr6Kc2Gtw+qjoDjVWcgp5ZfHKxM9e1VpWhA46INTaLzej45iI+JMqkyjMiVIEy\n"
    "vnydouPPRAe06CSOE4pBofDAZf+3RsiFZN9J55lcK6sBR1T7hSIIE6+XLg5ktLC+W6/1mp\n"
    "IWXhz+PQEZTjLwUb6KaHs8gzvolmm5OpMCw8i5WLSAQ4HPWMPxwRHdxUu2k9NQQPogw90I\n"
    "esBazP2+b/rZWrPNuRM63mjeZyKM8nuouID3D+C75hosfU2WNMPn0lwg+IaN4IyfMT5+TD\n"
    "rV3/Vtwqz+WE4fIT7IW13A5G54VyCWEazWtVQFQiGuY7JcgbcJXDtAi/Hg0yzThjU+FRJn\n"
    "Z2nsqi3SlTQW1nKK2xcfnrT28HN8M384KNQTJoOfAHPGWZvjMwAwMyFvwNlTzekJtmnV9Y\n"
    "GxeK7iZml66oEFkEA0UFL69cFuXs38WFfTSmRslqw5YMea0/N/CLMDEeIrbUqzMxGFyRPu\n"
    "+6VS3zJ6OyvAAGuNohW6PBFmtNJ4V8A/OavoAmh4Wklyb+ZZn9x5U2k1PvVQYHWlqa14Y8\n"
    "ar/THn3IAAdI8rsEZeq/phg2RlAuagpNHeK5C+SfLi5uRXbbwRqTZIGiCsb0RmKKBlp6Tt\n"
    "cZEq7mjXprD6X1T6QsOZ191fZ3JHwzgxPyrlOgIs0XVN7MqJsnMbHLZr5/sX0W/UPRxonT\n"
    "a5kDcNBl/ngwbFZQjY1dwQGEtG0Pe5A45TJU0Ycfo+MRreU14FHYPq/f2Qz/585qK3epPE\n"
    "vVZPiZkpKITN+e8XcwvO9pgRF2+9zZYC5iKtinumQtZ3QkxagaAzt2QjacxD2HbDuKhe1r\n"
    "B7ITPw6TDPn50fio/vb7lkFl/7uip9Jy7yn7+6lPaKNU20KwEeWj9d0tPv8xSylW/lfU7u\n"
    "UQmNIe+NQrhF6qo54GOLGmiuZa7tDb6lF3/EyahlNXhuCv5+Fzd+QPumizQIOD6mv9SDf4\n"
    "VC0GGkmSomVqsuQUJrcVdcUZvcV54ozAM+mMlJ2ZzaTXxJ2ud6QjUFco6Vt8qudFNG6hFq\n"
    "9L348x97RxIgKHh4H6XKAZKY2fnJh+TNZp+vobElw06PA8iY2mqOeouJTc5QXHdrvsfuli\n"
    "v78YG/2/w7H7dcFjsKgQBy+k8txWf0LlF7pAz1r5Sha6ipJZXyvEVCJT54zLR7Jq4KkFmi\n"
    "OVUJjNE3x0a+3Rhf6JjBvXY4eipE80bRQarhYyx5UCj4Rz+AwDpCelpzUKEuLnSgwe+i7s\n"
    "1Ahz6S6jtR27AD6SFZJV7cgbRGlU+0AF6c8+oN6g6W6m7AOVGeV3JhfjqGdB+anRQBlc8l\n"
    "0tHsK7HXx7qnO7Q6MUBb0DH4ULy2lKuVfBcnnF2ECCd0b8tnHcJ392SRrW2DI+PZuTPVZ9\n"
    "svHiHHaLMRgj83MOFUigyYASFpJyfugKYUfazkxegp5bqJqS13+EXeZ/v5ax3pxA9x0jJD\n"
    "u56JU/IeQK9NAiEyaVz6vk2y5NsyiHS1i7dle1ShjlsKdVKHHIujs6xlRECal4/TI04MSV\n"
    "HFFDVr20LNhynZmFA9nxyRUfJW3+mSU0U1ZXdoCGudHk9gEHDyc+P1ZvdX2RmaGouL7S6f\n"
    "UHDg8YGywvRlBZWmNscHOXnJ2ssLe4vsLI5fT7/wgRNlJucHOosLu8vs/f+AAAAAAADB88\n"
    "S5ANc0JiZDzQZe2HdFhRQjE7+PY7mDMleC/fcu1YitJorDd+KZ4rARVqHn96ps17jJVCGN\n"
    "X21nUV3kRQplF/RQk=\n"
    "-----END SSH SIGNATURE-----\n";

static const char FIXTURE_SIG_SHA512[] =
    "-----BEGIN SSH SIGNATURE-----\n"
    "U1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAgxdssU8K8892IbwXmCsmCjtJE5h\n"
    "pP3AknfVi99K8bop8AAAAEZmlsZQAAAAAAAAAGc2hhNTEyAAAAUwAAAAtzc2gtZWQyNTUx\n"
    "OQAAAEA2Q3aeKQOCenpJfEupoFK3fmPtLFKYK0Pb0MVENQ/zc5TqB2xwm3uTkFTJI1ItHG\n"
    "42U1WxqxBT96O3yhCVx8wO\n"
    "-----END SSH SIGNATURE-----\n";
static const char FIXTURE_SIG_SHA256[] =
    "-----BEGIN SSH SIGNATURE-----\n"
    "U1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAgxdssU8K8892IbwXmCsmCjtJE5h\n"
    "pP3AknfVi99K8bop8AAAAEZmlsZQAAAAAAAAAGc2hhMjU2AAAAUwAAAAtzc2gtZWQyNTUx\n"
    "OQAAAECmhcqqC6e08WeDHUIYSgwvdBixW48dS1VSOYuzm6KEzz2XS105r+mC96tjE+XBt/\n"
    "TnKNcdemJB4gFV2KBGp5cC\n"
    "-----END SSH SIGNATURE-----\n";

/* A public key from a "type base64 [comment]" line. */
static lsh_key *
pub_from_line(const char *line)
{
    const char *p = line, *reason = NULL;
    lsh_key *k = NULL;
    assert_int_equal(lsh__tf_read_key(&p, &k, &reason), 0);
    return k;
}

static lsh_key *
fixture_key(void)
{
    uint8_t seed[32];
    EVP_PKEY *pk;
    lsh_key *k;

    for (int i = 0; i < 32; i++) {
        seed[i] = (uint8_t)(0x42 + i);
    }
    pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    assert_non_null(pk);
    k = lsh__key_from_pkey(pk, LSH_KEY_ED25519);
    assert_non_null(k);
    return k;
}

static int
verify_str(const char *sig, const char *ns, const char *msg, lsh_key **who)
{
    return lsh_sshsig_verify((const uint8_t *)sig, strlen(sig), ns,
                             (const uint8_t *)msg, strlen(msg), who);
}

static void
test_openssh_testdata_verifies(void **state)
{
    static const struct {
        const char *sig, *pub;
        int sk;
    } v[] = {
        {TD_SIG_ED25519, TD_PUB_ED25519, 0},
        {TD_SIG_ECDSA, TD_PUB_ECDSA, 0},
        {TD_SIG_RSA, TD_PUB_RSA, 0},
        {TD_SIG_ED25519_SK, TD_PUB_ED25519_SK, 1},
        {TD_SIG_ECDSA_SK, TD_PUB_ECDSA_SK, 1},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        lsh_key *who = NULL, *pub = pub_from_line(v[i].pub);
        lsh_sshsig_info info;
        assert_int_equal(lsh_sshsig_verify_ex(
                             (const uint8_t *)v[i].sig, strlen(v[i].sig),
                             TD_NS, (const uint8_t *)TD_MSG, strlen(TD_MSG),
                             0, &who, &info),
                         0);
        assert_string_equal(info.reason, "");
        assert_string_equal(info.hashalg, "sha512");
        assert_true(lsh_key_equal_public(who, pub));
        if (v[i].sk) {
            assert_true(info.sk.sk_flags & LSH_KEY_SK_USER_PRESENT);
        }
        /* The same signature for another namespace or message fails. */
        assert_int_equal(verify_str(v[i].sig, "file", TD_MSG, NULL),
                         LSH_EBADSIG);
        assert_int_equal(verify_str(v[i].sig, TD_NS, TD_MSG "!", NULL),
                         LSH_EBADSIG);
        lsh_key_free(who);
        lsh_key_free(pub);
    }
}

static void
test_unsupported_testdata_rejected(void **state)
{
    lsh_sshsig_info info;
    (void)state;
    /* Webauthn signatures are not supported by lsh_key (key_sk.c). */
    assert_int_equal(verify_str(TD_SIG_ECDSA_SK_WEBAUTHN, TD_NS, TD_MSG,
                                NULL),
                     LSH_EBADSIG);
    /* ML-DSA composite keys are unknown to lsh_key. */
    assert_int_equal(lsh_sshsig_verify_ex(
                         (const uint8_t *)TD_SIG_MLDSA44_ED25519,
                         strlen(TD_SIG_MLDSA44_ED25519), TD_NS,
                         (const uint8_t *)TD_MSG, strlen(TD_MSG), 0, NULL,
                         &info),
                     LSH_EKEYTYPE);
    assert_string_equal(info.reason, "unsupported signer key type");
}

static void
test_fixture_signs_like_ssh_keygen(void **state)
{
    static const struct {
        const char *hash, *sig;
    } v[] = {{NULL, FIXTURE_SIG_SHA512},
             {"sha512", FIXTURE_SIG_SHA512},
             {"sha256", FIXTURE_SIG_SHA256}};
    lsh_key *k = fixture_key(), *pub = pub_from_line(FIXTURE_PUB);
    (void)state;
    assert_true(lsh_key_equal_public(k, pub));
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        lsh_buf out;
        lsh_key *who = NULL;
        lsh_buf_init(&out, 0);
        assert_int_equal(lsh_sshsig_sign(k, "file", v[i].hash,
                                         (const uint8_t *)FIXTURE_MSG,
                                         strlen(FIXTURE_MSG), &out),
                         0);
        assert_int_equal(lsh_buf_len(&out), strlen(v[i].sig));
        assert_memory_equal(lsh_buf_ptr(&out), v[i].sig, strlen(v[i].sig));
        assert_int_equal(verify_str(v[i].sig, "file", FIXTURE_MSG, &who), 0);
        assert_true(lsh_key_equal_public(who, pub));
        lsh_key_free(who);
        lsh_buf_free(&out);
    }
    lsh_key_free(k);
    lsh_key_free(pub);
}

static void
roundtrip(lsh_key *k, const char *hashalg, const char *sigalg)
{
    static const uint8_t msg[] = "round trip message";
    lsh_buf out;
    lsh_key *who = NULL;

    lsh_buf_init(&out, 0);
    assert_int_equal(lsh_sshsig_sign_ex(k, "git", hashalg, sigalg, msg,
                                        sizeof(msg), 0, &out),
                     0);
    assert_int_equal(lsh_sshsig_verify(lsh_buf_ptr(&out), lsh_buf_len(&out),
                                       "git", msg, sizeof(msg), &who),
                     0);
    assert_true(lsh_key_equal_public(who, k));
    assert_int_equal(lsh_sshsig_verify(lsh_buf_ptr(&out), lsh_buf_len(&out),
                                       "git", msg, sizeof(msg) - 1, NULL),
                     LSH_EBADSIG);
    lsh_key_free(who);
    lsh_buf_free(&out);
}

static void
test_sign_verify_roundtrip_all_key_types(void **state)
{
    static const enum lsh_key_type types[] = {
        LSH_KEY_ED25519, LSH_KEY_ED448, LSH_KEY_ECDSA_P256,
        LSH_KEY_ECDSA_P384, LSH_KEY_ECDSA_P521};
    lsh_key *rsa;
    (void)state;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        lsh_key *k = NULL;
        assert_int_equal(lsh_key_generate(types[i], 0, &k), 0);
        roundtrip(k, "sha512", NULL);
        roundtrip(k, "sha256", NULL);
        lsh_key_free(k);
    }
    assert_int_equal(lsh_key_generate(LSH_KEY_RSA, 2048, &rsa), 0);
    roundtrip(rsa, NULL, NULL);
    roundtrip(rsa, "sha256", "rsa-sha2-256");
    roundtrip(rsa, "sha512", "rsa-sha2-512");
    lsh_key_free(rsa);
}

static void
test_rsa_sha1_refused(void **state)
{
    static const uint8_t msg[] = "m";
    lsh_key *rsa = NULL;
    lsh_buf tbs, sig, out;
    lsh_sshsig_info info;
    (void)state;
    assert_int_equal(lsh_key_generate(LSH_KEY_RSA, 2048, &rsa), 0);
    lsh_buf_init(&out, 0);
    lsh_buf_init(&tbs, 0);
    lsh_buf_init(&sig, 0);
    assert_int_equal(lsh_sshsig_sign_ex(rsa, "file", NULL, "ssh-rsa", msg,
                                        sizeof(msg), 0, &out),
                     LSH_ENOALG);
    assert_int_equal(lsh_buf_len(&out), 0);
    /* Build one by hand: a valid ssh-rsa signature inside is refused. */
    assert_int_equal(lsh_sshsig_signed_data("file", "sha512", msg,
                                            sizeof(msg), 0, &tbs),
                     0);
    assert_int_equal(lsh_key_sign(rsa, "ssh-rsa", lsh_buf_ptr(&tbs),
                                  lsh_buf_len(&tbs), &sig),
                     0);
    assert_int_equal(lsh_sshsig_wrap(rsa, "file", "sha512",
                                     lsh_buf_ptr(&sig), lsh_buf_len(&sig), 0,
                                     &out),
                     0);
    assert_int_equal(lsh_sshsig_verify_ex(lsh_buf_ptr(&out),
                                          lsh_buf_len(&out), "file", msg,
                                          sizeof(msg), 0, NULL, &info),
                     LSH_EBADSIG);
    assert_string_equal(info.reason,
                        "RSA signature made with SHA-1 (ssh-rsa)");
    lsh_buf_free(&out);
    lsh_buf_free(&tbs);
    lsh_buf_free(&sig);
    lsh_key_free(rsa);
}

static void
test_prehashed_and_raw(void **state)
{
    static const uint8_t msg[] = "hash me first";
    uint8_t digest[32];
    unsigned int dlen = 0;
    lsh_key *k = fixture_key(), *who = NULL;
    lsh_buf raw, armored;
    uint8_t *blob = NULL;
    size_t bloblen = 0;
    (void)state;

    assert_int_equal(EVP_Digest(msg, sizeof(msg), digest, &dlen,
                                EVP_sha256(), NULL),
                     1);
    lsh_buf_init(&raw, 0);
    lsh_buf_init(&armored, 0);
    assert_int_equal(lsh_sshsig_sign_ex(k, "file", "sha256", NULL, digest,
                                        sizeof(digest),
                                        LSH_SSHSIG_HASHED | LSH_SSHSIG_RAW,
                                        &raw),
                     0);
    assert_memory_equal(lsh_buf_ptr(&raw), "SSHSIG", 6);
    /* A bare blob verifies over the message, and over its digest. */
    assert_int_equal(lsh_sshsig_verify(lsh_buf_ptr(&raw), lsh_buf_len(&raw),
                                       "file", msg, sizeof(msg), &who),
                     0);
    assert_int_equal(lsh_sshsig_verify_ex(lsh_buf_ptr(&raw),
                                          lsh_buf_len(&raw), "file", digest,
                                          sizeof(digest), LSH_SSHSIG_HASHED,
                                          NULL, NULL),
                     0);
    /* A digest of the wrong length is refused when signing and checking. */
    assert_int_equal(lsh_sshsig_verify_ex(lsh_buf_ptr(&raw),
                                          lsh_buf_len(&raw), "file", digest,
                                          20, LSH_SSHSIG_HASHED, NULL, NULL),
                     LSH_EBADSIG);
    assert_int_equal(lsh_sshsig_sign_ex(k, "file", "sha512", NULL, digest,
                                        sizeof(digest), LSH_SSHSIG_HASHED,
                                        &armored),
                     LSH_EINVAL);
    /* Armor and dearmor are inverse. */
    assert_int_equal(lsh_sshsig_armor(lsh_buf_ptr(&raw), lsh_buf_len(&raw),
                                      &armored),
                     0);
    assert_int_equal(lsh_sshsig_dearmor(lsh_buf_ptr(&armored),
                                        lsh_buf_len(&armored), &blob,
                                        &bloblen),
                     0);
    assert_int_equal(bloblen, lsh_buf_len(&raw));
    assert_memory_equal(blob, lsh_buf_ptr(&raw), bloblen);
    free(blob);
    lsh_key_free(who);
    lsh_key_free(k);
    lsh_buf_free(&raw);
    lsh_buf_free(&armored);
}

static void
test_sign_argument_errors(void **state)
{
    lsh_key *k = fixture_key(), *pub = pub_from_line(FIXTURE_PUB);
    lsh_buf out;
    (void)state;
    lsh_buf_init(&out, 0);
    assert_int_equal(lsh_sshsig_sign(k, "", NULL, (const uint8_t *)"m", 1,
                                     &out),
                     LSH_EINVAL);
    assert_int_equal(lsh_sshsig_sign(k, "file", "sha1",
                                     (const uint8_t *)"m", 1, &out),
                     LSH_EINVAL);
    assert_int_equal(lsh_sshsig_sign(pub, "file", NULL,
                                     (const uint8_t *)"m", 1, &out),
                     LSH_EINVAL);
    assert_int_equal(lsh_buf_len(&out), 0);
    lsh_buf_free(&out);
    lsh_key_free(k);
    lsh_key_free(pub);
}

/* Bare blob of the fixture signature, to be damaged by the tests. */
static uint8_t *
fixture_blob(size_t *n)
{
    uint8_t *blob = NULL;
    assert_int_equal(lsh_sshsig_dearmor((const uint8_t *)FIXTURE_SIG_SHA512,
                                        strlen(FIXTURE_SIG_SHA512), &blob,
                                        n),
                     0);
    return blob;
}

static int
verify_blob(const uint8_t *b, size_t n, const char **reason)
{
    lsh_sshsig_info info;
    int r = lsh_sshsig_verify_ex(b, n, "file", (const uint8_t *)FIXTURE_MSG,
                                 strlen(FIXTURE_MSG), 0, NULL, &info);
    *reason = info.reason;
    return r;
}

static void
test_malformed_blobs_rejected(void **state)
{
    size_t n;
    uint8_t *b = fixture_blob(&n), *c = malloc(n + 1);
    const char *reason;
    (void)state;

    assert_int_equal(verify_blob(b, n, &reason), 0);
    /* Bad magic. */
    memcpy(c, b, n);
    c[0] = 'X';
    assert_int_equal(verify_blob(c, n, &reason), LSH_EBADSIG);
    /* Version 2 (§2: reject versions greater than supported). */
    memcpy(c, b, n);
    c[9] = 2;
    assert_int_equal(verify_blob(c, n, &reason), LSH_EBADSIG);
    assert_string_equal(reason, "unsupported signature version");
    /* Trailing byte. */
    memcpy(c, b, n);
    c[n] = 0;
    assert_int_equal(verify_blob(c, n + 1, &reason), LSH_EBADSIG);
    assert_string_equal(reason, "trailing bytes after signature");
    /* Every truncation. */
    for (size_t len = 0; len < n; len++) {
        assert_int_equal(verify_blob(b, len, &reason), LSH_EBADSIG);
    }
    /* A flipped bit in the signature. */
    memcpy(c, b, n);
    c[n - 1] ^= 1;
    assert_int_equal(verify_blob(c, n, &reason), LSH_EBADSIG);
    assert_string_equal(reason, "signature verification failed");
    free(b);
    free(c);
}

static void
test_bad_armor_rejected(void **state)
{
    static const char *const bad[] = {
        /* no header */
        "U1NIU0lH\n-----END SSH SIGNATURE-----\n",
        /* no footer */
        "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n",
        /* footer not after a newline */
        "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH-----END SSH SIGNATURE-----\n",
        /* garbage after the footer */
        "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\nx",
        /* not base64 */
        "-----BEGIN SSH SIGNATURE-----\nU1N*U0lH\n-----END SSH SIGNATURE-----\n",
        /* leading garbage */
        " -----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t *blob = NULL;
        size_t n;
        assert_int_equal(lsh_sshsig_dearmor((const uint8_t *)bad[i],
                                            strlen(bad[i]), &blob, &n),
                         LSH_EINVAL);
        assert_int_equal(verify_str(bad[i], "file", FIXTURE_MSG, NULL),
                         LSH_EBADSIG);
    }
}

static void
test_armor_tolerates_crlf_and_rewrapping(void **state)
{
    /* The fixture with CRLF line ends and the base64 in 76-char lines. */
    static const char sig[] =
        "-----BEGIN SSH SIGNATURE-----\r\n"
        "U1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAgxdssU8K8892IbwXmCsmCjtJE5hpP3Akn\r\n"
        "fVi99K8bop8AAAAEZmlsZQAAAAAAAAAGc2hhNTEyAAAAUwAAAAtzc2gtZWQyNTUxOQAAAEA2Q3ae\r\n"
        "KQOCenpJfEupoFK3fmPtLFKYK0Pb0MVENQ/zc5TqB2xwm3uTkFTJI1ItHG42U1WxqxBT96O3yhCV\r\n"
        "x8wO\r\n"
        "-----END SSH SIGNATURE-----\r\n";
    (void)state;
    assert_int_equal(verify_str(sig, "file", FIXTURE_MSG, NULL), 0);
}

/*
 * allowed_signers
 */

static lsh_allowed_signers *
as_parse(const char *text)
{
    lsh_allowed_signers *as = NULL;
    assert_int_equal(lsh_allowed_signers_parse(text, strlen(text),
                                               "allowed_signers", 0, &as),
                     0);
    return as;
}

#define T2023 1672531200u /* 2023-01-01T00:00:00Z */
#define T2024 1704067200u /* 2024-01-01T00:00:00Z */
#define T2025 1735689600u /* 2025-01-01T00:00:00Z */

static void
test_allowed_signers_check(void **state)
{
    static const char text[] =
        "# comment\n"
        "\n"
        "alice@example.com,bob@example.com " FIXTURE_PUB " fixture\n"
        "*@corp.example.com,!mallory@corp.example.com namespaces=\"git,file\""
        " " FIXTURE_PUB "\n"
        "carol@example.com valid-after=\"20240101Z\",valid-before="
        "\"20250101000000Z\" " FIXTURE_PUB "\n"
        "ca@example.com cert-authority " FIXTURE_PUB "\n"
        "\"dave @example.com\" " FIXTURE_PUB "\n";
    lsh_allowed_signers *as = as_parse(text);
    lsh_key *k = pub_from_line(FIXTURE_PUB), *other = NULL;
    const lsh_as_entry *e;
    (void)state;

    assert_int_equal(lsh_allowed_signers_count(as), 5);
    assert_int_equal(lsh_allowed_signers_problem_count(as), 0);
    e = lsh_allowed_signers_entry(as, 0);
    assert_string_equal(e->principals, "alice@example.com,bob@example.com");
    assert_string_equal(e->comment, "fixture");
    assert_int_equal(e->line, 3);
    e = lsh_allowed_signers_entry(as, 2);
    assert_int_equal(e->valid_after, T2024);
    assert_int_equal(e->valid_before, T2025);
    assert_true(lsh_allowed_signers_entry(as, 3)->cert_authority);
    assert_string_equal(lsh_allowed_signers_entry(as, 4)->principals,
                        "dave @example.com");

    assert_int_equal(lsh_allowed_signers_check(as, "bob@example.com", k,
                                               "anything", T2023),
                     0);
    assert_int_equal(lsh_allowed_signers_check(as, "BOB@example.com", k,
                                               "file", T2023),
                     LSH_ENOTFOUND);
    /* Pattern principals, negation, namespaces. */
    assert_int_equal(lsh_allowed_signers_check(as, "eve@corp.example.com", k,
                                               "git", T2023),
                     0);
    assert_int_equal(lsh_allowed_signers_check(as, "eve@corp.example.com", k,
                                               "email", T2023),
                     LSH_ENOTFOUND);
    assert_int_equal(lsh_allowed_signers_check(
                         as, "mallory@corp.example.com", k, "git", T2023),
                     LSH_ENOTFOUND);
    /* Validity window, inclusive at both ends. */
    assert_int_equal(lsh_allowed_signers_check(as, "carol@example.com", k,
                                               "file", T2024 - 1),
                     LSH_ENOTFOUND);
    assert_int_equal(lsh_allowed_signers_check(as, "carol@example.com", k,
                                               "file", T2024),
                     0);
    assert_int_equal(lsh_allowed_signers_check(as, "carol@example.com", k,
                                               "file", T2025),
                     0);
    assert_int_equal(lsh_allowed_signers_check(as, "carol@example.com", k,
                                               "file", T2025 + 1),
                     LSH_ENOTFOUND);
    /* A cert-authority line is not a plain signer, and vice versa. */
    assert_int_equal(lsh_allowed_signers_check(as, "ca@example.com", k,
                                               "file", T2023),
                     LSH_ENOTFOUND);
    assert_int_equal(lsh_allowed_signers_check_ca(as, "ca@example.com", k,
                                                  "file", T2023),
                     0);
    assert_int_equal(lsh_allowed_signers_check_ca(as, "bob@example.com", k,
                                                  "file", T2023),
                     LSH_ENOTFOUND);
    assert_int_equal(lsh_allowed_signers_check(as, "dave @example.com", k,
                                               "file", T2023),
                     0);
    /* Another key is never allowed. */
    assert_int_equal(lsh_key_generate(LSH_KEY_ED25519, 0, &other), 0);
    assert_int_equal(lsh_allowed_signers_check(as, "bob@example.com", other,
                                               "file", T2023),
                     LSH_ENOTFOUND);
    lsh_key_free(other);
    lsh_key_free(k);
    lsh_allowed_signers_free(as);
}

static void
test_allowed_signers_find_principals(void **state)
{
    static const char text[] =
        "a@x " FIXTURE_PUB "\n"
        "b@x namespaces=\"git\" " FIXTURE_PUB "\n"
        "c@x cert-authority " FIXTURE_PUB "\n";
    lsh_allowed_signers *as = as_parse(text);
    lsh_key *k = pub_from_line(FIXTURE_PUB);
    lsh_buf out;
    (void)state;
    lsh_buf_init(&out, 0);
    assert_int_equal(lsh_allowed_signers_find_principals(as, k, "file", 0,
                                                         &out),
                     1);
    assert_int_equal(lsh_buf_len(&out), 4);
    assert_memory_equal(lsh_buf_ptr(&out), "a@x\n", 4);
    lsh_buf_reset(&out);
    assert_int_equal(lsh_allowed_signers_find_principals(as, k, "git", 0,
                                                         &out),
                     2);
    assert_memory_equal(lsh_buf_ptr(&out), "a@x\nb@x\n", 8);
    lsh_buf_free(&out);
    lsh_key_free(k);
    lsh_allowed_signers_free(as);
}

static void
test_allowed_signers_bad_lines(void **state)
{
    static const struct {
        const char *line, *reason;
    } v[] = {
        {"a@x bogus " FIXTURE_PUB, "unknown option \"bogus\""},
        {"a@x namespaces=git " FIXTURE_PUB, "missing start quote"},
        {"a@x namespaces=\"git " FIXTURE_PUB, "missing end quote"},
        {"a@x namespaces=\"a\",namespaces=\"b\" " FIXTURE_PUB,
         "multiple namespaces options"},
        {"a@x valid-after=\"2024\" " FIXTURE_PUB, "invalid valid-after time"},
        {"a@x valid-before=\"20241301\" " FIXTURE_PUB,
         "invalid valid-before time"},
        {"a@x valid-after=\"20250101\",valid-before=\"20240101\" " FIXTURE_PUB,
         "valid-before is not after valid-after"},
        {"a@x cert-authority,", "unexpected end of options"},
        {"a@x", "missing key"},
        {FIXTURE_PUB, "missing principals"},
        {"\"a@x " FIXTURE_PUB, "missing end quote"},
        {"a@x ssh-ed25519 AAA", "invalid base64 key"},
        {"a@x ssh-ed25519 AAAA", "invalid key blob"},
        {"a@x no-cert-authority " FIXTURE_PUB,
         "unknown option \"no-cert-authority\""},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char text[512];
        lsh_allowed_signers *as;
        const lsh_trust_problem *p;
        snprintf(text, sizeof(text), "# first\n%s\n", v[i].line);
        as = as_parse(text);
        assert_int_equal(lsh_allowed_signers_count(as), 0);
        assert_int_equal(lsh_allowed_signers_problem_count(as), 1);
        p = lsh_allowed_signers_problem(as, 0);
        assert_int_equal(p->line, 2);
        assert_string_equal(p->filename, "allowed_signers");
        assert_string_equal(p->reason, v[i].reason);
        lsh_allowed_signers_free(as);
    }
}

static void
test_allowed_signers_strict(void **state)
{
    static const char text[] = "a@x " FIXTURE_PUB "\nb@x bogus\n";
    lsh_allowed_signers *as = lsh_allowed_signers_new();
    (void)state;
    assert_non_null(as);
    assert_int_equal(lsh_allowed_signers_add(as, text, strlen(text), "f",
                                             LSH_AS_STRICT),
                     LSH_EINVAL);
    assert_int_equal(lsh_allowed_signers_count(as), 0);
    assert_int_equal(lsh_allowed_signers_problem_count(as), 1);
    assert_int_equal(lsh_allowed_signers_add(as, text, strlen(text), "f", 0),
                     0);
    assert_int_equal(lsh_allowed_signers_count(as), 1);
    lsh_allowed_signers_free(as);
}

/* Sign, then decide who signed, as `ssh-keygen -Y verify` would. */
static void
test_verify_then_check_signer(void **state)
{
    lsh_allowed_signers *as =
        as_parse("me@example.com namespaces=\"file\" " FIXTURE_PUB "\n");
    lsh_key *who = NULL;
    (void)state;
    assert_int_equal(verify_str(FIXTURE_SIG_SHA256, "file", FIXTURE_MSG,
                                &who),
                     0);
    assert_int_equal(lsh_allowed_signers_check(as, "me@example.com", who,
                                               "file", T2024),
                     0);
    assert_int_equal(lsh_allowed_signers_check(as, "you@example.com", who,
                                               "file", T2024),
                     LSH_ENOTFOUND);
    lsh_key_free(who);
    lsh_allowed_signers_free(as);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openssh_testdata_verifies),
        cmocka_unit_test(test_unsupported_testdata_rejected),
        cmocka_unit_test(test_fixture_signs_like_ssh_keygen),
        cmocka_unit_test(test_sign_verify_roundtrip_all_key_types),
        cmocka_unit_test(test_rsa_sha1_refused),
        cmocka_unit_test(test_prehashed_and_raw),
        cmocka_unit_test(test_sign_argument_errors),
        cmocka_unit_test(test_malformed_blobs_rejected),
        cmocka_unit_test(test_bad_armor_rejected),
        cmocka_unit_test(test_armor_tolerates_crlf_and_rewrapping),
        cmocka_unit_test(test_allowed_signers_check),
        cmocka_unit_test(test_allowed_signers_find_principals),
        cmocka_unit_test(test_allowed_signers_bad_lines),
        cmocka_unit_test(test_allowed_signers_strict),
        cmocka_unit_test(test_verify_then_check_signer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
