/*
 * sms_text.h - what an SMS costs before it is sent: encoding, segments,
 * splitting, and the phone numbers it may go to.
 *
 * ENCODING. A text whose every character is in the GSM 03.38 default
 * alphabet (or its extension table) goes as GSM-7; a single other
 * character (an emoji, a curly quote, 'ë') switches the whole text to
 * UCS-2, sent as UTF-16 code units. Costs:
 *   GSM-7   1 septet per basic character; the extension characters
 *           FF ^ { } \ [ ~ ] | and the euro sign cost 2 (ESC + char)
 *   UCS-2   1 unit per BMP character, 2 for a character outside the BMP
 *           (a surrogate pair: most emoji)
 * A text of at most 160 septets / 70 units is one SMS; a longer one is
 * concatenated with a 6-byte UDH per part, leaving 153 septets / 67 units
 * per part. An escape pair or a surrogate pair is never split across
 * parts, so a part may hold one unit less than the maximum.
 *
 * NEVER TRUNCATE. Gateways truncate silently (Kannel sent 459 of 600
 * characters with max-messages 3 and still answered "0: Accepted"), so
 * the relay counts parts itself and refuses a text needing more parts
 * than configured (RELAY_ETOOBIG, with the count) at compose time.
 *
 * PHONE NUMBERS are normalised to E.164 ("+" and 8 to 15 digits) before
 * they are stored, indexed (pii_blind_index) or sent, and a number gets
 * an SMS only when it starts with an allowed prefix (anti-pumping: SMS
 * pumping fraud sends to premium foreign ranges; the default allows +31
 * only). Nothing here logs; numbers are PII.
 *
 * Everything is pure computation on caller memory: no allocation, no
 * state, safe from any thread.
 */
#ifndef RELAY_SMS_TEXT_H
#define RELAY_SMS_TEXT_H

#include <stddef.h>

#define SMS_GSM7_SINGLE 160 /* septets in one unconcatenated SMS */
#define SMS_GSM7_PART 153   /* septets per concatenated part */
#define SMS_UCS2_SINGLE 70  /* UTF-16 units in one SMS */
#define SMS_UCS2_PART 67    /* UTF-16 units per concatenated part */
#define SMS_PARTS_MAX 255   /* the UDH's 8-bit part count */
#define SMS_TEXT_BYTES_MAX (SMS_PARTS_MAX * SMS_GSM7_SINGLE * 4)
#define SMS_PHONE_MAX 16       /* '+' and at most 15 digits (PII_PHONE_MAX) */
#define SMS_PHONE_INPUT_MAX 64 /* longest raw number accepted */
#define SMS_PREFIXES_DEFAULT "+31"

/* Values are Kannel's sendsms 'coding' parameter. */
enum sms_coding {
    SMS_CODING_GSM7 = 0,
    SMS_CODING_UCS2 = 2,
};

/* What a whole text costs. */
struct sms_info {
    enum sms_coding coding;
    size_t units;   /* septets (GSM-7) or UTF-16 code units (UCS-2) */
    size_t chars;   /* Unicode code points */
    unsigned parts; /* SMS parts needed (may exceed any maximum) */
};

/* One part of a split text: a byte range of the caller's UTF-8 input,
 * always on a code point boundary, and what it costs. */
struct sms_part {
    size_t offset; /* first byte in the input */
    size_t len;    /* bytes */
    size_t units;  /* septets or UTF-16 units of this part */
};

/*
 * Measures text[0..len). RELAY_EINVAL for NULL, an empty text, more than
 * SMS_TEXT_BYTES_MAX bytes, invalid UTF-8 (overlong forms, surrogates,
 * > U+10FFFF) or U+0000. *out is written only on success.
 */
int sms_text_measure(const char *text, size_t len, struct sms_info *out);

/*
 * Measures and splits text[0..len) into at most max_parts parts
 * (1..SMS_PARTS_MAX); 'parts' has room for max_parts entries. Returns
 * RELAY_OK with info filled and info->parts entries of 'parts' written;
 * RELAY_ETOOBIG when the text needs more than max_parts parts: info is
 * filled (info->parts = the count needed), 'parts' untouched, nothing is
 * ever truncated; RELAY_EINVAL as sms_text_measure() or for a max_parts
 * out of range (info untouched then). Concatenating the parts' byte
 * ranges in order gives back the input exactly.
 */
int sms_text_split(const char *text, size_t len, unsigned max_parts,
                   struct sms_info *info, struct sms_part *parts);

/* Flags of sms_phone_normalize(). */
#define SMS_PHONE_BARE_INTL                                                    \
    0x1u /* "31612345678" is international (as                                 \
            gateways write MO senders) */

/*
 * Normalises a phone number as people (or gateways) write it to E.164:
 *   "06-1234 5678", "0612345678"            Dutch national  -> +31612345678
 *   "+31 6 12345678", "+31 (0)6 12345678"   international
 *   "0031612345678"                         00 = international prefix
 *   "31612345678"                           only with SMS_PHONE_BARE_INTL
 * Spaces, '-', '.', '/', '(' and ')' are ignored; a "(0)" trunk digit
 * after +31 is dropped. The result must be E.164 (8 to 15 digits, the
 * first not 0), and a +31 number must have exactly 9 digits after 31.
 * RELAY_EINVAL otherwise; 'out' is written only on success.
 */
int sms_phone_normalize(const char *in, unsigned flags,
                        char out[SMS_PHONE_MAX + 1]);

/*
 * True (1) when the E.164 number 'e164' starts with one of 'prefixes', a
 * comma-separated list such as "+31" or "+316,+3197" (spaces ignored).
 * 0 for NULL/empty arguments or no match: a number must be explicitly
 * allowed.
 */
int sms_phone_allowed(const char *e164, const char *prefixes);

/*
 * Config check (struct config_option.check) for a prefix list: one to 16
 * entries of '+' and 1 to 15 digits, comma-separated. 0 when valid, else
 * RELAY_EINVAL with the reason in 'why'.
 */
int sms_prefixes_check(const char *value, char *why, size_t whylen);

#endif
