/* registry.c - actor classes and namespace bindings. */
#include <string.h>

#include <openssl/sha.h>

#include "alloc_internal.h"
#include "rt_internal.h"

static const dort_class_t *find_class(const dort_rt_t *rt, const char *name)
{
    for (uint32_t i = 0; i < rt->nclasses; i++)
        if (strcmp(rt->classes[i]->name, name) == 0)
            return rt->classes[i];
    return NULL;
}

int dort_rt_register_class(dort_rt_t *rt, const dort_class_t *cls)
{
    if (rt == NULL || cls == NULL || cls->name == NULL || cls->name[0] == '\0' ||
        cls->fetch == NULL)
        return DORT_EINVAL;
    if (rt->state != DORT__RT_NEW)
        return DORT_ESTATE;
    if (find_class(rt, cls->name) != NULL)
        return DORT_EEXIST;
    if (rt->nclasses == rt->classes_cap) {
        uint32_t cap = rt->classes_cap ? rt->classes_cap * 2 : 8;
        const dort_class_t **n = dort__realloc(rt->classes, (size_t)cap * sizeof *n);
        if (n == NULL)
            return DORT_ENOMEM;
        rt->classes = n;
        rt->classes_cap = cap;
    }
    rt->classes[rt->nclasses++] = cls;
    return 0;
}

dort_ns_t *dort_rt_namespace(dort_rt_t *rt, const char *binding)
{
    if (rt == NULL || binding == NULL)
        return NULL;
    for (uint32_t i = 0; i < rt->nns; i++)
        if (strcmp(rt->nss[i]->binding, binding) == 0)
            return rt->nss[i];
    return NULL;
}

static int unique_key_taken(const dort_rt_t *rt, const char *key)
{
    for (uint32_t i = 0; i < rt->nns; i++)
        if (strcmp(rt->nss[i]->unique_key, key) == 0)
            return 1;
    return 0;
}

static int grow_nss(dort_rt_t *rt)
{
    if (rt->nns < rt->nss_cap)
        return 0;
    uint32_t cap = rt->nss_cap ? rt->nss_cap * 2 : 8;
    dort_ns_t **n = dort__realloc(rt->nss, (size_t)cap * sizeof *n);
    if (n == NULL)
        return DORT_ENOMEM;
    rt->nss = n;
    rt->nss_cap = cap;
    return 0;
}

int dort_rt_bind_namespace(dort_rt_t *rt, const char *binding, const char *class_name,
                           const char *unique_key, dort_ns_t **out)
{
    if (rt == NULL || binding == NULL || binding[0] == '\0' || class_name == NULL)
        return DORT_EINVAL;
    if (rt->state != DORT__RT_NEW)
        return DORT_ESTATE;
    const dort_class_t *cls = find_class(rt, class_name);
    if (cls == NULL)
        return DORT_ENOCLASS;
    if (unique_key == NULL)
        unique_key = class_name;
    if (dort_rt_namespace(rt, binding) != NULL || unique_key_taken(rt, unique_key))
        return DORT_EEXIST;
    if (grow_nss(rt) != 0)
        return DORT_ENOMEM;
    dort_ns_t *ns = dort__calloc(1, sizeof *ns);
    if (ns == NULL)
        return DORT_ENOMEM;
    ns->binding = dort__strdup(binding);
    ns->unique_key = dort__strdup(unique_key);
    if (ns->binding == NULL || ns->unique_key == NULL) {
        dort__free(ns->binding);
        dort__free(ns->unique_key);
        dort__free(ns);
        return DORT_ENOMEM;
    }
    ns->rt = rt;
    ns->cls = cls;
    ns->index = rt->nns;
    SHA256((const unsigned char *)unique_key, strlen(unique_key), ns->key);
    if (dort__ns_mac_init(ns) != 0) {
        dort__free(ns->binding);
        dort__free(ns->unique_key);
        dort__free(ns);
        return DORT_ECRYPTO;
    }
    rt->nss[rt->nns++] = ns;
    if (out != NULL)
        *out = ns;
    return 0;
}

const char *dort_ns_binding(const dort_ns_t *ns)
{
    return ns->binding;
}

const dort_class_t *dort_ns_class(const dort_ns_t *ns)
{
    return ns->cls;
}

dort_rt_t *dort_ns_rt(const dort_ns_t *ns)
{
    return ns->rt;
}

void dort__registry_release(dort_rt_t *rt);
void dort__registry_release(dort_rt_t *rt)
{
    for (uint32_t i = 0; i < rt->nns; i++) {
        dort__ns_mac_release(rt->nss[i]);
        dort__free(rt->nss[i]->binding);
        dort__free(rt->nss[i]->unique_key);
        dort__free(rt->nss[i]);
    }
    dort__free(rt->nss);
    dort__free(rt->classes);
    rt->nss = NULL;
    rt->classes = NULL;
    rt->nns = rt->nclasses = 0;
}
