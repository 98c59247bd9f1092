/*
 * fuzz_config.c - libFuzzer target for relay/config.c.
 *
 * Feeds the bytes to config_parse() (never crash, never read out of
 * bounds) and checks one property: whatever parses, dumps to text that
 * parses again to the same dump. The first line of the input is also given
 * to config_split_hostport() and config_split_redis().
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Dumps 'cfg' into a malloc'd string; NULL if memory ran out. */
static char *dump(const struct relay_config *cfg, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);

    if (!f)
        return NULL;
    config_dump(cfg, f);
    fclose(f);
    return buf;
}

static void check_round_trip(const struct relay_config *cfg)
{
    struct relay_config again;
    char err[CONFIG_ERR_MAX];
    size_t len1 = 0;
    size_t len2 = 0;
    char *one = dump(cfg, &len1);
    char *two = NULL;

    if (!one)
        return;
    if (config_parse(&again, "dump", one, len1, err, sizeof(err)) != RELAY_OK)
        abort(); /* the dump of a valid config must be valid */
    two = dump(&again, &len2);
    if (two && (len1 != len2 || memcmp(one, two, len1) != 0))
        abort();
    free(two);
    free(one);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct relay_config cfg;
    char err[CONFIG_ERR_MAX];
    char first[512];
    char host[CONFIG_STR_MAX];
    size_t n = 0;
    int port;

    if (config_parse(&cfg, "fuzz", (const char *)data, size, err,
                     sizeof(err)) == RELAY_OK)
        check_round_trip(&cfg);
    else if (memchr(err, '\0', sizeof(err)) == NULL)
        abort(); /* messages are always terminated */

    while (n < size && n < sizeof(first) - 1 && data[n] != '\n' &&
           data[n] != '\0') {
        first[n] = (char)data[n];
        n++;
    }
    first[n] = '\0';
    config_split_hostport(first, host, sizeof(host), &port);
    config_split_redis(first, host, sizeof(host), &port);
    return 0;
}
