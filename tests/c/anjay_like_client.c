/*
 * A C client that drives libcellsock's anj_udp_* functions the way Anjay Lite's
 * core does: create with a zeroed config, get_state before every connect and
 * close, connect repeated while "in progress", get_inner_mtu after every connect,
 * send repeated with the same arguments and no recv in between, recv on every step
 * until EAGAIN, EMSGSIZE on a small buffer, close and reconnect on the same
 * context, queue mode, cleanup. Built by build.rs and run by tests/capi.rs, which
 * supplies the UART, the clock and a scripted BG96 that echoes every datagram.
 *
 * CELLSOCK_TEST_BETA1 selects the 1.0.0-beta.1 contract (cargo test --features
 * capi-beta1); otherwise the current 3.x one.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- The net API as Anjay Lite's anj_net_api.h / anj_udp.h declare it ----- */

#define ANJ_NET_OK (0)
#define ANJ_NET_EAGAIN (1)
#ifdef CELLSOCK_TEST_BETA1
#    define ANJ_NET_EMSGSIZE (-1)
#    define ANJ_NET_ENOTSUP (-2)
typedef enum {
    ANJ_NET_SOCKET_STATE_CLOSED,
    ANJ_NET_SOCKET_STATE_SHUTDOWN,
    ANJ_NET_SOCKET_STATE_BOUND,
    ANJ_NET_SOCKET_STATE_CONNECTED
} anj_net_socket_state_t;
/* beta.1 has no EINPROGRESS: EAGAIN means "call again". */
#    define NOT_YET ANJ_NET_EAGAIN
#else
#    define ANJ_NET_EMSGSIZE (2)
#    define ANJ_NET_ENOTSUP (3)
#    define ANJ_NET_EINPROGRESS (4)
typedef enum {
    ANJ_NET_SOCKET_STATE_CLOSED,
    ANJ_NET_SOCKET_STATE_CONNECTED
} anj_net_socket_state_t;
#    define NOT_YET ANJ_NET_EINPROGRESS
#endif

typedef enum {
    ANJ_NET_AF_SETTING_UNSPEC,
    ANJ_NET_AF_SETTING_FORCE_INET4,
    ANJ_NET_AF_SETTING_FORCE_INET6,
    ANJ_NET_AF_SETTING_PREFERRED_INET4,
    ANJ_NET_AF_SETTING_PREFERRED_INET6
} anj_net_address_family_setting_t;

typedef struct {
    anj_net_address_family_setting_t af_setting;
} anj_net_socket_configuration_t;

typedef struct {
    anj_net_socket_configuration_t raw_socket_config;
} anj_net_config_t;

struct anj_net_ctx_struct;
typedef struct anj_net_ctx_struct anj_net_ctx_t;

typedef int anj_net_create_ctx_t(anj_net_ctx_t **ctx,
                                 const anj_net_config_t *config);
typedef int anj_net_cleanup_ctx_t(anj_net_ctx_t **ctx);
typedef int
anj_net_connect_t(anj_net_ctx_t *ctx, const char *hostname, const char *port);
typedef int anj_net_send_t(anj_net_ctx_t *ctx,
                           size_t *bytes_sent,
                           const uint8_t *buf,
                           size_t length);
typedef int anj_net_recv_t(anj_net_ctx_t *ctx,
                           size_t *bytes_received,
                           uint8_t *buf,
                           size_t length);
typedef int anj_net_close_t(anj_net_ctx_t *ctx);
typedef int anj_net_get_state_t(anj_net_ctx_t *ctx,
                                anj_net_socket_state_t *out_value);
typedef int anj_net_get_inner_mtu_t(anj_net_ctx_t *ctx, int32_t *out_value);

anj_net_create_ctx_t anj_udp_create_ctx;
anj_net_cleanup_ctx_t anj_udp_cleanup_ctx;
anj_net_connect_t anj_udp_connect;
anj_net_send_t anj_udp_send;
anj_net_recv_t anj_udp_recv;
anj_net_close_t anj_udp_close;
anj_net_get_state_t anj_udp_get_state;
anj_net_get_inner_mtu_t anj_udp_get_inner_mtu;

