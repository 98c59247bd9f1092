/*
 * fuzz_sms_text.c - sms_text_split() and sms_phone_normalize() on
 * arbitrary bytes.
 *
 * Input: the first byte picks max_parts (1..255), the rest is the text.
 * Invariants checked on every input (abort() = a finding):
 *   - the result is RELAY_OK, RELAY_ETOOBIG or RELAY_EINVAL, nothing else;
 *   - RELAY_OK: 1 <= parts <= max_parts, the parts' byte ranges are
 *     contiguous and rejoin to the input exactly, each part is valid
 *     UTF-8 on its own (no character, escape or surrogate pair cut),
 *     costs what it says and stays within 160/70 (one part) or 153/67;
 *   - RELAY_ETOOBIG: the count reported is larger than max_parts;
 *   - a normalised phone number is E.164 and normalising it again gives
 *     the same number (the stored form is a fixed point).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "pii.h"
#include "sms_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_split(const char *text, size_t len, unsigned max_parts)
{
    static struct sms_part parts[SMS_PARTS_MAX];
    struct sms_info info;
    size_t pos = 0, units = 0, per;
    int rc = sms_text_split(text, len, max_parts, &info, parts);

    if (rc == RELAY_EINVAL)
        return;
    if (rc == RELAY_ETOOBIG) {
        if (info.parts <= max_parts)
            abort();
        return;
    }
    if (rc != RELAY_OK || info.parts < 1 || info.parts > max_parts)
        abort();
    if (info.coding == SMS_CODING_GSM7)
        per = info.parts == 1 ? SMS_GSM7_SINGLE : SMS_GSM7_PART;
    else
        per = info.parts == 1 ? SMS_UCS2_SINGLE : SMS_UCS2_PART;
    for (unsigned i = 0; i < info.parts; i++) {
        struct sms_info pi;

        if (parts[i].offset != pos || parts[i].len == 0 ||
            parts[i].units == 0 || parts[i].units > per)
            abort();
        if (sms_text_measure(text + pos, parts[i].len, &pi) != RELAY_OK)
            abort();
        if (info.coding == SMS_CODING_GSM7 &&
            (pi.coding != SMS_CODING_GSM7 || pi.units != parts[i].units))
            abort();
        pos += parts[i].len;
        units += parts[i].units;
    }
    if (pos != len || units != info.units)
        abort();
}

static void check_phone(const char *text, size_t len)
{
    char in[SMS_PHONE_INPUT_MAX + 1];
    char out[SMS_PHONE_MAX + 1], again[SMS_PHONE_MAX + 1];
    unsigned flags[] = {0, SMS_PHONE_BARE_INTL};

    if (len > SMS_PHONE_INPUT_MAX || memchr(text, '\0', len))
        return;
    memcpy(in, text, len);
    in[len] = '\0';
    for (size_t f = 0; f < 2; f++) {
        if (sms_phone_normalize(in, flags[f], out) != RELAY_OK)
            continue;
        if (!pii_phone_valid(out))
            abort();
        if (sms_phone_normalize(out, 0, again) != RELAY_OK ||
            strcmp(out, again) != 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    check_split((const char *)data + 1, size - 1, (unsigned)data[0] % 255 + 1);
    check_phone((const char *)data + 1, size - 1);
    return 0;
}
