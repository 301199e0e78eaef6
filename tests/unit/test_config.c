/* test_config.c - the JSON config loader, its error positions, `.dev.vars`,
 * the precedence of values and the name checks.
 *
 * Fixtures live in tests/unit/config/. The directory is taken from the
 * DORT_CONFIG_FIXTURES environment variable, else from argv[1], else
 * ./config when it exists (running from tests/unit), else the config/
 * directory beside this source file (__FILE__). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <dort/alloc.h>
#include <dort/config.h>
#include <dort/errors.h>

static char fixture_dir[1024];

static const char *fx(const char *name)
{
    static char bufs[4][1200];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", fixture_dir, name);
    return b;
}

static dort_config_t *load_ok(const char *name)
{
    dort_config_error_t err;
    dort_config_t *cfg = NULL;
    int rc = dort_config_load_file(fx(name), &cfg, &err);
    if (rc != 0)
        print_error("%s:%d:%d: %s: %s\n", name, err.line, err.column, err.path, err.message);
    assert_int_equal(rc, 0);
    assert_non_null(cfg);
    return cfg;
}

static dort_config_t *load_str(const char *json)
{
    dort_config_error_t err;
    dort_config_t *cfg = NULL;
    int rc = dort_config_load_buffer(json, strlen(json), &cfg, &err);
    if (rc != 0)
        print_error("%d:%d: %s: %s\n", err.line, err.column, err.path, err.message);
    assert_int_equal(rc, 0);
    return cfg;
}

static void check_err(const dort_config_error_t *err, const char *path, int line, int col,
                      const char *needle)
{
    if (strcmp(err->path, path) != 0 || err->line != line || (col && err->column != col) ||
        strstr(err->message, needle) == NULL)
        print_error("got %d:%d: '%s': %s\n", err->line, err->column, err->path, err->message);
    assert_string_equal(err->path, path);
    assert_int_equal(err->line, line);
    if (col)
        assert_int_equal(err->column, col);
    assert_non_null(strstr(err->message, needle));
}

/* Loads fixture `name`, expects DORT_ECONFIG at path/line/column (0: any)
 * with `needle` in the message. */
static void expect_file_error(const char *name, const char *path, int line, int col,
                              const char *needle)
{
    dort_config_error_t err;
    dort_config_t *cfg = (dort_config_t *)&err; /* must be reset to NULL */
    assert_int_equal(dort_config_load_file(fx(name), &cfg, &err), DORT_ECONFIG);
    assert_null(cfg);
    check_err(&err, path, line, col, needle);
}

static void expect_str_error(const char *json, const char *path, int line, const char *needle)
{
    dort_config_error_t err;
    dort_config_t *cfg = NULL;
    assert_int_equal(dort_config_load_buffer(json, strlen(json), &cfg, &err), DORT_ECONFIG);
    assert_null(cfg);
    check_err(&err, path, line, 0, needle);
}

/* ---- loading ---- */

static void full_example_bindings(void **state)
{
    const dort_config_do_binding_t *b;
    const dort_config_producer_t *p;
    const dort_config_consumer_t *c;
    (void)state;
    dort_config_t *cfg = load_ok("good_full.json");
    assert_string_equal(dort_config_name(cfg), "tminus");
    assert_string_equal(dort_config_compatibility_date(cfg), "2025-01-01");
    assert_string_equal(dort_config_dir(cfg), fixture_dir);
    assert_string_equal(dort_config_fetch_worker(cfg), "api");
    assert_string_equal(dort_config_scheduled_worker(cfg), "cron");

    assert_int_equal(dort_config_do_bindings(cfg, &b), 4);
    assert_string_equal(b[0].name, "RATE_LIMITER");
    assert_string_equal(b[0].class_name, "RateLimiter");
    assert_string_equal(b[1].name, "ACCOUNT");
    assert_string_equal(b[1].class_name, "Account");
    assert_string_equal(b[2].class_name, "UserGraph");
    assert_string_equal(b[3].name, "CHAT_SESSION");
    assert_string_equal(b[3].class_name, "ChatSession");

    assert_int_equal(dort_config_producers(cfg, &p), 2);
    assert_string_equal(p[0].binding, "SYNC_QUEUE");
    assert_string_equal(p[0].queue, "sync");
    assert_string_equal(p[1].binding, "WRITE_QUEUE");
    assert_string_equal(p[1].queue, "write");

    assert_int_equal(dort_config_consumers(cfg, &c), 2);
    assert_string_equal(c[0].queue, "sync");
    assert_string_equal(c[0].worker, "sync_consumer");
    assert_int_equal(c[0].max_batch_size, 10);
    assert_int_equal(c[0].max_batch_timeout_s, 5);
    assert_int_equal(c[0].max_retries, 3);
    assert_int_equal(c[0].retry_delay_s, 0);
    assert_string_equal(c[0].dead_letter_queue, "sync-dlq");
    assert_string_equal(c[1].queue, "write");
    assert_string_equal(c[1].worker, "write_consumer");
    assert_int_equal(c[1].max_batch_size, 25);
    assert_int_equal(c[1].max_batch_timeout_s, 2);
    assert_int_equal(c[1].max_retries, 5);
    assert_int_equal(c[1].retry_delay_s, 30);
    assert_null(c[1].dead_letter_queue);

    dort_config_free(cfg);
}

