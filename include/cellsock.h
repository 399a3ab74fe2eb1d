/*
 * cellsock.h: the integrator's side of libcellsock.
 *
 * libcellsock.a defines the anj_udp_* functions Anjay Lite calls when it is built
 * with ANJ_WITH_SOCKET_POSIX_COMPAT=OFF (their prototypes are Anjay Lite's own, in
 * anj/compat/net/anj_udp.h and anj_net_api.h; this header does not repeat them).
 * What only the integrator knows comes through this header: the UART, the clock,
 * the modem, the APN, and when to let the driver work.
 *
 *     cellsock_config_t cfg = CELLSOCK_CONFIG_INIT;
 *     cfg.apn = "internet";
 *     cfg.uart_read = my_uart_read;    // or NULL and cellsock_uart_rx() from the ISR
 *     cfg.uart_write = my_uart_write;
 *     cfg.now_ms = my_millis;
 *     if (cellsock_init(&cfg) != CELLSOCK_OK) { ... }
 *     for (;;) { anj_core_step(&anj); cellsock_poll(); ... }
 *
 * Threading: one thread calls everything, like Anjay Lite's loop. A cellsock call
 * made while another one runs (a callback calling back into cellsock, an interrupt,
 * a second thread) is refused (CELLSOCK_ERR_BUSY, or the generic ANJ_NET error)
 * and changes nothing. Only cellsock_uart_rx() is meant for an interrupt.
 * Details: docs/anjay-lite.md.
 */
#ifndef CELLSOCK_H
#define CELLSOCK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The Anjay Lite contract release ------------------------------------ */

/* Anjay Lite 1.0.0-beta.1: 13 functions, EMSGSIZE -1, ENOTSUP -2, generic error
 * -3, no EINPROGRESS (EAGAIN means "call again"), states CLOSED, SHUTDOWN, BOUND,
 * CONNECTED. libcellsock built with the cargo feature `capi-beta1`. */
#define CELLSOCK_ANJ_NET_API_1_0_0_BETA1 1u
/* Anjay Lite 2.0.0 up to the current 3.x: 9 functions, codes 0..4 (EINPROGRESS
 * 4), generic error -1, states CLOSED = 0, CONNECTED = 1. The default build. */
#define CELLSOCK_ANJ_NET_API_3X 3u

/* The release the application is built for: define it (-DCELLSOCK_ANJ_NET_API=...)
 * when it is not the default. cellsock_init() refuses a library built for another
 * one, so the mismatch cannot go unnoticed (the function names are the same in
 * every release, so it would otherwise link cleanly and misread the numbers). */
#ifndef CELLSOCK_ANJ_NET_API
#    define CELLSOCK_ANJ_NET_API CELLSOCK_ANJ_NET_API_3X
#endif

#if CELLSOCK_ANJ_NET_API != CELLSOCK_ANJ_NET_API_3X \
        && CELLSOCK_ANJ_NET_API != CELLSOCK_ANJ_NET_API_1_0_0_BETA1
#    error "CELLSOCK_ANJ_NET_API must be CELLSOCK_ANJ_NET_API_3X or CELLSOCK_ANJ_NET_API_1_0_0_BETA1"
#endif

/* When Anjay Lite's anj_net_api.h is included before this header, its codes are
 * checked against the release chosen here at compile time. */
#if defined(ANJ_NET_EMSGSIZE)
#    if CELLSOCK_ANJ_NET_API == CELLSOCK_ANJ_NET_API_3X \
            && (ANJ_NET_EMSGSIZE != 2 || !defined(ANJ_NET_EINPROGRESS))
#        error "Anjay Lite's anj_net_api.h is not the 2.x/3.x contract: set CELLSOCK_ANJ_NET_API"
#    endif
#    if CELLSOCK_ANJ_NET_API == CELLSOCK_ANJ_NET_API_1_0_0_BETA1 \
            && (ANJ_NET_EMSGSIZE != -1 || defined(ANJ_NET_EINPROGRESS))
