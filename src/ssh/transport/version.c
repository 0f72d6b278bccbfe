/*
 * Protocol version exchange (RFC 4253 §4.2).
 *
 *   SSH-protoversion-softwareversion SP comments CR LF
 *
 * The identification line is at most 255 bytes including CR LF.  A server
 * may send other lines first (a banner); a client accepts up to
 * LSH_BANNER_LINES_MAX of them, each at most LSH_BANNER_LINE_MAX bytes.  A
 * client must not send any, so a server refuses them.  NUL bytes are
 * refused everywhere, and so is SSH-1.x other than the compatibility
 * version 1.99.  A bare LF is accepted as a line end, as OpenSSH does.
 */
#include <stdio.h>
#include <string.h>

#include "ssh/conn_internal.h"

int
lsh__version_make(lsh_conn *c)
{
    int r;
    if ((r = lsh_buf_put(&c->out, c->our_version,
                         strlen(c->our_version))) != 0 ||
        (r = lsh_buf_put(&c->out, "\r\n", 2)) != 0) {
        return r;
    }
    c->bytes_out += strlen(c->our_version) + 2;
    return 0;
}

static int
check_identification(lsh_conn *c, const char *line, size_t n)
{
    const char *proto = line + 4, *dash;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)line[i];
        if (ch < 0x20 || ch == 0x7f) {
            return lsh__conn_fail(c, LSH_EBADVERSION,
                                  LSH_DISCONNECT_PROTOCOL_ERROR,
                                  "control character in the peer's "
                                  "identification string");
        }
    }
    dash = memchr(proto, '-', n - 4);
    if (dash == NULL || dash == proto || dash + 1 == line + n) {
        return lsh__conn_fail(c, LSH_EBADVERSION,
                              LSH_DISCONNECT_PROTOCOL_ERROR,
                              "malformed identification string '%.*s'",
                              (int)n, line);
    }
    if (!((dash - proto == 3 && memcmp(proto, "2.0", 3) == 0) ||
          (dash - proto == 4 && memcmp(proto, "1.99", 4) == 0))) {
        return lsh__conn_fail(c, LSH_EBADVERSION,
                              LSH_DISCONNECT_PROTOCOL_VERSION_NOT_SUPPORTED,
                              "unsupported protocol version '%.*s' (only "
                              "SSH-2.0 is spoken)",
                              (int)(dash - proto), proto);
    }
    memcpy(c->peer_version, line, n);
    c->peer_version[n] = '\0';
    c->version_done = 1;
    lsh__conn_log(c, LSH_LOG_DEBUG, "peer version: %s", c->peer_version);
    return 0;
}

int
lsh__version_process(lsh_conn *c)
{
    while (!c->version_done) {
        const uint8_t *p = lsh_buf_ptr(&c->in);
        size_t avail = lsh_buf_len(&c->in), n, len;
        const uint8_t *nl;
        int is_ident;

        if (avail == 0) {
            return 0; /* need more (and the buffer may have no storage) */
        }
        nl = memchr(p, '\n', avail);

        if (avail >= 4) {
            is_ident = memcmp(p, "SSH-", 4) == 0;
        } else {
            is_ident = memcmp(p, "SSH-", avail) == 0;
        }
        if (memchr(p, 0, nl ? (size_t)(nl - p) : avail) != NULL) {
            return lsh__conn_fail(c, LSH_EBADVERSION,
                                  LSH_DISCONNECT_PROTOCOL_ERROR,
                                  "NUL byte in the peer's version exchange");
        }
        if (nl == NULL) {
            size_t cap = is_ident ? LSH_VERSION_LINE_MAX
                                  : LSH_BANNER_LINE_MAX;
            if (avail > cap) {
                return lsh__conn_fail(
                    c, LSH_EBADVERSION, LSH_DISCONNECT_PROTOCOL_ERROR,
                    is_ident ? "identification string longer than 255 bytes"
                             : "pre-identification line too long");
            }
            return 0; /* need more */
        }
        len = (size_t)(nl - p) + 1;
        n = len - 1;
        if (n > 0 && p[n - 1] == '\r') {
            n--;
        }
        if (is_ident) {
            int r;
            if (len > LSH_VERSION_LINE_MAX) {
                return lsh__conn_fail(c, LSH_EBADVERSION,
                                      LSH_DISCONNECT_PROTOCOL_ERROR,
                                      "identification string longer than "
                                      "255 bytes");
            }
            r = check_identification(c, (const char *)p, n);
            (void)lsh_buf_consume(&c->in, len);
            return r;
        }
        if (c->role == LSH_ROLE_SERVER) {
            return lsh__conn_fail(c, LSH_EBADVERSION,
                                  LSH_DISCONNECT_PROTOCOL_ERROR,
                                  "the client did not start with an SSH "
                                  "identification string");
        }
        if (len > LSH_BANNER_LINE_MAX ||
            ++c->banner_lines > LSH_BANNER_LINES_MAX) {
            return lsh__conn_fail(c, LSH_EBADVERSION,
                                  LSH_DISCONNECT_PROTOCOL_ERROR,
                                  "too much text before the server's "
                                  "identification string");
        }
        (void)lsh_buf_consume(&c->in, len);
    }
    return 0;
}
