#include "common/error.h"

static const char *const messages[] = {
#define LSH_XX_(name, msg) msg,
    LSH_ERR_MAP(LSH_XX_)
#undef LSH_XX_
};

static const char *const names[] = {
#define LSH_XX_(name, msg) #name,
    LSH_ERR_MAP(LSH_XX_)
#undef LSH_XX_
};

static int
index_of(int code)
{
    int idx = -code - 1;
    if (code >= 0 || idx >= LSH_ERRIDX_COUNT_) {
        return -1;
    }
    return idx;
}

const char *
lsh_strerror(int code)
{
    int idx;
    if (code == 0) {
        return "success";
    }
    idx = index_of(code);
    return idx < 0 ? "unknown error" : messages[idx];
}

const char *
lsh_errname(int code)
{
    int idx;
    if (code == 0) {
        return "OK";
    }
    idx = index_of(code);
    return idx < 0 ? "UNKNOWN" : names[idx];
}
