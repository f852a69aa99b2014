/* Index keys from text on cmocka assertions. */
#include "conn_key_support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "conn/conn.h"

struct conn_key conn_key_of_ipv4(const char *ip, uint16_t port)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &in.sin_addr);
    struct conn_key k;
    assert_true(conn_key_from_sockaddr(&k, (struct sockaddr *)&in, 0));
    return k;
}
