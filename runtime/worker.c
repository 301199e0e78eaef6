/* worker.c - the worker registry and the runtime's variables/secrets. */
#include <string.h>

#include "alloc_internal.h"
#include "rt_internal.h"
#include "worker_internal.h"

int dort_rt_add_worker(dort_rt_t *rt, const dort_worker_class_t *wc, dort_worker_t **out)
{
    if (rt == NULL || wc == NULL || wc->name == NULL || wc->name[0] == '\0')
        return DORT_EINVAL;
    if (rt->state != DORT__RT_NEW)
        return DORT_ESTATE;
    if (dort_rt_worker(rt, wc->name) != NULL)
        return DORT_EEXIST;
    if (rt->nworkers == rt->workers_cap) {
        uint32_t cap = rt->workers_cap ? rt->workers_cap * 2 : 4;
        dort_worker_t **n = dort__realloc(rt->workers, cap * sizeof *n);
        if (n == NULL)
            return DORT_ENOMEM;
        rt->workers = n;
        rt->workers_cap = cap;
    }
    dort_worker_t *w = dort__calloc(1, sizeof *w);
    if (w == NULL)
        return DORT_ENOMEM;
    w->rt = rt;
    w->cls = wc;
    rt->workers[rt->nworkers++] = w;
    if (out != NULL)
        *out = w;
    return 0;
}

dort_worker_t *dort_rt_worker(dort_rt_t *rt, const char *name)
{
    for (uint32_t i = 0; rt != NULL && name != NULL && i < rt->nworkers; i++)
        if (strcmp(rt->workers[i]->cls->name, name) == 0)
            return rt->workers[i];
    return NULL;
}

const dort_worker_class_t *dort_worker_class(const dort_worker_t *w)
{
    return w->cls;
}

int dort_rt_set_var(dort_rt_t *rt, const char *name, const char *value)
{
    if (rt == NULL || name == NULL || name[0] == '\0' || value == NULL)
        return DORT_EINVAL;
    char *v = dort__strdup(value);
    if (v == NULL)
        return DORT_ENOMEM;
    for (uint32_t i = 0; i < rt->nvars; i++) {
        if (strcmp(rt->vars[i].name, name) == 0) {
            dort__free(rt->vars[i].value);
            rt->vars[i].value = v;
            return 0;
        }
    }
    dort__var_t *n = dort__realloc(rt->vars, (rt->nvars + 1) * sizeof *n);
    char *k = dort__strdup(name);
    if (n == NULL || k == NULL) {
        if (n != NULL)
            rt->vars = n;
        dort__free(k);
        dort__free(v);
        return DORT_ENOMEM;
    }
    rt->vars = n;
    rt->vars[rt->nvars].name = k;
    rt->vars[rt->nvars].value = v;
    rt->nvars++;
    return 0;
}

const char *dort_rt_var(const dort_rt_t *rt, const char *name)
{
    for (uint32_t i = 0; rt != NULL && name != NULL && i < rt->nvars; i++)
        if (strcmp(rt->vars[i].name, name) == 0)
            return rt->vars[i].value;
    return NULL;
}

void dort__workers_release(dort_rt_t *rt)
{
    for (uint32_t i = 0; i < rt->nworkers; i++)
        dort__free(rt->workers[i]);
    dort__free(rt->workers);
    for (uint32_t i = 0; i < rt->nvars; i++) {
        dort__free(rt->vars[i].name);
        dort__free(rt->vars[i].value);
    }
    dort__free(rt->vars);
    rt->workers = NULL;
    rt->vars = NULL;
    rt->nworkers = rt->nvars = 0;
}