#ifdef CELLSOCK_TEST_BETA1
typedef int anj_net_shutdown_t(anj_net_ctx_t *ctx);
typedef int anj_net_reuse_last_port_t(anj_net_ctx_t *ctx);
typedef int anj_net_get_bytes_sent_t(anj_net_ctx_t *ctx, uint64_t *out_value);
typedef int anj_net_get_bytes_received_t(anj_net_ctx_t *ctx,
                                         uint64_t *out_value);
typedef const void *anj_net_get_system_socket_t(anj_net_ctx_t *ctx);
anj_net_shutdown_t anj_udp_shutdown;
anj_net_reuse_last_port_t anj_udp_reuse_last_port;
anj_net_get_bytes_sent_t anj_udp_get_bytes_sent;
anj_net_get_bytes_received_t anj_udp_get_bytes_received;
anj_net_get_system_socket_t anj_udp_get_system_socket;
#    define CELLSOCK_ANJ_NET_API 1u
#else
typedef int anj_net_queue_mode_rx_off_t(anj_net_ctx_t *ctx);
anj_net_queue_mode_rx_off_t anj_udp_queue_mode_rx_off;
#endif

/* After Anjay's declarations, so the header checks them against the release. */
#include <cellsock.h>

/* ---- Supplied by tests/capi.rs ------------------------------------------- */

int32_t capi_test_uart_read(void *user, uint8_t *buf, size_t len);
int32_t capi_test_uart_write(void *user, const uint8_t *buf, size_t len);
uint64_t capi_test_now_ms(void *user);
/* Advance the virtual clock (and, in feed mode, hand the modem's due bytes to
 * cellsock_uart_rx like a UART interrupt would). */
void capi_test_sleep_ms(uint32_t ms);

/* ---- Helpers ------------------------------------------------------------- */

#define STEP_MS 10u         /* Anjay's loop period in the observed runs */
#define MAX_STEPS 100000    /* 1000 s of virtual time */

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            uint16_t code_ = 0;                                            \
            int32_t reason_ = cellsock_last_reason(&code_);                \
            fprintf(stderr, "%s:%d: check failed: %s (last reason: %s, %u)\n", \
                    __FILE__, __LINE__, #cond,                             \
                    cellsock_reason_name(reason_), (unsigned) code_);      \
            return __LINE__;                                               \
        }                                                                  \
    } while (0)

/* "Any other error": negative and not one of the named codes. */
static bool is_generic(int rc) {
    return rc < 0 && rc != ANJ_NET_EMSGSIZE && rc != ANJ_NET_ENOTSUP;
}

static void step(void) {
    capi_test_sleep_ms(STEP_MS);
}

/* get_state, then connect; again on the next step while "not yet". */
static int connect_like_anjay(anj_net_ctx_t *ctx, const char *host,
                              const char *port) {
    for (int i = 0; i < MAX_STEPS; i++) {
        anj_net_socket_state_t st;
        (void) anj_udp_get_state(ctx, &st);
        int rc = anj_udp_connect(ctx, host, port);
        if (rc != NOT_YET) {
            return rc;
        }
        step();
    }
    return -1000;
}

/* get_state, then close; again on the next step while "not yet". */
static int close_like_anjay(anj_net_ctx_t *ctx) {
    for (int i = 0; i < MAX_STEPS; i++) {
        anj_net_socket_state_t st;
        (void) anj_udp_get_state(ctx, &st);
        int rc = anj_udp_close(ctx);
        if (rc != NOT_YET) {
            return rc;
        }
        step();
    }
    return -1000;
}

static int cleanup_like_anjay(anj_net_ctx_t **ctx) {
    for (int i = 0; i < MAX_STEPS; i++) {
        int rc = anj_udp_cleanup_ctx(ctx);
        if (rc != NOT_YET) {
            return rc;
        }
        step();
    }
    return -1000;
}

/* The same send again while "not yet", nothing else in between. */
static int send_like_anjay(anj_net_ctx_t *ctx, const uint8_t *data,
                           size_t len, size_t *sent) {
    for (int i = 0; i < MAX_STEPS; i++) {
        *sent = 12345;
        int rc = anj_udp_send(ctx, sent, data, len);
        if (rc != NOT_YET) {
            return rc;
        }
        step();
    }
    return -1000;
}

