/*
 * whatsapp.c - placeholder: the whatsapp adapter is being written (adapter.h).
 */
#include "adapter.h"
#include "error.h"

static int whatsapp_build_request(void *priv, const struct adapter_msg *msg,
                                  struct adapter_request *req)
{
    return RELAY_EINVAL;
}

static int whatsapp_parse_response(void *priv, long status, const char *body,
                                   size_t len, const char *retry_after,
                                   struct adapter_result *out)
{
    out->verdict = ADAPTER_FAILED;
    return RELAY_OK;
}

static const struct config_option whatsapp_options[] = {
    {NULL, 0, 0, 0, 0, NULL, 0, NULL, 0},
};

const struct adapter_ops adapter_whatsapp = {
    .name = "whatsapp",
    .caps = ADAPTER_CAP_CHAT,
    .address_kind = "phone",
    .max_text_chars = 4096,
    .priv_size = 1,
    .options = whatsapp_options,
    .build_request = whatsapp_build_request,
    .parse_response = whatsapp_parse_response,
};
