/*
 * libFuzzer target for the lsh_rd wire readers (src/common/rd.c).
 * The first byte picks a sequence of getters; the rest is the input.
 * Each getter must stay in bounds and leave the cursor unmoved on failure.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/rd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_roundtrip_mpint(const uint8_t *mag, size_t n, int neg)
{
    /* A value we parsed must re-encode to the same bytes. */
    lsh_buf b;
    lsh_rd rd;
    const uint8_t *m2;
    size_t n2;
    int neg2;
    lsh_buf_init(&b, 0);
    if (!neg && lsh_buf_put_mpint_unsigned(&b, mag, n) == 0) {
        lsh_rd_init(&rd, lsh_buf_ptr(&b), lsh_buf_len(&b));
        if (lsh_rd_mpint(&rd, &neg2, &m2, &n2) != 0 || neg2 || n2 != n ||
            (n > 0 && memcmp(m2, mag, n) != 0)) {
            abort();
        }
    }
    lsh_buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lsh_rd rd;
    uint8_t ops;
    if (size < 1) {
        return 0;
    }
    ops = data[0];
    lsh_rd_init(&rd, data + 1, size - 1);
    for (int i = 0; i < 64 && lsh_rd_remaining(&rd) > 0; i++) {
        size_t before = rd.pos, n;
        const uint8_t *p;
        const char *s;
        uint32_t u32;
        uint64_t u64;
        uint8_t u8;
        int b, r, neg;
        lsh_rd sub;
        switch ((ops + i) % 9) {
        case 0: r = lsh_rd_u8(&rd, &u8); break;
        case 1: r = lsh_rd_u32(&rd, &u32); break;
        case 2: r = lsh_rd_u64(&rd, &u64); break;
        case 3: r = lsh_rd_bool(&rd, &b); break;
        case 4: r = lsh_rd_string(&rd, &p, &n); break;
        case 5: r = lsh_rd_text(&rd, &p, &n); break;
        case 6:
            r = lsh_rd_mpint(&rd, &neg, &p, &n);
            if (r == 0) {
                check_roundtrip_mpint(p, n, neg);
            }
            break;
        case 7:
            r = lsh_rd_namelist(&rd, &s, &n);
            if (r == 0) {
                size_t pos = 0, nl;
                const char *name;
                while (lsh_namelist_next(s, n, &pos, &name, &nl)) {
                    if (nl == 0) {
                        abort();
                    }
                }
            }
            break;
        default: r = lsh_rd_sub(&rd, &sub); break;
        }
        if (r != 0 && rd.pos != before) {
            abort();
        }
        if (rd.pos > rd.len) {
            abort();
        }
        if (r != 0) {
            break;
        }
    }
    (void)lsh_rd_end(&rd);
    return 0;
}
