/* fuzz_config.c - libFuzzer target for the config loader.
 *
 * Each input is loaded as a JSON config from memory; a config that loads is
 * then exercised through every accessor and the name checks, and the same
 * bytes are parsed as a `.dev.vars` file on top of it (or on top of a fixed
 * minimal config when the JSON did not load). Nothing may crash, leak or
 * produce an error struct that is not NUL-terminated.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined ... fuzz_config.c
 * With -DDORT_FUZZ_REPLAY it is a plain program instead: it replays each file
 * named on the command line, or every file in a directory argument, so the
 * committed corpus runs as a regression test without libFuzzer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dort/config.h>
#include <dort/errors.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char minimal[] = "{\"name\":\"fuzz\",\"secrets\":[\"MASTER_KEY\"],\"vars\":{\"A\":1}}";
static const char *const classes[] = {"RateLimiter", "Account", NULL};
static const char *const workers[] = {"api", "cron", "sync_consumer", NULL};

static void check_error(const dort_config_error_t *err)
{
    char buf[1024];
    if (memchr(err->path, '\0', sizeof err->path) == NULL ||
        memchr(err->message, '\0', sizeof err->message) == NULL || err->line < 0 ||
        err->column < 0 || (err->path[0] != '\0' && err->path[0] != '$') || err->message[0] == '\0')
        abort();
    if (dort_config_error_format(err, "fuzz.json", buf, sizeof buf) < 0)
        abort();
}

static void exercise(const dort_config_t *cfg)
{
    const dort_config_do_binding_t *b;
    const dort_config_producer_t *p;
    const dort_config_consumer_t *c;
    const dort_config_json_var_t *v;
    const char *const *s;
    const char *missing[4];
    dort_config_error_t err;
    size_t n;
    if (dort_config_name(cfg) == NULL || dort_config_dir(cfg) == NULL ||
        dort_config_dev(cfg)->ip == NULL || dort_config_dev(cfg)->port == 0)
        abort();
    n = dort_config_do_bindings(cfg, &b);
    for (size_t i = 0; i < n; i++)
        if (b[i].name == NULL || b[i].class_name == NULL)
            abort();
    n = dort_config_producers(cfg, &p);
    for (size_t i = 0; i < n; i++)
        if (p[i].binding == NULL || p[i].queue == NULL)
            abort();
    n = dort_config_consumers(cfg, &c);
    for (size_t i = 0; i < n; i++)
        if (c[i].queue == NULL || c[i].worker == NULL || c[i].max_batch_size < 1 ||
            c[i].max_batch_size > 100)
            abort();
    n = dort_config_json_vars(cfg, &v);
    for (size_t i = 0; i < n; i++)
        if (dort_config_var(cfg, v[i].name) == NULL)
            abort();
    n = dort_config_crons(cfg, &s);
    for (size_t i = 0; i < n; i++)
        if (s[i] == NULL)
            abort();
    dort_config_missing_secrets(cfg, missing, 4);
    if (dort_config_check_names(cfg, classes, workers, &err) != 0)
        check_error(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dort_config_error_t err;
    dort_config_t *cfg = NULL;
    int rc = dort_config_load_buffer((const char *)data, size, &cfg, &err);
    if (rc != 0) {
        if (rc != DORT_ECONFIG || cfg != NULL)
            abort();
        check_error(&err);
        if (dort_config_load_buffer(minimal, sizeof minimal - 1, &cfg, &err) != 0)
            abort();
    }
    exercise(cfg);
    rc = dort_config_load_dev_vars_buffer(cfg, (const char *)data, size, &err);
    if (rc == DORT_ECONFIG)
        check_error(&err);
    else if (rc != 0)
        abort();
    exercise(cfg);
    dort_config_free(cfg);
    return 0;
}

#ifdef DORT_FUZZ_REPLAY
#include <dirent.h>
#include <sys/stat.h>

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long len;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)len + 1)) == NULL ||
        fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "fuzz_config: cannot read %s\n", path);
        if (f != NULL)
            fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)len);
    free(buf);
    return 0;
}

static int replay(const char *path, int *count)
{
    struct stat st;
    struct dirent *e;
    DIR *d;
    int rc = 0;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "fuzz_config: no such file %s\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        (*count)++;
        return replay_file(path);
    }
    if ((d = opendir(path)) == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        char sub[4096];
        if (e->d_name[0] == '.')
            continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        if (stat(sub, &st) == 0 && S_ISREG(st.st_mode)) {
            (*count)++;
            rc |= replay_file(sub);
        }
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 0, count = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        rc |= replay(argv[i], &count);
    printf("fuzz_config: replayed %d input(s)\n", count);
    return rc != 0 || count == 0;
}
#endif
