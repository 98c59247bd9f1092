/*
 * channel_pick.h - which adapters reach one person, in their order.
 *
 * A person's preference (contacts.h CHANNELS, e.g. "telegram,sms") names
 * channels: "sms" is the first configured SMS adapter, any other name the
 * adapter of that name. A channel counts only when the adapter is
 * configured and the person has the address it needs: a phone for
 * adapters whose address_kind is "phone" (SMS, WhatsApp), a contact of
 * the adapter's kind otherwise. Without a preference (or an unreadable
 * one): "sms", then their contact kinds in the order they were given.
 * Each adapter appears once. notify.c applies the policy (all at once,
 * or one after the other) to the result.
 *
 * Pure; borrows everything.
 */
#ifndef RELAY_CHANNEL_PICK_H
#define RELAY_CHANNEL_PICK_H

#include "adapter.h"
#include "contacts.h"

/*
 * Fills out[] with the person's channels in order and returns how many.
 * prefs: the stored preference ("" for none); has_phone: a phone is
 * stored; kinds: the contact kinds, comma separated ("" for none).
 */
int channel_pick(const struct adapter_set *set, const char *prefs,
                 int has_phone, const char *kinds,
                 const struct adapter_instance *out[CHANNELS_MAX]);

#endif
