/*
 * matrix.c - placeholder: the matrix adapter is being written (adapter.h).
 */
#include "adapter.h"
#include "error.h"

static int matrix_build_request(void *priv, const struct adapter_msg *msg,
                                struct adapter_request *req)
{
    return RELAY_EINVAL;
}

static int matrix_parse_response(void *priv, long status, const char *body,
                                 size_t len, const char *retry_after,
                                 struct adapter_result *out)
{
    out->verdict = ADAPTER_FAILED;
    return RELAY_OK;
}

static const struct config_option matrix_options[] = {
    {NULL, 0, 0, 0, 0, NULL, 0, NULL, 0},
};

const struct adapter_ops adapter_matrix = {
    .name = "matrix",
    .caps = ADAPTER_CAP_CHAT,
    .address_kind = "matrix",
    .max_text_chars = 4096,
    .priv_size = 1,
    .options = matrix_options,
    .build_request = matrix_build_request,
    .parse_response = matrix_parse_response,
};
