/*
 * Shared helpers for the C unit tests (cmocka).
 */
#ifndef LSH_TESTUTIL_H
#define LSH_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Decodes hex (whitespace ignored) into a malloc'd buffer; caller frees. */
static inline uint8_t *
tu_unhex(const char *hex, size_t *outlen)
{
    size_t n = strlen(hex), k = 0;
    uint8_t *out = malloc(n / 2 + 1);
    int hi = -1;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)hex[i], v;
        if (c >= '0' && c <= '9') {
            v = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            v = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            v = c - 'A' + 10;
        } else {
            continue;
        }
        if (hi < 0) {
            hi = v;
        } else {
            out[k++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    *outlen = k;
    return out;
}

/* Asserts that mem[0..n) equals the bytes spelled by hex. */
#define tu_assert_hex(mem, n, hex)                                        \
    do {                                                                  \
        size_t tu_len_;                                                   \
        uint8_t *tu_exp_ = tu_unhex((hex), &tu_len_);                     \
        assert_int_equal((n), tu_len_);                                   \
        assert_memory_equal((mem), tu_exp_, tu_len_);                     \
        free(tu_exp_);                                                    \
    } while (0)

#endif