static void full_example_sections(void **state)
{
    const dort_config_json_var_t *v;
    const char *const *s;
    (void)state;
    dort_config_t *cfg = load_ok("good_full.json");
    assert_int_equal(dort_config_crons(cfg, &s), 2);
    assert_string_equal(s[0], "*/5 * * * *");
    assert_string_equal(s[1], "0 3 * * 1");

    assert_int_equal(dort_config_json_vars(cfg, &v), 4);
    assert_string_equal(v[0].name, "ENVIRONMENT");
    assert_string_equal(v[0].value, "development");
    assert_true(v[0].is_string);
    assert_string_equal(v[1].name, "RETENTION_DAYS");
    assert_string_equal(v[1].value, "30");
    assert_false(v[1].is_string);
    assert_string_equal(v[2].value, "1.50");
    assert_string_equal(v[3].name, "DEBUG");
    assert_string_equal(v[3].value, "false");

    assert_int_equal(dort_config_secrets(cfg, &s), 2);
    assert_string_equal(s[0], "MASTER_KEY");
    assert_string_equal(s[1], "JWT_SECRET");

    assert_string_equal(dort_config_dev(cfg)->ip, "127.0.0.1");
    assert_int_equal(dort_config_dev(cfg)->port, 8788);
    assert_string_equal(dort_config_storage(cfg)->persist_to, ".dort/state");
    assert_int_equal(dort_config_storage(cfg)->durability, DORT_CONFIG_DURABILITY_RELAXED);
    assert_true(dort_config_storage(cfg)->max_size == 1073741824ull);
    assert_true(dort_config_limits(cfg)->max_body_bytes == 2097152);
    assert_int_equal(dort_config_limits(cfg)->max_header_bytes, 32768);
    assert_int_equal(dort_config_limits(cfg)->request_timeout_ms, 15000);
    assert_int_equal(dort_config_limits(cfg)->max_connections, 500);
    assert_true(dort_config_limits(cfg)->websocket_max_message_bytes == 1048576);
    dort_config_free(cfg);
}

static void defaults_filled(void **state)
{
    const dort_config_consumer_t *c;
    const dort_config_do_binding_t *b = (void *)1;
    (void)state;
    dort_config_t *cfg = load_ok("good_minimal.json");
    assert_string_equal(dort_config_name(cfg), "tminus");
    assert_null(dort_config_compatibility_date(cfg));
    assert_null(dort_config_fetch_worker(cfg));
    assert_null(dort_config_scheduled_worker(cfg));
    assert_int_equal(dort_config_do_bindings(cfg, &b), 0);
    assert_null(b);
    assert_int_equal(dort_config_producers(cfg, NULL), 0);
    assert_int_equal(dort_config_consumers(cfg, NULL), 0);
    assert_int_equal(dort_config_crons(cfg, NULL), 0);
    assert_int_equal(dort_config_json_vars(cfg, NULL), 0);
    assert_int_equal(dort_config_secrets(cfg, NULL), 0);
    assert_string_equal(dort_config_dev(cfg)->ip, "127.0.0.1");
    assert_int_equal(dort_config_dev(cfg)->port, 8787);
    assert_null(dort_config_storage(cfg)->persist_to);
    assert_int_equal(dort_config_storage(cfg)->durability, DORT_CONFIG_DURABILITY_UNSET);
    assert_true(dort_config_storage(cfg)->max_size == 0);
    assert_true(dort_config_limits(cfg)->max_body_bytes == 1048576);
    assert_int_equal(dort_config_limits(cfg)->max_header_bytes, 16384);
    assert_int_equal(dort_config_limits(cfg)->request_timeout_ms, 30000);
    assert_int_equal(dort_config_limits(cfg)->max_connections, 10000);
    assert_true(dort_config_limits(cfg)->websocket_max_message_bytes == 33554432);
    dort_config_free(cfg);

    /* A consumer with only the required keys gets Cloudflare's defaults. */
    cfg = load_str(
        "{\"name\":\"x\",\"queues\":{\"consumers\":[{\"queue\":\"q\",\"worker\":\"w\"}]}}");
    assert_int_equal(dort_config_consumers(cfg, &c), 1);
    assert_int_equal(c[0].max_batch_size, 10);
    assert_int_equal(c[0].max_batch_timeout_s, 5);
    assert_int_equal(c[0].max_retries, 3);
    assert_int_equal(c[0].retry_delay_s, 0);
    assert_null(c[0].dead_letter_queue);
    assert_string_equal(dort_config_dir(cfg), ".");
    dort_config_free(cfg);
}