/* recv on every step until something other than EAGAIN. */
static int recv_like_anjay(anj_net_ctx_t *ctx, uint8_t *buf, size_t len,
                           size_t *got) {
    for (int i = 0; i < MAX_STEPS; i++) {
        int rc = anj_udp_recv(ctx, got, buf, len);
        if (rc != ANJ_NET_EAGAIN) {
            return rc;
        }
        step();
    }
    return -1000;
}

static uint8_t rx_buf[1500];
static uint64_t total_sent;
static uint64_t total_received;

/* Send a datagram and receive the modem's echo of it. */
static int exchange(anj_net_ctx_t *ctx, const uint8_t *data, size_t len) {
    size_t sent = 0;
    CHECK(send_like_anjay(ctx, data, len, &sent) == ANJ_NET_OK);
    CHECK(sent == len);
    total_sent += len;
    size_t got = 0;
    CHECK(recv_like_anjay(ctx, rx_buf, sizeof(rx_buf), &got) == ANJ_NET_OK);
    CHECK(got == len);
    CHECK(memcmp(rx_buf, data, len) == 0);
    total_received += len;
    size_t none = 99;
    CHECK(anj_udp_recv(ctx, &none, rx_buf, sizeof(rx_buf)) == ANJ_NET_EAGAIN);
    CHECK(none == 0);
    return 0;
}

#define EXCHANGE(ctx, data, len) CHECK(exchange((ctx), (data), (len)) == 0)

static uint8_t big[1461];

/* ---- Entry points -------------------------------------------------------- */

size_t capi_test_config_size(void) {
    return sizeof(cellsock_config_t);
}

size_t capi_test_config_now_ms_offset(void) {
    return offsetof(cellsock_config_t, now_ms);
}

size_t capi_test_state_size(void) {
    return sizeof(anj_net_socket_state_t);
}

/* The whole life of an Anjay Lite client on one context, plus the misuse checks.
 * Returns 0, or the line of the first failed check. */
