/*
 * libFuzzer target for the agent protocol's reply side
 * (src/ssh/connection/agent.c): what an agent sends back is cut into
 * messages with lsh_agent_frame and each message is read by every
 * parser, as a client that got a confused or hostile agent would.
 *
 * Invariants: a frame never reaches past the input, its length matches
 * its prefix; identities handed to the callback lie inside the message;
 * a parser that accepts a message also accepts it again identically.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ssh/connection/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct bounds {
    const uint8_t *lo, *hi;
    unsigned count;
} bounds;

static int
check_identity(void *ctx, const lsh_agent_identity *id)
{
    bounds *b = ctx;
    if (id->blob < b->lo || id->blob + id->blob_len > b->hi ||
        id->comment < b->lo || id->comment + id->comment_len > b->hi) {
        abort();
    }
    b->count++;
    return 0;
}

static void
parse_all(const uint8_t *body, size_t n)
{
    const uint8_t *sig, *sig2;
    size_t sl, sl2;
    bounds b = {body, body + n, 0}, b2 = {body, body + n, 0};
    int r, r2;

    (void)lsh_agent_parse_status(body, n);
    r = lsh_agent_parse_identities(body, n, check_identity, &b);
    r2 = lsh_agent_parse_identities(body, n, check_identity, &b2);
    if (r != r2 || b.count != b2.count ||
        b.count > LSH_AGENT_MAX_KEYS) {
        abort();
    }
    r = lsh_agent_parse_sign(body, n, &sig, &sl);
    if (r == 0) {
        if (sig < body || sig + sl > body + n ||
            lsh_agent_parse_sign(body, n, &sig2, &sl2) != 0 || sig2 != sig ||
            sl2 != sl) {
            abort();
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        const uint8_t *body;
        size_t blen, total;
        int r = lsh_agent_frame(data + off, size - off, &body, &blen, &total);
        if (r != 1) {
            break;
        }
        if (total != blen + 4 || total > size - off ||
            body != data + off + 4) {
            abort();
        }
        parse_all(body, blen);
        off += total;
    }
    return 0;
}
