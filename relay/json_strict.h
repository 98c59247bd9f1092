/*
 * json_strict.h - parse untrusted JSON the way the protocol demands.
 *
 * cJSON 1.7.15 alone accepts duplicate keys, invalid UTF-8, "\u0000"
 * (silently truncating the string), trailing garbage and 1e400 (inf). This
 * wrapper rejects all of those, and nesting deeper than a caller-given
 * limit, before anyone looks at the tree.
 */
#ifndef RELAY_JSON_STRICT_H
#define RELAY_JSON_STRICT_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* True when buf[0..len) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF). */
int utf8_valid(const char *buf, size_t len);

/*
 * Parses buf[0..len) (need not be NUL-terminated). Returns the tree (caller
 * owns it: cJSON_Delete) or NULL with *why set to a static English reason
 * ("invalid UTF-8", "duplicate key", "nesting too deep", "NUL character in
 * string", "number out of range", "trailing characters", "malformed JSON",
 * and "out of memory", the only one that is not the client's fault).
 * Depth counts containers: a scalar is 0, {} is 1, {"a":[]} is 2.
 */
cJSON *json_strict_parse(const char *buf, size_t len, int max_depth,
                         const char **why);

#endif
