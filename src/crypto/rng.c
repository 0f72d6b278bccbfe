#include "crypto/rng.h"

#include <string.h>

#include <openssl/rand.h>

#include "common/error.h"
#include "common/mem.h"

#define POOL 4096

static _Thread_local uint8_t pool[POOL];
static _Thread_local size_t avail;

int
lsh_rng_fill(void *ctx, uint8_t *out, size_t n)
{
    (void)ctx;
    if (n >= POOL / 2) {
        return RAND_bytes(out, (int)n) == 1 ? 0 : LSH_ECRYPTO;
    }
    while (n > 0) {
        size_t take;
        if (avail == 0) {
            if (RAND_bytes(pool, POOL) != 1) {
                return LSH_ECRYPTO;
            }
            avail = POOL;
        }
        take = n < avail ? n : avail;
        /* Hand out bytes from the end and wipe them: never reused. */
        memcpy(out, pool + avail - take, take);
        lsh_memzero(pool + avail - take, take);
        avail -= take;
        out += take;
        n -= take;
    }
    return 0;
}
