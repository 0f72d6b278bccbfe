#include "common/mem.h"

#include <stdlib.h>
#include <string.h>

void
lsh_memzero(void *p, size_t n)
{
    /* A volatile function pointer keeps the store from being elided. */
    static void *(*const volatile set)(void *, int, size_t) = memset;
    if (p != NULL && n > 0) {
        set(p, 0, n);
    }
}

void
lsh_freezero(void *p, size_t n)
{
    if (p == NULL) {
        return;
    }
    lsh_memzero(p, n);
    free(p);
}

int
lsh_memeq_ct(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a;
    const volatile unsigned char *y = b;
    unsigned char acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc |= (unsigned char)(x[i] ^ y[i]);
    }
    return acc != 0;
}
