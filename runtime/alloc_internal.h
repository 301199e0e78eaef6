/* alloc_internal.h - every allocation inside libdort goes through these. */
#ifndef DORT_ALLOC_INTERNAL_H
#define DORT_ALLOC_INTERNAL_H

#include <stddef.h>

void *dort__malloc(size_t size);
void *dort__calloc(size_t count, size_t size);
void *dort__realloc(void *ptr, size_t size);
void dort__free(void *ptr);
/* Copies `len` bytes and appends a NUL; NULL when out of memory. */
char *dort__strndup(const char *s, size_t len);
char *dort__strdup(const char *s);
void *dort__memdup(const void *p, size_t len);

#endif
