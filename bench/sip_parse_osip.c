#include "sip_parse_osip.h"

#include <stdarg.h>

#include <osipparser2/osip_message.h>
#include <osipparser2/osip_parser.h>
#include <osipparser2/osip_port.h>

static void quiet(const char *file, int line, osip_trace_level_t level, const char *fmt, va_list ap)
{
}

void osip_setup(void)
{
    parser_init();
    /* Its error log would swamp the table (and cost time per message). */
    osip_trace_initialize_func(TRACE_LEVEL0, quiet);
    for (int level = 0; level < END_TRACE_LEVEL; level++)
        osip_trace_disable_level((osip_trace_level_t)level);
}

int osip_parse_once(const char *buf, size_t len)
{
    osip_message_t *sip;
    if (osip_message_init(&sip) != 0)
        return -1;
    int rc = osip_message_parse(sip, buf, len);
    osip_message_free(sip);
    return rc == 0 ? 0 : -1;
}