static void missing_file_and_bad_args(void **state)
{
    dort_config_error_t err;
    dort_config_t *cfg = NULL;
    (void)state;
    assert_int_equal(dort_config_load_file(fx("no_such.json"), &cfg, &err), DORT_ENOENT);
    assert_null(cfg);
    assert_non_null(strstr(err.message, "no_such.json"));
    assert_int_equal(dort_config_load_file(fixture_dir, &cfg, &err), DORT_ESYS);
    assert_int_equal(dort_config_load_file(NULL, &cfg, &err), DORT_EINVAL);
    assert_int_equal(dort_config_load_buffer("{}", 2, NULL, &err), DORT_EINVAL);
    assert_int_equal(dort_config_load_buffer("{}", 2, &cfg, NULL), DORT_EINVAL);
    assert_int_equal(dort_config_load_buffer(NULL, 1, &cfg, &err), DORT_EINVAL);
    /* An empty buffer is invalid JSON, not an invalid argument. */
    assert_int_equal(dort_config_load_buffer(NULL, 0, &cfg, &err), DORT_ECONFIG);
    dort_config_free(NULL);
}

/* ---- one test per error class ---- */

static void error_invalid_json(void **state)
{
    (void)state;
    expect_file_error("bad_syntax.json", "", 5, 3, "invalid JSON");
    /* Bytes after the document and non-UTF-8 are jansson's to reject. */
    expect_str_error("{\"name\":\"x\"} x", "", 1, "invalid JSON");
    expect_str_error("{\"name\":\"\xff\"}", "", 1, "invalid JSON");
}

static void error_duplicate_key(void **state)
{
    (void)state;
    expect_file_error("bad_duplicate_key.json", "", 4, 0, "duplicate object key");
}

static void error_unknown_key(void **state)
{
    (void)state;
    expect_file_error("bad_unknown_key.json", "$.durable_objects.bindings[1].clas_name", 6, 28,
                      "unknown key \"clas_name\" (allowed: name, class_name)");
    expect_str_error("{\"name\":\"x\",\n\"migrations\":[]}", "$.migrations", 2,
                     "allowed: $schema, name, compatibility_date");
    /* Keys that are not identifiers are bracketed, escapes decoded. */
    expect_file_error("bad_escaped_key.json", "$.dev[\"p\xc3\xb6rt\"]", 3, 23, "allowed: ip, port");
}

static void error_wrong_type(void **state)
{
    (void)state;
    expect_file_error("bad_type.json", "$.dev.port", 5, 13, "expected integer, got string");
    expect_str_error("{\"name\":\"x\",\"queues\":{\"consumers\":[{\"queue\":\"q\",\"worker\":\"w\","
                     "\"max_batch_timeout\":2.5}]}}",
                     "$.queues.consumers[0].max_batch_timeout", 1, "got non-integer number");
    expect_str_error("{\"name\":\"x\",\"durable_objects\":[]}", "$.durable_objects", 1,
                     "expected object, got array");
    expect_str_error("{\"name\":\"x\",\"vars\":{\"A\":null}}", "$.vars.A", 1,
                     "expected string, number or boolean, got null");
    expect_str_error("{\"name\":\"x\",\"triggers\":{\"crons\":[\"* * * * *\", 5]}}",
                     "$.triggers.crons[1]", 1, "expected string, got number");
    expect_str_error("[1]", "$", 1, "expected object, got array");
}

static void error_out_of_range(void **state)
{
    (void)state;
    expect_file_error("bad_range.json", "$.queues.consumers[1].max_batch_size", 7, 27,
                      "500 is out of range (1..100)");
    expect_str_error("{\"name\":\"x\",\"dev\":{\"port\":0}}", "$.dev.port", 1, "(1..65535)");
    expect_str_error("{\"name\":\"x\",\"queues\":{\"consumers\":[{\"queue\":\"q\",\"worker\":\"w\","
                     "\"retry_delay\":86401}]}}",
                     "$.queues.consumers[0].retry_delay", 1, "(0..86400)");
    expect_str_error("{\"name\":\"x\",\"queues\":{\"consumers\":[{\"queue\":\"q\",\"worker\":\"w\","
                     "\"max_retries\":-1}]}}",
                     "$.queues.consumers[0].max_retries", 1, "out of range");
    expect_str_error("{\"name\":\"x\",\"storage\":{\"max_size\":1024}}", "$.storage.max_size", 1,
                     "out of range");
}

static void error_missing_required(void **state)
{
    (void)state;
    expect_file_error("bad_missing.json", "$.durable_objects.bindings[1].class_name", 6, 7,
                      "missing required key \"class_name\"");
    expect_str_error("{\n  \"dev\": {}\n}", "$.name", 1, "missing required key \"name\"");
    expect_str_error("{\"name\":\"x\",\"queues\":{\"consumers\":[{\"queue\":\"q\"}]}}",
                     "$.queues.consumers[0].worker", 1, "missing required key \"worker\"");
}

