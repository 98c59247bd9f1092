/*
 * registry.c - the only place that knows which adapters exist.
 *
 * One static table; adding an adapter is one line here plus its file.
 * (Style rule 9 would guard each row with RELAY_WITH_<NAME>; both
 * adapters here need nothing beyond the core's libraries, so they are
 * always built.)
 */
#include <string.h>

#include "adapter.h"

extern const struct adapter_ops adapter_kannel;
extern const struct adapter_ops adapter_twilio;
extern const struct adapter_ops adapter_telegram;
extern const struct adapter_ops adapter_matrix;
extern const struct adapter_ops adapter_whatsapp;
extern const struct adapter_ops adapter_webhook;

static const struct adapter_ops *const adapter_registry[] = {
    &adapter_kannel,
    &adapter_twilio,
    &adapter_telegram,
    &adapter_matrix,
    &adapter_whatsapp,
    &adapter_webhook,
    NULL,
};

const struct adapter_ops *adapter_find(const char *name)
{
    for (size_t i = 0; adapter_registry[i]; i++) {
        if (strcmp(adapter_registry[i]->name, name) == 0)
            return adapter_registry[i];
    }
    return NULL;
}

const struct adapter_ops *adapter_at(size_t i)
{
    size_t n = sizeof(adapter_registry) / sizeof(adapter_registry[0]) - 1;

    return i < n ? adapter_registry[i] : NULL;
}
