/* alloc.c - the replaceable allocator. The function pointers are process-wide
 * because memory may move between runtimes (a host frees what dort returned). */
#include <stdlib.h>
#include <string.h>

#include <dort/alloc.h>
#include <dort/errors.h>

#include "alloc_internal.h"

static dort_malloc_fn a_malloc = malloc;
static dort_realloc_fn a_realloc = realloc;
static dort_calloc_fn a_calloc = calloc;
static dort_free_fn a_free = free;

int dort_replace_allocator(dort_malloc_fn m, dort_realloc_fn r, dort_calloc_fn c, dort_free_fn f)
{
    if (m == NULL || r == NULL || c == NULL || f == NULL)
        return DORT_EINVAL;
    a_malloc = m;
    a_realloc = r;
    a_calloc = c;
    a_free = f;
    return 0;
}

void dort_free(void *ptr)
{
    a_free(ptr);
}

void *dort__malloc(size_t size)
{
    /* malloc(0) may return NULL, which callers would take for out-of-memory. */
    return a_malloc(size ? size : 1);
}

void *dort__calloc(size_t count, size_t size)
{
    if (count == 0 || size == 0)
        count = size = 1;
    return a_calloc(count, size);
}

void *dort__realloc(void *ptr, size_t size)
{
    return a_realloc(ptr, size ? size : 1);
}

void dort__free(void *ptr)
{
    a_free(ptr);
}

char *dort__strndup(const char *s, size_t len)
{
    char *d = a_malloc(len + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *dort__strdup(const char *s)
{
    return dort__strndup(s, strlen(s));
}

void *dort__memdup(const void *p, size_t len)
{
    void *d = a_malloc(len ? len : 1);
    if (d != NULL && len)
        memcpy(d, p, len);
    return d;
}
