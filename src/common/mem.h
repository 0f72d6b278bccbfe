/*
 * Memory helpers: zeroing frees for secrets and checked size arithmetic.
 */
#ifndef LSH_COMMON_MEM_H
#define LSH_COMMON_MEM_H

#include <stddef.h>

/* Overwrites n bytes at p with zeros in a way the compiler keeps. */
void lsh_memzero(void *p, size_t n);

/* Zeroes n bytes at p, then frees p.  p may be NULL. */
void lsh_freezero(void *p, size_t n);

/* Constant-time comparison: 0 when equal. */
int lsh_memeq_ct(const void *a, const void *b, size_t n);

/* Sets *out = a + b; returns nonzero on overflow (out then undefined). */
#define lsh_add_overflow(a, b, out) __builtin_add_overflow((a), (b), (out))
#define lsh_mul_overflow(a, b, out) __builtin_mul_overflow((a), (b), (out))

#endif