#        error "Anjay Lite's anj_net_api.h is not the 1.0.0-beta.1 contract: set CELLSOCK_ANJ_NET_API"
#    endif
#endif

/* The release libcellsock was built for (a CELLSOCK_ANJ_NET_API_* value). */
extern const uint32_t cellsock_anj_net_api_release;

/* sizeof a C enum as libcellsock was compiled for the target (1 where C enums are
 * short, as on arm-none-eabi, else sizeof(int)). anj_udp_get_state writes this many
 * bytes; check sizeof(anj_net_socket_state_t) == cellsock_anj_enum_size. */
extern const uint8_t cellsock_anj_enum_size;

/* ---- Limits -------------------------------------------------------------- */

/* Sockets (anj_net_ctx_t) the library has. */
#define CELLSOCK_MAX_SOCKETS 4
/* Bytes cellsock_uart_rx() buffers between two polls. */
#define CELLSOCK_FEED_CAPACITY 2048

/* ---- Return codes of the cellsock_* functions ---------------------------- */

#define CELLSOCK_OK 0
/* cellsock_poll_at_ms(): no deadline; only a UART byte or an API call can make
 * progress. */
#define CELLSOCK_IDLE 1
/* A NULL or invalid argument, a missing callback. */
#define CELLSOCK_ERR_ARG (-1)
/* Another cellsock call is running (re-entered, interrupt, second thread). */
#define CELLSOCK_ERR_BUSY (-2)
/* cellsock_init() has not succeeded. */
#define CELLSOCK_ERR_NOT_INITIALISED (-3)
/* config->anj_net_api is not the release libcellsock was built for. */
#define CELLSOCK_ERR_RELEASE (-4)
/* Unknown modem or PDP type, bad APN, max_sockets above CELLSOCK_MAX_SOCKETS. */
#define CELLSOCK_ERR_CONFIG (-5)

/* ---- Configuration ------------------------------------------------------- */

/* Quectel BG96 (BG95, BG77): received datagrams pushed with their URC. */
#define CELLSOCK_MODEM_BG96 1u
/* Quectel BG96: received datagrams read from the modem's buffer. */
#define CELLSOCK_MODEM_BG96_BUFFER 2u

#define CELLSOCK_PDP_IPV4 0u
#define CELLSOCK_PDP_IPV6 1u
#define CELLSOCK_PDP_IPV4V6 2u

/* Non-blocking UART read: copy up to len received bytes into buf and return how
 * many (0: none now), or a negative value on a UART error. Never wait. */
typedef int32_t (*cellsock_uart_read_fn)(void *user, uint8_t *buf, size_t len);
/* Non-blocking UART write: take up to len bytes and return how many (0: not now),
 * or a negative value on error. Never wait; the driver offers the rest later. */
typedef int32_t (*cellsock_uart_write_fn)(void *user, const uint8_t *buf,
                                          size_t len);
/* Monotonic milliseconds (any origin). */
typedef uint64_t (*cellsock_now_ms_fn)(void *user);

typedef struct cellsock_config {
    /* CELLSOCK_ANJ_NET_API: the Anjay Lite release the application is built
     * for. Must equal cellsock_anj_net_api_release. */
    uint32_t anj_net_api;
    /* CELLSOCK_MODEM_*. */
    uint32_t modem;
    /* APN, NUL-terminated; NULL or "" for the network's default. Copied. */
    const char *apn;
    /* Sockets Anjay may have at once, 1..CELLSOCK_MAX_SOCKETS; 0 for all. */
    uint32_t max_sockets;
    /* CELLSOCK_PDP_*. */
    uint32_t pdp_type;
    /* Packet data context id; 0 for 1. */
    uint32_t context_id;
    /* Upper bound of one whole connect (modem start, registration, context,
     * open) in ms, after which anj_udp_connect fails; 0 for 240000. */
    uint32_t connect_timeout_ms;
    /* Passed to every callback. */
    void *user;
    /* NULL: the UART interrupt hands received bytes to cellsock_uart_rx(). */
    cellsock_uart_read_fn uart_read;
    /* Required. */
    cellsock_uart_write_fn uart_write;
    /* Required. */
    cellsock_now_ms_fn now_ms;
} cellsock_config_t;

