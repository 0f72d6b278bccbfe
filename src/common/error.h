/*
 * Error codes of the luassh core.
 *
 * One list, LSH_ERR_MAP, generates the negative LSH_E* codes, lsh_strerror()
 * and lsh_errname().  Functions return 0 on success, a negative LSH_E* code
 * on failure and, where documented, a positive count.  Add new codes at the
 * end of the list with a short lower-case message.
 */
#ifndef LSH_COMMON_ERROR_H
#define LSH_COMMON_ERROR_H

#define LSH_ERR_MAP(XX)                                                   \
    XX(NOMEM, "out of memory")                                            \
    XX(INVAL, "invalid argument")                                         \
    XX(TRUNCATED, "data truncated")                                       \
    XX(TOOLARGE, "length exceeds its limit")                              \
    XX(TRAILING, "unexpected trailing bytes")                             \
    XX(OVERFLOW, "integer overflow")                                      \
    XX(BADMPINT, "malformed mpint")                                       \
    XX(BADNAMELIST, "malformed name-list")                                \
    XX(BADSTRING, "malformed string")                                     \
    XX(CRYPTO, "cryptographic library failure")                           \
    XX(BADMAC, "message authentication code incorrect")                   \
    XX(PROTOCOL, "protocol error")                                        \
    XX(UNEXPECTED, "unexpected message")                                  \
    XX(NOALG, "no matching algorithm")                                    \
    XX(KEYTYPE, "unsupported key type")                                   \
    XX(BADKEY, "invalid key")                                             \
    XX(BADSIG, "signature verification failed")                           \
    XX(HOSTKEY, "host key not accepted")                                  \
    XX(BADVERSION, "bad protocol version exchange")                       \
    XX(BADPACKET, "malformed packet")                                     \
    XX(COMPRESSION, "compression error")                                  \
    XX(DISCONNECTED, "disconnected by peer")                              \
    XX(CLOSED, "connection closed")                                       \
    XX(TIMEOUT, "timed out")                                              \
    XX(AGAIN, "resource temporarily unavailable")                         \
    XX(STATE, "operation not allowed in the current state")               \
    XX(NOTFOUND, "not found")                                             \
    XX(UNSUPPORTED, "not supported")                                      \
    XX(IO, "input/output error")                                          \
    XX(KEYSIZE, "key size outside the allowed range")                     \
    XX(CONNREFUSED, "connection refused")                                 \
    XX(HOSTNOTFOUND, "host name lookup failed")                           \
    XX(NETWORK, "network error")                                          \
    XX(BADPASSPHRASE, "incorrect passphrase")                             \
    XX(NEEDPASSPHRASE, "passphrase required")                             \
    XX(CERTINVALID, "certificate not valid")                              \
    XX(REFUSED, "refused by the peer")                                    \
    XX(AUTH, "authentication failed")

enum lsh_err_index_ {
#define LSH_XX_(name, msg) LSH_ERRIDX_##name,
    LSH_ERR_MAP(LSH_XX_)
#undef LSH_XX_
    LSH_ERRIDX_COUNT_
};

enum lsh_err {
    LSH_OK = 0,
#define LSH_XX_(name, msg) LSH_E##name = -(LSH_ERRIDX_##name + 1),
    LSH_ERR_MAP(LSH_XX_)
#undef LSH_XX_
};

#if defined(__GNUC__)
#define LSH_MUST_CHECK __attribute__((warn_unused_result))
#else
#define LSH_MUST_CHECK
#endif

/* Returns a static message for a code; unknown codes give "unknown error". */
const char *lsh_strerror(int code);

/* Returns the static name of a code without the prefix ("TRUNCATED"). */
const char *lsh_errname(int code);

#endif
