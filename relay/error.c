#include "error.h"

const char *relay_strerror(int err)
{
    switch (err) {
    case RELAY_OK:
        return "ok";
#define RELAY_ERR_CASE(name, val, msg)                                         \
    case RELAY_##name:                                                         \
        return msg;
        RELAY_ERR_MAP(RELAY_ERR_CASE)
#undef RELAY_ERR_CASE
    }
    return "unknown error";
}