/* Defaults: the release of this header, BG96 direct push, network APN, all
 * sockets, IPv4, context 1, 240 s connect bound. Set the callbacks. */
#define CELLSOCK_CONFIG_INIT                                                 \
    {                                                                        \
        CELLSOCK_ANJ_NET_API, CELLSOCK_MODEM_BG96, NULL, 0, CELLSOCK_PDP_IPV4, \
                0, 0, NULL, NULL, NULL, NULL                                 \
    }

/* ---- Functions ----------------------------------------------------------- */

/* Set up (or reset) the driver; nothing goes to the modem until Anjay connects.
 * Again later: every socket is dropped and old anj_net_ctx_t pointers are refused.
 * Returns CELLSOCK_OK or CELLSOCK_ERR_*. Needs roughly the driver's size in stack
 * (about 13 KiB) while it runs. */
int cellsock_init(const cellsock_config_t *config);

/* Let the driver work now: read the UART, handle timeouts, send the next command.
 * Call it from the main loop (every anj_udp_* call polls too). */
int cellsock_poll(void);

/* When the driver next needs cellsock_poll() if no byte arrives (on the now_ms
 * clock): CELLSOCK_OK with *at_ms set, or CELLSOCK_IDLE when there is no deadline
 * (sleep until the next UART byte or Anjay's next step). */
int cellsock_poll_at_ms(uint64_t *at_ms);

/* From the UART receive interrupt, when config.uart_read is NULL: queue received
 * bytes for the next poll. Lock-free, never blocked by the main loop. Returns how
 * many were taken (the rest did not fit: poll more often). */
size_t cellsock_uart_rx(const uint8_t *bytes, size_t len);

/* ---- Diagnostics --------------------------------------------------------- */

#define CELLSOCK_REASON_NONE 0
#define CELLSOCK_REASON_INVALID_STATE 1
#define CELLSOCK_REASON_BAD_HANDLE 2
#define CELLSOCK_REASON_NO_FREE_SOCKET 3
#define CELLSOCK_REASON_INVALID_HOST 4
#define CELLSOCK_REASON_INVALID_PORT 5
#define CELLSOCK_REASON_TIMEOUT 6
#define CELLSOCK_REASON_MODEM_NOT_READY 7
#define CELLSOCK_REASON_SIM_NOT_READY 8
#define CELLSOCK_REASON_NOT_REGISTERED 9
#define CELLSOCK_REASON_PDP_ACTIVATION_FAILED 10
#define CELLSOCK_REASON_DNS_FAILED 11
#define CELLSOCK_REASON_OPEN_FAILED 12
#define CELLSOCK_REASON_MODEM_ERROR 13
#define CELLSOCK_REASON_SEND_FAILED 14
#define CELLSOCK_REASON_SOCKET_CLOSED 15
#define CELLSOCK_REASON_PDP_DEACTIVATED 16
#define CELLSOCK_REASON_MODEM_REBOOTED 17
#define CELLSOCK_REASON_REGISTRATION_LOST 18
#define CELLSOCK_REASON_MESSAGE_SIZE 19
#define CELLSOCK_REASON_NOT_SUPPORTED 20
#define CELLSOCK_REASON_SOCKET_IN_USE 21
#define CELLSOCK_REASON_BAD_ARGUMENT 100
#define CELLSOCK_REASON_BUSY 101
#define CELLSOCK_REASON_NOT_INITIALISED 102

/* Why the last failed call failed (Anjay only sees the generic error), and the
 * modem's own error number where there is one (modem_code may be NULL). */
int32_t cellsock_last_reason(uint16_t *modem_code);

/* A static name for a CELLSOCK_REASON_* value; never NULL. */
const char *cellsock_reason_name(int32_t reason);

#ifdef __cplusplus
}
#endif

#endif /* CELLSOCK_H */
