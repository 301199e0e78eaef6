/* debug_internal.h - assertions for invariants and the impossible. */
#ifndef DORT_DEBUG_INTERNAL_H
#define DORT_DEBUG_INTERNAL_H

#include <stdio.h>
#include <stdlib.h>

#define DORT_BUG(msg)                                                                              \
    do {                                                                                           \
        fprintf(stderr, "dort: bug at %s:%d: %s\n", __FILE__, __LINE__, (msg));                    \
        abort();                                                                                   \
    } while (0)

#ifdef NDEBUG
#define DORT_ASSERT(cond) ((void)0)
#else
#define DORT_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            DORT_BUG("assertion failed: " #cond);                                                  \
    } while (0)
#endif

#define dort__container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#endif