static void error_duplicate_binding(void **state)
{
    (void)state;
    expect_file_error("bad_duplicate_binding.json", "$.vars.ACCOUNT", 7, 5,
                      "duplicate binding name \"ACCOUNT\" (already used at "
                      "$.durable_objects.bindings[0].name)");
    expect_str_error("{\"name\":\"x\",\"durable_objects\":{\"bindings\":[{\"name\":\"Q\","
                     "\"class_name\":\"C\"}]},\"queues\":{\"producers\":[{\"binding\":\"Q\","
                     "\"queue\":\"q\"}]}}",
                     "$.queues.producers[0].binding", 1, "already used at");
    /* The earliest reuse is reported, whatever name is reused later. */
    expect_str_error("{\"name\":\"x\",\"durable_objects\":{\"bindings\":[{\"name\":\"A\","
                     "\"class_name\":\"C\"}]},\"queues\":{\"producers\":[{\"binding\":\"B\","
                     "\"queue\":\"q\"}]},\"vars\":{\"B\":1},\"secrets\":[\"A\"]}",
                     "$.vars.B", 1, "already used at $.queues.producers[0].binding");
    expect_str_error("{\"name\":\"x\",\"vars\":{\"K\":\"v\"},\n\"secrets\":[\"S\",\"K\"]}",
                     "$.secrets[1]", 2, "\"K\" (already used at $.vars.K)");
}

static void error_duplicate_consumer(void **state)
{
    (void)state;
    expect_file_error("bad_duplicate_consumer.json", "$.queues.consumers[2].queue", 7, 18,
                      "queue \"sync\" already has a consumer ($.queues.consumers[0])");
}

static void error_dlq_is_own_queue(void **state)
{
    (void)state;
    expect_file_error("bad_dlq_self.json", "$.queues.consumers[0].dead_letter_queue", 6, 30,
                      "must differ from the queue");
}

static void error_bad_names(void **state)
{
    (void)state;
    expect_str_error("{\"name\":\"Tminus\"}", "$.name", 1, "[a-z0-9-_]");
    expect_str_error("{\"name\":\"x\",\"durable_objects\":{\"bindings\":[{\"name\":\"9LIVES\","
                     "\"class_name\":\"C\"}]}}",
                     "$.durable_objects.bindings[0].name", 1, "not a valid binding name");
    expect_str_error("{\"name\":\"x\",\"queues\":{\"producers\":[{\"binding\":\"Q\","
                     "\"queue\":\"Sync\"}]}}",
                     "$.queues.producers[0].queue", 1, "not a valid queue name");
    expect_str_error("{\"name\":\"x\",\"workers\":{\"fetch\":\"a b\"}}", "$.workers.fetch", 1,
                     "not a valid worker name");
    expect_str_error("{\"name\":\"x\",\"secrets\":[\"MASTER-KEY\"]}", "$.secrets[0]", 1,
                     "not a valid binding name");
    expect_file_error("bad_utf8_column.json", "$.vars[\"bad-name\"]", 3, 45,
                      "not a valid binding name");
    expect_str_error("{\"name\":\"x\",\"triggers\":{\"crons\":[\"\"]}}", "$.triggers.crons[0]", 1,
                     "must not be empty");
}

static void error_bad_values(void **state)
{
    (void)state;
    expect_str_error("{\"name\":\"x\",\"compatibility_date\":\"2025-02-30\"}",
                     "$.compatibility_date", 1, "YYYY-MM-DD");
    expect_str_error("{\"name\":\"x\",\"compatibility_date\":\"2023-02-29\"}",
                     "$.compatibility_date", 1, "YYYY-MM-DD");
    expect_str_error("{\"name\":\"x\",\"storage\":{\"durability\":\"fast\"}}",
                     "$.storage.durability", 1, "allowed: full, relaxed, memory");
    expect_str_error("{\"name\":\"x\",\"dev\":{\"ip\":\"300.1.1.1\"}}", "$.dev.ip", 1,
                     "not an IPv4 or IPv6 address");
    expect_file_error("bad_size.json", "$.limits.max_body_bytes", 7, 33,
                      "invalid size \"12 parsecs\"");
}

static void accepted_values(void **state)
{
    dort_config_t *cfg;
    (void)state;
    cfg = load_str("{\"name\":\"x\",\"compatibility_date\":\"2024-02-29\",\"dev\":{\"ip\":\"::1\"},"
                   "\"storage\":{\"durability\":\"memory\",\"max_size\":\"1.5 GB\"}}");
    assert_string_equal(dort_config_dev(cfg)->ip, "::1");
    assert_int_equal(dort_config_storage(cfg)->durability, DORT_CONFIG_DURABILITY_MEMORY);
    assert_true(dort_config_storage(cfg)->max_size == 1500000000ull);
    dort_config_free(cfg);
    cfg = load_str("{\"name\":\"x\",\"dev\":{\"ip\":\"localhost\"},\"storage\":{\"durability\":"
                   "\"full\",\"max_size\":2097152},\"vars\":{\"N\":-0.1e3,\"T\":true,\"I\":-7}}");
    assert_int_equal(dort_config_storage(cfg)->durability, DORT_CONFIG_DURABILITY_FULL);
    assert_true(dort_config_storage(cfg)->max_size == 2097152);
    assert_string_equal(dort_config_var(cfg, "N"), "-0.1e3");
    assert_string_equal(dort_config_var(cfg, "T"), "true");
    assert_string_equal(dort_config_var(cfg, "I"), "-7");
    dort_config_free(cfg);
}

