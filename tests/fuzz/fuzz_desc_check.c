/*
 * fuzz_desc_check.c - desc_check() on arbitrary bytes.
 *
 * The input is split at its first two NUL bytes into title, body and
 * instruction; a field that is missing is passed as NULL, so the NULL
 * paths get fuzzed too. desc_check must never crash or read out of bounds
 * (it scans raw, possibly invalid UTF-8), must return RELAY_OK or
 * RELAY_ETOOBIG, must only set known flags with the documented exclusions,
 * and must give the same answer twice (it promises to be deterministic).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "desc_check.h"
#include "error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const char *title, const char *body, const char *instr)
{
    unsigned flags = 0xFFFFFFFFu;
    unsigned again = 0;
    int rc = desc_check(title, body, instr, &flags);

    if (rc == RELAY_ETOOBIG) {
        if (flags != 0xFFFFFFFFu) /* output written on failure */
            abort();
        return;
    }
    if (rc != RELAY_OK || (flags & ~DESC_FLAGS_ALL))
        abort();
    /* origin_only excludes mentions_origin and few_details. */
    if ((flags & DESC_ORIGIN_ONLY) &&
        (flags & (DESC_MENTIONS_ORIGIN | DESC_FEW_DETAILS)))
        abort();
    if ((flags & DESC_MENTIONS_ORIGIN) && (flags & DESC_FEW_DETAILS))
        abort();
    for (unsigned i = 0; i < DESC_FLAG_COUNT; i++)
        if ((flags & (1u << i)) && !desc_flag_name(1u << i))
            abort();
    if (desc_check(title, body, instr, &again) != RELAY_OK || again != flags)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    const char *field[3] = {NULL, NULL, NULL};
    size_t start = 0;

    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    for (int f = 0; f < 3 && start <= size; f++) {
        const char *nul = memchr(buf + start, '\0', size + 1 - start);

        field[f] = buf + start;
        start = (size_t)(nul - buf) + 1;
    }
    check(field[0], field[1], field[2]);
    free(buf);
    return 0;
}
