/* test_errors.c - every error code has a name, a message, and a stable
 * retryability. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include <dort/dort.h>

static void every_code_has_name_and_message(void **state)
{
    (void)state;
#define CHECK(name, value, msg)                                                                    \
    assert_string_equal(dort_err_name(DORT_##name), "DORT_" #name);                                \
    assert_string_equal(dort_strerror(DORT_##name), msg);                                          \
    assert_true((value) < 0);
    DORT_ERRNO_MAP(CHECK)
#undef CHECK
}

static void codes_are_distinct(void **state)
{
    (void)state;
    static const int codes[] = {
#define CODE(name, value, msg) value,
        DORT_ERRNO_MAP(CODE)
#undef CODE
    };
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            assert_int_not_equal(codes[i], codes[j]);
}

static void unknown_and_success(void **state)
{
    (void)state;
    assert_string_equal(dort_strerror(0), "success");
    assert_string_equal(dort_err_name(0), "0");
    assert_string_equal(dort_strerror(-1), "unknown error");
    assert_string_equal(dort_err_name(12345), "DORT_UNKNOWN");
}

static void retryable(void **state)
{
    (void)state;
    assert_true(dort_err_retryable(DORT_ECOMMIT));
    assert_true(dort_err_retryable(DORT_EHANDLER));
    assert_false(dort_err_retryable(DORT_ERESET));
    assert_false(dort_err_retryable(DORT_EINVAL));
    assert_false(dort_err_retryable(0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_code_has_name_and_message),
        cmocka_unit_test(codes_are_distinct),
        cmocka_unit_test(unknown_and_success),
        cmocka_unit_test(retryable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