static void size_strings(void **state)
{
    uint64_t v = 0;
    (void)state;
    static const struct {
        const char *s;
        uint64_t want;
    } ok[] = {{"0", 0},
              {"512", 512},
              {"512B", 512},
              {"1KB", 1000},
              {"1kb", 1000},
              {"1KiB", 1024},
              {"2 MiB", 2097152},
              {"1MB", 1000000},
              {"1GB", 1000000000},
              {"1GiB", 1073741824},
              {"1.5KiB", 1536},
              {"0.5 GiB", 536870912},
              {"1.25MB", 1250000},
              {"2TiB", 2199023255552ull},
              {"1.0000000KB", 1000},
              {"18446744073709551615", UINT64_MAX}};
    static const char *const bad[] = {"",
                                      "GB",
                                      "-1",
                                      "1 XB",
                                      "1.5B",
                                      "1.",
                                      ".5MB",
                                      "1e3",
                                      "1GB ",
                                      " 1GB",
                                      "1.0000001KB",
                                      "18446744073709551616",
                                      "17179869184GiB"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(dort_config_parse_size(ok[i].s, &v), 0);
        assert_true(v == ok[i].want);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (dort_config_parse_size(bad[i], &v) != DORT_EINVAL)
            print_error("accepted \"%s\"\n", bad[i]);
        assert_int_equal(dort_config_parse_size(bad[i], &v), DORT_EINVAL);
    }
    assert_int_equal(dort_config_parse_size(NULL, &v), DORT_EINVAL);
    assert_int_equal(dort_config_parse_size("1", NULL), DORT_EINVAL);
}

/* ---- .dev.vars ---- */

static void dev_vars_parse(void **state)
{
    dort_config_error_t err;
    (void)state;
    dort_config_t *cfg = load_ok("good_minimal.json");
    assert_int_equal(dort_config_load_dev_vars(cfg, fx("good.dev.vars"), &err), 0);
    assert_string_equal(dort_config_var(cfg, "MASTER_KEY"), "abc123");
    assert_string_equal(dort_config_var(cfg, "JWT_SECRET"), "line1\nline2");
    assert_string_equal(dort_config_var(cfg, "SINGLE"), "raw \\n value");
    assert_string_equal(dort_config_var(cfg, "EMPTY"), "");
    assert_string_equal(dort_config_var(cfg, "SPACED"), "padded value");
    assert_string_equal(dort_config_var(cfg, "HASH"), "abc");
    assert_string_equal(dort_config_var(cfg, "MULTI"), "first\nsecond");
    assert_string_equal(dort_config_var(cfg, "BACKTICK"), "tick 'n \"quotes\"");
    assert_string_equal(dort_config_var(cfg, "DUP"), "two");
    assert_null(dort_config_var(cfg, "export"));
    dort_config_free(cfg);
}

static void dev_vars_escapes_and_quotes(void **state)
{
    static const char text[] = "A=\"tab\\there \\\"q\\\" back\\\\slash \\x\"\n"
                               "B = 'it''s'  # not reached\n"
                               "export   C=\"a # b\"#c\n"
                               "D.E-F=dotted\n";
    dort_config_error_t err;
    (void)state;
    dort_config_t *cfg = load_ok("good_minimal.json");
    /* B: a second quote right after the closing one is trailing text. */
    assert_int_equal(dort_config_load_dev_vars_buffer(cfg, text, sizeof text - 1, &err),
                     DORT_ECONFIG);
    check_err(&err, "", 2, 9, "unexpected text after the closing quote");
    static const char text2[] = "A=\"tab\\there \\\"q\\\" back\\\\slash \\x\"\n"
                                "export   C=\"a # b\"#c\n"
                                "D.E-F=dotted";
    assert_int_equal(dort_config_load_dev_vars_buffer(cfg, text2, sizeof text2 - 1, &err), 0);
    assert_string_equal(dort_config_var(cfg, "A"), "tab\there \"q\" back\\slash \\x");
    assert_string_equal(dort_config_var(cfg, "C"), "a # b");
    assert_string_equal(dort_config_var(cfg, "D.E-F"), "dotted");
    dort_config_free(cfg);
}

static void dev_vars_errors(void **state)
{
    dort_config_error_t err;
    (void)state;
    dort_config_t *cfg = load_ok("good_minimal.json");
    assert_int_equal(dort_config_load_dev_vars_buffer(cfg, "KEEP=1", 6, &err), 0);
    assert_int_equal(dort_config_load_dev_vars(cfg, fx("bad.dev.vars"), &err), DORT_ECONFIG);
    check_err(&err, "", 4, 1, "expected KEY=VALUE");
    /* A failed load keeps the previous values. */
    assert_string_equal(dort_config_var(cfg, "KEEP"), "1");

    assert_int_equal(dort_config_load_dev_vars_buffer(cfg, "A=1\r\nB 2\r\n", 10, &err),
                     DORT_ECONFIG);
    check_err(&err, "", 2, 3, "expected '=' after the name");
    assert_int_equal(dort_config_load_dev_vars_buffer(cfg, "A=1\n\nB=\"open\nstill\n", 18, &err),
                     DORT_ECONFIG);
    check_err(&err, "", 3, 3, "unterminated \"-quoted value");
    assert_int_equal(dort_config_load_dev_vars_buffer(cfg, "export = 1\nexport\tB=2", 21, &err), 0);
    assert_string_equal(dort_config_var(cfg, "export"), "1");
    assert_string_equal(dort_config_var(cfg, "B"), "2");
    assert_int_equal(dort_config_load_dev_vars_buffer(cfg, "A=1\nB=x\0y\n", 10, &err),
                     DORT_ECONFIG);
    check_err(&err, "", 2, 4, "NUL byte");
    assert_int_equal(dort_config_load_dev_vars_buffer(NULL, "", 0, &err), DORT_EINVAL);
    dort_config_free(cfg);
}

