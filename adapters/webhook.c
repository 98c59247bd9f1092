/*
 * webhook.c - placeholder: the webhook adapter is being written (adapter.h).
 */
#include "adapter.h"
#include "error.h"

static int webhook_build_request(void *priv, const struct adapter_msg *msg,
                                 struct adapter_request *req)
{
    return RELAY_EINVAL;
}

static int webhook_parse_response(void *priv, long status, const char *body,
                                  size_t len, const char *retry_after,
                                  struct adapter_result *out)
{
    out->verdict = ADAPTER_FAILED;
    return RELAY_OK;
}

static const struct config_option webhook_options[] = {
    {NULL, 0, 0, 0, 0, NULL, 0, NULL, 0},
};

const struct adapter_ops adapter_webhook = {
    .name = "webhook",
    .caps = ADAPTER_CAP_CHAT,
    .address_kind = "webhook",
    .max_text_chars = 4096,
    .priv_size = 1,
    .options = webhook_options,
    .build_request = webhook_build_request,
    .parse_response = webhook_parse_response,
};
