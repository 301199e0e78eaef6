/* dort/alloc.h - replace the allocator dort uses for all of its memory. */
#ifndef DORT_ALLOC_H
#define DORT_ALLOC_H

#include <dort/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void *(*dort_malloc_fn)(size_t size);
typedef void *(*dort_realloc_fn)(void *ptr, size_t size);
typedef void *(*dort_calloc_fn)(size_t count, size_t size);
typedef void (*dort_free_fn)(void *ptr);

/* Makes dort allocate through the given functions instead of the C library's.
 * Call it before creating any runtime and never while one exists: memory
 * allocated by one allocator must be freed by the same one. All four
 * functions are required. Returns 0, or DORT_EINVAL when one is NULL.
 * Not thread-safe; process-wide (like uv_replace_allocator). */
DORT_EXTERN int dort_replace_allocator(dort_malloc_fn malloc_fn, dort_realloc_fn realloc_fn,
                                       dort_calloc_fn calloc_fn, dort_free_fn free_fn);

/* Frees memory that dort handed to the caller with "free with dort_free" in
 * its documentation (e.g. strings it formatted). NULL is accepted. */
DORT_EXTERN void dort_free(void *ptr);

#ifdef __cplusplus
}
#endif
#endif
