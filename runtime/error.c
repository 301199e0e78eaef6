/* error.c - names and messages for the DORT_E* codes (generated from one map). */
#include <dort/errors.h>

const char *dort_strerror(int code)
{
    if (code == 0)
        return "success";
    switch (code) {
#define DORT_ERRNO_MSG(name, value, msg)                                                           \
    case DORT_##name:                                                                              \
        return msg;
        DORT_ERRNO_MAP(DORT_ERRNO_MSG)
#undef DORT_ERRNO_MSG
    }
    return "unknown error";
}

const char *dort_err_name(int code)
{
    if (code == 0)
        return "0";
    switch (code) {
#define DORT_ERRNO_NAME(name, value, msg)                                                          \
    case DORT_##name:                                                                              \
        return "DORT_" #name;
        DORT_ERRNO_MAP(DORT_ERRNO_NAME)
#undef DORT_ERRNO_NAME
    }
    return "DORT_UNKNOWN";
}

int dort_err_retryable(int code)
{
    switch (code) {
    case DORT_ECOMMIT:
    case DORT_ESTORAGEFULL:
    case DORT_EHANDLER:
    case DORT_EOVERLOADED:
        return 1;
    default:
        return 0;
    }
}
