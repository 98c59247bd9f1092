/*
 * contacts.h - a person's chat addresses and channel preferences.
 *
 * CONTACTS. Besides a phone, a resident may give an address per chat
 * platform: a Telegram chat id, a Matrix (DM) room id, ... They are kept
 * together as one text "kind=value\nkind=value" (kind = an adapter's
 * address_kind, e.g. "telegram"), encrypted as one PII field
 * (user:{id} field "contacts", context "user|contacts|{id}"). Each value
 * also has a blind index idx:contact:{kind}:{index} -> {id}, so a chat
 * message from that address is known to be theirs.
 *
 * CHANNELS. The person's ordered preference, plain (not personal): a
 * comma list of channel names, "sms" for whatever SMS adapter is
 * configured, otherwise an address kind ("telegram,sms"). Urgent appeals
 * go to every listed channel at once; routine notices to the first, then
 * the next if not delivered in time (notify.h).
 *
 * Pure functions; no allocation.
 */
#ifndef RELAY_CONTACTS_H
#define RELAY_CONTACTS_H

#include <stddef.h>

#define CONTACTS_MAX 4        /* chat addresses per person */
#define CONTACT_KIND_MAX 16   /* [a-z]{1,16} */
#define CONTACT_VALUE_MAX 255 /* ADAPTER_ADDR_MAX */
#define CONTACTS_TEXT_MAX                                                      \
    (CONTACTS_MAX * (CONTACT_KIND_MAX + CONTACT_VALUE_MAX + 2))
#define CHANNELS_MAX 6 /* entries of a preference list */
#define CHANNELS_TEXT_MAX 128

struct contact {
    char kind[CONTACT_KIND_MAX + 1];
    char value[CONTACT_VALUE_MAX + 1];
};

/* True for [a-z]{1,CONTACT_KIND_MAX}. */
int contact_kind_valid(const char *kind);

/* True for 1..CONTACT_VALUE_MAX printable ASCII bytes without spaces
 * (chat ids, room ids and URLs all fit; the text splits a line at its
 * first '=', which a kind never holds). */
int contact_value_valid(const char *value);

/*
 * Splits a contacts text into out[] (*n entries). RELAY_EINVAL for a
 * malformed line, a bad kind or value, a kind given twice, or more than
 * CONTACTS_MAX entries. "" is zero entries.
 */
int contacts_parse(const char *text, struct contact out[CONTACTS_MAX],
                   size_t *n);

/* Writes the entries as text (sorted as given). RELAY_ETOOBIG. */
int contacts_format(const struct contact *c, size_t n, char *out,
                    size_t outlen);

/*
 * Sets (value non-NULL and non-empty) or removes (NULL or "") the entry
 * of 'kind' in c[0..*n). RELAY_EINVAL for a bad kind or value,
 * RELAY_EFULL when CONTACTS_MAX entries are taken.
 */
int contacts_set(struct contact c[CONTACTS_MAX], size_t *n, const char *kind,
                 const char *value);

/* The value of 'kind' in a contacts text into out; RELAY_ENOTFOUND when
 * absent, RELAY_EINVAL for a malformed text, RELAY_ETOOBIG. */
int contacts_get(const char *text, const char *kind, char *out, size_t outlen);

/*
 * Parses a preference list "telegram,sms" into names[] (*n). Every name
 * must be "sms" or a valid kind, at most once. "" is zero entries.
 * RELAY_EINVAL.
 */
int channels_parse(const char *text,
                   char names[CHANNELS_MAX][CONTACT_KIND_MAX + 1], size_t *n);

#endif