int run_anjay_like_client(const char *host, const char *port, uint32_t modem,
                          int use_feed) {
    CHECK(cellsock_anj_net_api_release == CELLSOCK_ANJ_NET_API);
    CHECK(sizeof(anj_net_socket_state_t) == cellsock_anj_enum_size);
    for (size_t i = 0; i < sizeof(big); i++) {
        big[i] = (uint8_t) (i * 7u + 1u);
    }
    total_sent = 0;
    total_received = 0;

    /* ---- init, and what it refuses ---- */
    cellsock_config_t cfg = CELLSOCK_CONFIG_INIT;
    cfg.modem = modem;
    cfg.apn = "internet";
    cfg.max_sockets = 2;
    cfg.uart_read = use_feed ? NULL : capi_test_uart_read;
    cfg.uart_write = capi_test_uart_write;
    cfg.now_ms = capi_test_now_ms;

    CHECK(cellsock_init(NULL) == CELLSOCK_ERR_ARG);
    cellsock_config_t wrong = cfg;
    wrong.anj_net_api = CELLSOCK_ANJ_NET_API == CELLSOCK_ANJ_NET_API_3X
                                ? CELLSOCK_ANJ_NET_API_1_0_0_BETA1
                                : CELLSOCK_ANJ_NET_API_3X;
    CHECK(cellsock_init(&wrong) == CELLSOCK_ERR_RELEASE);
    wrong = cfg;
    wrong.uart_write = NULL;
    CHECK(cellsock_init(&wrong) == CELLSOCK_ERR_ARG);
    wrong = cfg;
    wrong.modem = 99;
    CHECK(cellsock_init(&wrong) == CELLSOCK_ERR_CONFIG);
    wrong = cfg;
    wrong.max_sockets = CELLSOCK_MAX_SOCKETS + 1;
    CHECK(cellsock_init(&wrong) == CELLSOCK_ERR_CONFIG);
    wrong = cfg;
    wrong.apn = "bad\"apn";
    CHECK(cellsock_init(&wrong) == CELLSOCK_ERR_CONFIG);
    CHECK(cellsock_init(&cfg) == CELLSOCK_OK);
    uint64_t at = 0;
    CHECK(cellsock_poll_at_ms(NULL) == CELLSOCK_ERR_ARG);
    CHECK(cellsock_poll_at_ms(&at) == CELLSOCK_IDLE); /* nothing to do yet */
    CHECK(cellsock_poll() == CELLSOCK_OK);

    /* ---- NULL and foreign pointers are errors, never crashes ---- */
    anj_net_socket_state_t st = (anj_net_socket_state_t) 1;
    uint8_t small[16] = { 0 };
    size_t n = 0;
    int32_t mtu = 0;
    int foreign = 0;
    anj_net_ctx_t *bogus = (anj_net_ctx_t *) &foreign;
    CHECK(is_generic(anj_udp_get_state(NULL, &st)));
    CHECK(st == ANJ_NET_SOCKET_STATE_CLOSED); /* written even on error */
    st = (anj_net_socket_state_t) 1;
    CHECK(is_generic(anj_udp_get_state(bogus, &st)));
    CHECK(st == ANJ_NET_SOCKET_STATE_CLOSED);
    CHECK(is_generic(anj_udp_get_state(bogus, NULL)));
    CHECK(is_generic(anj_udp_create_ctx(NULL, NULL)));
    CHECK(is_generic(anj_udp_connect(NULL, host, port)));
    CHECK(is_generic(anj_udp_connect(bogus, host, port)));
    CHECK(is_generic(anj_udp_send(NULL, &n, small, 1)));
    CHECK(is_generic(anj_udp_recv(bogus, &n, small, sizeof(small))));
    CHECK(is_generic(anj_udp_close(NULL)));
    CHECK(is_generic(anj_udp_get_inner_mtu(NULL, &mtu)));
    CHECK(is_generic(anj_udp_cleanup_ctx(NULL)));
    anj_net_ctx_t *null_ctx = NULL;
    CHECK(is_generic(anj_udp_cleanup_ctx(&null_ctx)));
    CHECK(cellsock_last_reason(NULL) == CELLSOCK_REASON_BAD_ARGUMENT);

    /* ---- create as Anjay does: a zeroed config (address family UNSPEC) ---- */
    anj_net_config_t conf;
    memset(&conf, 0, sizeof(conf));
    anj_net_ctx_t *ctx = NULL;
    CHECK(anj_udp_create_ctx(&ctx, &conf) == ANJ_NET_OK);
    CHECK(ctx != NULL);
    /* IPv6 only on an IPv4 context: ENOTSUP, and no context. */
    anj_net_config_t v6 = conf;
    v6.raw_socket_config.af_setting = ANJ_NET_AF_SETTING_FORCE_INET6;
    anj_net_ctx_t *ctx6 = bogus;
    CHECK(anj_udp_create_ctx(&ctx6, &v6) == ANJ_NET_ENOTSUP);
    CHECK(ctx6 == NULL);
    /* max_sockets = 2: one more fits, the third does not. */
    anj_net_ctx_t *ctx2 = NULL;
    anj_net_ctx_t *ctx3 = bogus;
    CHECK(anj_udp_create_ctx(&ctx2, NULL) == ANJ_NET_OK);
    CHECK(ctx2 != NULL && ctx2 != ctx);
    CHECK(is_generic(anj_udp_create_ctx(&ctx3, NULL)));
    CHECK(ctx3 == NULL);
    CHECK(cellsock_last_reason(NULL) == CELLSOCK_REASON_NO_FREE_SOCKET);
    CHECK(anj_udp_cleanup_ctx(&ctx2) == ANJ_NET_OK); /* never connected */
    CHECK(ctx2 == NULL);

    /* ---- connect ---- */
    CHECK(anj_udp_get_state(ctx, &st) == ANJ_NET_OK);
    CHECK(st == ANJ_NET_SOCKET_STATE_CLOSED);
    CHECK(anj_udp_get_inner_mtu(ctx, &mtu) == ANJ_NET_OK && mtu == 1460);
#ifdef CELLSOCK_TEST_BETA1
    /* Never connected: nothing to reuse. */
    CHECK(is_generic(anj_udp_reuse_last_port(ctx)));
#endif
    CHECK(is_generic(anj_udp_connect(ctx, "bad host", port)));
    CHECK(cellsock_last_reason(NULL) == CELLSOCK_REASON_INVALID_HOST);
    CHECK(is_generic(anj_udp_connect(ctx, host, "70000")));
    CHECK(is_generic(anj_udp_connect(ctx, NULL, port)));
    CHECK(connect_like_anjay(ctx, host, port) == ANJ_NET_OK);
    mtu = 0;
    CHECK(anj_udp_get_inner_mtu(ctx, &mtu) == ANJ_NET_OK);
    CHECK(mtu == 1460);
    CHECK(anj_udp_get_state(ctx, &st) == ANJ_NET_OK);
    CHECK(st == ANJ_NET_SOCKET_STATE_CONNECTED);
    CHECK(anj_udp_connect(ctx, host, port) == ANJ_NET_OK); /* idempotent */

    /* ---- bad arguments on a live context ---- */
    CHECK(is_generic(anj_udp_send(ctx, NULL, small, 1)));
    CHECK(is_generic(anj_udp_send(ctx, &n, NULL, 5)));
    CHECK(is_generic(anj_udp_recv(ctx, NULL, small, sizeof(small))));
    CHECK(is_generic(anj_udp_recv(ctx, &n, NULL, 5)));
    CHECK(is_generic(anj_udp_get_inner_mtu(ctx, NULL)));

    /* ---- traffic ---- */
    CHECK(anj_udp_recv(ctx, &n, rx_buf, sizeof(rx_buf)) == ANJ_NET_EAGAIN);
    EXCHANGE(ctx, (const uint8_t *) "hello from C", 12);
    n = 99;
    CHECK(anj_udp_send(ctx, &n, big, sizeof(big)) == ANJ_NET_EMSGSIZE);
    CHECK(n == 0);
    EXCHANGE(ctx, big, 1460); /* exactly the inner MTU */
    /* A datagram longer than the buffer: EMSGSIZE, dropped, the next is fine. */
    size_t sent = 0;
    CHECK(send_like_anjay(ctx, big, 100, &sent) == ANJ_NET_OK && sent == 100);
    total_sent += 100;
    CHECK(recv_like_anjay(ctx, small, sizeof(small), &n) == ANJ_NET_EMSGSIZE);
    CHECK(anj_udp_recv(ctx, &n, rx_buf, sizeof(rx_buf)) == ANJ_NET_EAGAIN);
    EXCHANGE(ctx, big + 3, 16);

#ifndef CELLSOCK_TEST_BETA1
    /* ---- queue mode, 3.x: RX off, no recv for a while, the next send brings
     * reception back ---- */
    CHECK(anj_udp_queue_mode_rx_off(ctx) == ANJ_NET_OK);
    CHECK(anj_udp_queue_mode_rx_off(ctx) == ANJ_NET_OK); /* idempotent */
    for (int i = 0; i < 200; i++) {
        step();
        CHECK(cellsock_poll() == CELLSOCK_OK); /* the application's main loop */
    }
    CHECK(anj_udp_get_state(ctx, &st) == ANJ_NET_OK);
    CHECK(st == ANJ_NET_SOCKET_STATE_CONNECTED); /* the socket stays open */
    EXCHANGE(ctx, (const uint8_t *) "back from queue mode", 20);

    /* ---- close after a de-registration, connect again later ---- */
    CHECK(close_like_anjay(ctx) == ANJ_NET_OK);
    CHECK(anj_udp_get_state(ctx, &st) == ANJ_NET_OK);
    CHECK(st == ANJ_NET_SOCKET_STATE_CLOSED);
    for (int i = 0; i < 100; i++) {
        step();
    }
    CHECK(connect_like_anjay(ctx, host, port) == ANJ_NET_OK);
    CHECK(anj_udp_get_inner_mtu(ctx, &mtu) == ANJ_NET_OK && mtu == 1460);
    EXCHANGE(ctx, (const uint8_t *) "reconnected", 11);
#else
    /* ---- beta.1: byte counters, no system socket ---- */
    uint64_t count = 0;
    CHECK(anj_udp_get_bytes_sent(ctx, &count) == ANJ_NET_OK);
    CHECK(count == total_sent);
    CHECK(anj_udp_get_bytes_received(ctx, &count) == ANJ_NET_OK);
    CHECK(count == total_received);
    CHECK(is_generic(anj_udp_get_bytes_sent(ctx, NULL)));
    CHECK(anj_udp_get_system_socket(ctx) == NULL);
    CHECK(anj_udp_get_system_socket(NULL) == NULL);

    /* ---- beta.1 queue mode: get_state, shutdown, get_state, close; data
     * received before the shutdown can still be read ---- */
    CHECK(send_like_anjay(ctx, (const uint8_t *) "late", 4, &sent)
          == ANJ_NET_OK);
    for (int i = 0; i < 50; i++) {
        step(); /* the echo arrives meanwhile; nobody reads it yet */
        CHECK(cellsock_poll() == CELLSOCK_OK);
    }
    CHECK(anj_udp_get_state(ctx, &st) == ANJ_NET_OK);
    CHECK(st == ANJ_NET_SOCKET_STATE_CONNECTED);
    CHECK(anj_udp_shutdown(ctx) == ANJ_NET_OK);
    CHECK(anj_udp_get_state(ctx, &st) == ANJ_NET_OK);
    CHECK(st == ANJ_NET_SOCKET_STATE_SHUTDOWN);
    CHECK(anj_udp_recv(ctx, &n, rx_buf, sizeof(rx_buf)) == ANJ_NET_OK);
    CHECK(n == 4 && memcmp(rx_buf, "late", 4) == 0);
    CHECK(is_generic(anj_udp_send(ctx, &n, small, 1))); /* no sends */
    CHECK(close_like_anjay(ctx) == ANJ_NET_OK);
    CHECK(anj_udp_get_state(ctx, &st) == ANJ_NET_OK);
    CHECK(st == ANJ_NET_SOCKET_STATE_CLOSED);

    /* ---- leaving queue mode: get_state, reuse_last_port, connect (the same
     * local port), get_inner_mtu, send ---- */
    CHECK(anj_udp_get_state(ctx, &st) == ANJ_NET_OK);
    CHECK(st == ANJ_NET_SOCKET_STATE_CLOSED);
    CHECK(anj_udp_reuse_last_port(ctx) == ANJ_NET_OK);
    CHECK(anj_udp_get_state(ctx, &st) == ANJ_NET_OK);
    CHECK(st == ANJ_NET_SOCKET_STATE_BOUND);
    CHECK(connect_like_anjay(ctx, host, port) == ANJ_NET_OK);
    CHECK(anj_udp_get_state(ctx, &st) == ANJ_NET_OK);
    CHECK(st == ANJ_NET_SOCKET_STATE_CONNECTED);
    CHECK(anj_udp_get_inner_mtu(ctx, &mtu) == ANJ_NET_OK && mtu == 1460);
    EXCHANGE(ctx, (const uint8_t *) "same port", 9);
#endif

    /* ---- cleanup of a connected context (the application stops while
     * registered); the old pointer is refused afterwards ---- */
    anj_net_ctx_t *stale = ctx;
    CHECK(cleanup_like_anjay(&ctx) == ANJ_NET_OK);
    CHECK(ctx == NULL);
    st = (anj_net_socket_state_t) 1;
    CHECK(is_generic(anj_udp_get_state(stale, &st)));
    CHECK(st == ANJ_NET_SOCKET_STATE_CLOSED);
    CHECK(is_generic(anj_udp_connect(stale, host, port)));
    CHECK(cellsock_last_reason(NULL) == CELLSOCK_REASON_BAD_HANDLE);
    anj_net_ctx_t *again = NULL;
    CHECK(anj_udp_create_ctx(&again, &conf) == ANJ_NET_OK);
    CHECK(again != NULL && again != stale);
    CHECK(is_generic(anj_udp_get_state(stale, &st)));

    /* ---- a second cellsock_init drops every context ---- */
    CHECK(cellsock_init(&cfg) == CELLSOCK_OK);
    CHECK(is_generic(anj_udp_get_state(again, &st)));
    CHECK(st == ANJ_NET_SOCKET_STATE_CLOSED);
    return 0;
}
