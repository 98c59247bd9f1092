/*
 * error.h - the relay's error codes.
 *
 * A function that can fail returns int: RELAY_OK (0) or a negative
 * enum relay_err. The enum and relay_strerror() come from one X-macro list
 * so a new code cannot be added without its message.
 */
#ifndef RELAY_ERROR_H
#define RELAY_ERROR_H

#define RELAY_ERR_MAP(X)                                                       \
    X(ENOMEM, -1, "out of memory")                                             \
    X(EINVAL, -2, "invalid argument")                                          \
    X(ETOOBIG, -3, "exceeds configured limit")                                 \
    X(ENOTFOUND, -4, "not found")                                              \
    X(EPROVIDER, -5, "provider rejected the request")                          \
    X(EUNAVAILABLE, -6, "backend unavailable")                                 \
    X(EIO, -7, "input/output error")                                           \
    X(EAUTH, -8, "authentication failed")                                      \
    X(EEXPIRED, -9, "expired")                                                 \
    X(EFORBIDDEN, -10, "forbidden")                                            \
    X(ECONFLICT, -11, "conflict")                                              \
    X(ECONFIG, -12, "configuration error")                                     \
    X(EFULL, -13, "queue full")                                                \
    X(EINTERNAL, -14, "internal error")

enum relay_err {
    RELAY_OK = 0,
#define RELAY_ERR_ENUM(name, val, msg) RELAY_##name = (val),
    RELAY_ERR_MAP(RELAY_ERR_ENUM)
#undef RELAY_ERR_ENUM
};

/* Static message for a code; never NULL ("unknown error" for strays). */
const char *relay_strerror(int err);

#endif