static void dev_vars_missing_file_and_default_path(void **state)
{
    dort_config_error_t err;
    char path[1300];
    FILE *f;
    (void)state;
    dort_config_t *cfg = load_ok("good_minimal.json");
    assert_int_equal(dort_config_load_dev_vars_buffer(cfg, "OLD=1", 5, &err), 0);
    memset(&err, 0x5a, sizeof err);
    assert_int_equal(dort_config_load_dev_vars(cfg, fx("no_such.dev.vars"), &err), 0);
    assert_int_equal(err.line, 0x5a5a5a5a); /* success leaves err alone */
    assert_null(dort_config_var(cfg, "OLD"));
    dort_config_free(cfg);

    /* path NULL: `.dev.vars` beside the config file. */
    char dir[] = "/tmp/dort_config_XXXXXX";
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/dort.json", dir);
    assert_non_null(f = fopen(path, "w"));
    fputs("{\"name\":\"x\",\"secrets\":[\"TOKEN\"]}", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/.dev.vars", dir);
    assert_non_null(f = fopen(path, "w"));
    fputs("TOKEN=from-file\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/dort.json", dir);
    assert_int_equal(dort_config_load_file(path, &cfg, &err), 0);
    assert_string_equal(dort_config_dir(cfg), dir);
    assert_int_equal(dort_config_load_dev_vars(cfg, NULL, &err), 0);
    assert_string_equal(dort_config_var(cfg, "TOKEN"), "from-file");
    dort_config_free(cfg);
    remove(path);
    snprintf(path, sizeof path, "%s/.dev.vars", dir);
    remove(path);
    rmdir(dir);
}

/* ---- values and secrets ---- */

static void precedence(void **state)
{
    static const char json[] =
        "{\"name\":\"x\",\"vars\":{\"PLAIN\":\"json\",\"HOME_DIR\":\"json\"},"
        "\"secrets\":[\"MASTER_KEY\",\"JWT_SECRET\"]}";
    static const char dv[] = "PLAIN=devvars\nMASTER_KEY=devvars\nJWT_SECRET=devvars\n"
                             "HOME_DIR=devvars\n";
    dort_config_error_t err;
    (void)state;
    dort_config_t *cfg = load_str(json);
    unsetenv("MASTER_KEY");
    unsetenv("JWT_SECRET");
    assert_string_equal(dort_config_var(cfg, "PLAIN"), "json");
    assert_null(dort_config_var(cfg, "MASTER_KEY"));
    assert_int_equal(dort_config_load_dev_vars_buffer(cfg, dv, sizeof dv - 1, &err), 0);
    assert_string_equal(dort_config_var(cfg, "PLAIN"), "devvars"); /* .dev.vars > vars */
    assert_string_equal(dort_config_var(cfg, "MASTER_KEY"), "devvars");
    setenv("MASTER_KEY", "environment", 1);
    setenv("PLAIN", "environment", 1);
    setenv("HOME_DIR", "environment", 1);
    assert_string_equal(dort_config_var(cfg, "MASTER_KEY"), "environment"); /* env > .dev.vars */
    assert_string_equal(dort_config_var(cfg, "JWT_SECRET"), "devvars");
    /* The environment only supplies names listed as secrets. */
    assert_string_equal(dort_config_var(cfg, "PLAIN"), "devvars");
    assert_string_equal(dort_config_var(cfg, "HOME_DIR"), "devvars");
    /* dort_config_set_var (--var) beats everything. */
    assert_int_equal(dort_config_set_var(cfg, "MASTER_KEY", "override"), 0);
    assert_int_equal(dort_config_set_var(cfg, "MASTER_KEY", "override2"), 0);
    assert_string_equal(dort_config_var(cfg, "MASTER_KEY"), "override2");
    assert_int_equal(dort_config_set_var(cfg, "bad-name", "v"), DORT_EINVAL);
    assert_null(dort_config_var(cfg, "NOPE"));
    assert_null(dort_config_var(cfg, NULL));
    unsetenv("MASTER_KEY");
    unsetenv("PLAIN");
    unsetenv("HOME_DIR");
    dort_config_free(cfg);
}

static void missing_secrets(void **state)
{
    const char *names[2] = {NULL, NULL};
    dort_config_error_t err;
    (void)state;
    unsetenv("MASTER_KEY");
    unsetenv("JWT_SECRET");
    unsetenv("STRIPE_KEY");
    dort_config_t *cfg =
        load_str("{\"name\":\"x\",\"secrets\":[\"MASTER_KEY\",\"JWT_SECRET\",\"STRIPE_KEY\"]}");
    assert_int_equal(dort_config_missing_secrets(cfg, names, 2), 3);
    assert_string_equal(names[0], "MASTER_KEY");
    assert_string_equal(names[1], "JWT_SECRET");
    assert_int_equal(dort_config_missing_secrets(cfg, NULL, 0), 3);
    assert_int_equal(dort_config_load_dev_vars_buffer(cfg, "JWT_SECRET=x", 12, &err), 0);
    setenv("STRIPE_KEY", "sk", 1);
    assert_int_equal(dort_config_missing_secrets(cfg, names, 2), 1);
    assert_string_equal(names[0], "MASTER_KEY");
    assert_int_equal(dort_config_set_var(cfg, "MASTER_KEY", "generated"), 0);
    assert_int_equal(dort_config_missing_secrets(cfg, names, 2), 0);
    unsetenv("STRIPE_KEY");
    dort_config_free(cfg);
}

/* ---- names the application registered ---- */

static void check_names(void **state)
{
    static const char *const classes[] = {"RateLimiter", "Account", NULL};
    static const char *const workers[] = {"api", "cron", "sync_consumer", NULL};
    static const char *const none[] = {NULL};
    dort_config_error_t err;
    char buf[600];
    int n;
    (void)state;
    dort_config_t *cfg = load_ok("names_typo.json");
    assert_int_equal(dort_config_check_names(cfg, classes, workers, &err), DORT_ECONFIG);
    check_err(&err, "$.durable_objects.bindings[1].class_name", 9, 23,
              "unknown class \"RateLimitr\" (known: RateLimiter, Account)");
    n = dort_config_error_format(&err, "tminus.json", buf, sizeof buf);
    assert_int_equal(n, (int)strlen(buf));
    assert_string_equal(buf, "tminus.json:9:23: $.durable_objects.bindings[1].class_name: "
                             "unknown class \"RateLimitr\" (known: RateLimiter, Account)");
    /* Classes unchecked: the worker typo is next. */
    assert_int_equal(dort_config_check_names(cfg, NULL, workers, &err), DORT_ECONFIG);
    check_err(&err, "$.queues.consumers[0].worker", 13, 59,
              "unknown worker \"sync_consumr\" (known: api, cron, sync_consumer)");
    assert_int_equal(dort_config_check_names(cfg, NULL, none, &err), DORT_ECONFIG);
    check_err(&err, "$.workers.fetch", 3, 25, "unknown worker \"api\" (none registered)");
    assert_int_equal(dort_config_check_names(cfg, NULL, NULL, &err), 0);
    assert_int_equal(dort_config_check_names(NULL, NULL, NULL, &err), DORT_EINVAL);
    dort_config_free(cfg);

    cfg = load_ok("good_full.json");
    static const char *const all_classes[] = {"RateLimiter", "Account", "UserGraph", "ChatSession",
                                              NULL};
    static const char *const all_workers[] = {"api", "cron", "sync_consumer", "write_consumer",
                                              NULL};
    assert_int_equal(dort_config_check_names(cfg, all_classes, all_workers, &err), 0);
    dort_config_free(cfg);
}

static void error_format(void **state)
{
    dort_config_error_t err = {.path = "$.dev.port", .line = 12, .column = 7, .message = "bad"};
    char buf[128], small[8];
    (void)state;
    assert_int_equal(dort_config_error_format(&err, "a.json", buf, sizeof buf), 28);
    assert_string_equal(buf, "a.json:12:7: $.dev.port: bad");
    err.column = 0;
    dort_config_error_format(&err, NULL, buf, sizeof buf);
    assert_string_equal(buf, "12: $.dev.port: bad");
    err.line = 0;
    err.path[0] = '\0';
    dort_config_error_format(&err, "a.json", buf, sizeof buf);
    assert_string_equal(buf, "a.json: bad");
    dort_config_error_format(&err, NULL, buf, sizeof buf);
    assert_string_equal(buf, "bad");
    assert_int_equal(dort_config_error_format(&err, "long-name.json", small, sizeof small), 19);
    assert_string_equal(small, "long-na");
    assert_int_equal(dort_config_error_format(&err, "x", NULL, 0), 6);
    assert_int_equal(dort_config_error_format(NULL, "x", buf, sizeof buf), DORT_EINVAL);
    assert_int_equal(dort_config_error_format(&err, "x", NULL, 5), DORT_EINVAL);
}

static void long_paths_truncate(void **state)
{
    char json[1200];
    dort_config_error_t err;
    dort_config_t *cfg = NULL;
    size_t n;
    (void)state;
    n = (size_t)snprintf(json, sizeof json, "{\"name\":\"x\",\n\"vars\":{\"");
    memset(json + n, 'A', 400);
    n += 400;
    n += (size_t)snprintf(json + n, sizeof json - n, "\":[]}}");
    assert_int_equal(dort_config_load_buffer(json, n, &cfg, &err), DORT_ECONFIG);
    assert_int_equal(strlen(err.path), sizeof err.path - 1);
    assert_string_equal(err.path + sizeof err.path - 4, "...");
    assert_int_equal(strncmp(err.path, "$.vars.AAAA", 11), 0);
    /* The position is still found from the structured path. */
    assert_int_equal(err.line, 2);
    assert_int_equal(err.column, 10 + 400 + 2);
}

/* ---- allocation failures ---- */

static long alloc_budget = -1; /* allocations left before failing; -1 = no limit */

static int take_budget(void)
{
    if (alloc_budget == 0)
        return 0;
    if (alloc_budget > 0)
        alloc_budget--;
    return 1;
}

static void *fail_malloc(size_t n)
{
    return take_budget() ? malloc(n) : NULL;
}

static void *fail_realloc(void *p, size_t n)
{
    return take_budget() ? realloc(p, n) : NULL;
}

static void *fail_calloc(size_t c, size_t n)
{
    return take_budget() ? calloc(c, n) : NULL;
}

/* Every allocation the loader makes, failing in turn, gives DORT_ENOMEM and
 * leaks nothing (ASan checks), until the budget is large enough to succeed. */
static void allocation_failures(void **state)
{
    static const char dv[] = "A=1\nB=\"two\"\nC='3'\n";
    dort_config_error_t err;
    dort_config_t *cfg = NULL;
    int rc = DORT_ENOMEM;
    long n;
    (void)state;
    assert_int_equal(dort_replace_allocator(fail_malloc, fail_realloc, fail_calloc, free), 0);
    for (n = 0; rc == DORT_ENOMEM && n < 10000; n++) {
        alloc_budget = n;
        rc = dort_config_load_file(fx("good_full.json"), &cfg, &err);
    }
    assert_int_equal(rc, 0);
    assert_true(n > 20);
    for (rc = DORT_ENOMEM, n = 0; rc == DORT_ENOMEM && n < 10000; n++) {
        alloc_budget = n;
        rc = dort_config_load_dev_vars_buffer(cfg, dv, sizeof dv - 1, &err);
        if (rc == DORT_ENOMEM)
            assert_null(dort_config_var(cfg, "A"));
    }
    assert_int_equal(rc, 0);
    alloc_budget = 0;
    assert_int_equal(dort_config_set_var(cfg, "X", "y"), DORT_ENOMEM);
    alloc_budget = -1;
    assert_string_equal(dort_config_var(cfg, "B"), "two");
    dort_config_free(cfg);
    assert_int_equal(dort_replace_allocator(malloc, realloc, calloc, free), 0);
}

static int find_fixtures(int argc, char **argv)
{
    const char *env = getenv("DORT_CONFIG_FIXTURES");
    struct stat st;
    if (env != NULL && env[0] != '\0')
        snprintf(fixture_dir, sizeof fixture_dir, "%s", env);
    else if (argc > 1)
        snprintf(fixture_dir, sizeof fixture_dir, "%s", argv[1]);
    else if (stat("config/good_full.json", &st) == 0)
        snprintf(fixture_dir, sizeof fixture_dir, "config");
    else {
        const char *slash = strrchr(__FILE__, '/');
        int len = slash ? (int)(slash - __FILE__) : 1;
        snprintf(fixture_dir, sizeof fixture_dir, "%.*s/config", len, slash ? __FILE__ : ".");
    }
    if (stat(fx("good_full.json"), &st) != 0) {
        fprintf(stderr, "test_config: fixtures not found in %s (set DORT_CONFIG_FIXTURES)\n",
                fixture_dir);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_example_bindings),
        cmocka_unit_test(full_example_sections),
        cmocka_unit_test(defaults_filled),
        cmocka_unit_test(missing_file_and_bad_args),
        cmocka_unit_test(error_invalid_json),
        cmocka_unit_test(error_duplicate_key),
        cmocka_unit_test(error_unknown_key),
        cmocka_unit_test(error_wrong_type),
        cmocka_unit_test(error_out_of_range),
        cmocka_unit_test(error_missing_required),
        cmocka_unit_test(error_duplicate_binding),
        cmocka_unit_test(error_duplicate_consumer),
        cmocka_unit_test(error_dlq_is_own_queue),
        cmocka_unit_test(error_bad_names),
        cmocka_unit_test(error_bad_values),
        cmocka_unit_test(accepted_values),
        cmocka_unit_test(size_strings),
        cmocka_unit_test(dev_vars_parse),
        cmocka_unit_test(dev_vars_escapes_and_quotes),
        cmocka_unit_test(dev_vars_errors),
        cmocka_unit_test(dev_vars_missing_file_and_default_path),
        cmocka_unit_test(precedence),
        cmocka_unit_test(missing_secrets),
        cmocka_unit_test(check_names),
        cmocka_unit_test(error_format),
        cmocka_unit_test(long_paths_truncate),
        cmocka_unit_test(allocation_failures),
    };
    if (find_fixtures(argc, argv) != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
