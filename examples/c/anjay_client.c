/*
 * A minimal Anjay Lite client whose network is a Quectel BG96 on a serial port,
 * through libcellsock. Built against Anjay Lite 3.x with
 * ANJ_WITH_SOCKET_POSIX_COMPAT=OFF (see docs/anjay-lite.md for the CMake side).
 *
 * Where the network functions come from: Anjay Lite's core calls anj_udp_*
 * (create_ctx, connect, send, recv, close, ...). With the POSIX socket compat
 * layer switched off nothing in Anjay defines them; libcellsock.a does, on top of
 * the BG96's AT socket commands. This file only tells cellsock how to reach the
 * modem (UART callbacks, a clock) and calls cellsock_poll() in the main loop.
 *
 * This version runs on Linux with the modem on /dev/ttyUSB2 (a BG96 evaluation
 * board's AT port): the UART callbacks are non-blocking read()/write() on the tty.
 * On a microcontroller, replace them with the UART driver (or leave uart_read
 * NULL and call cellsock_uart_rx() from the receive interrupt) and now_ms with the
 * millisecond tick; Anjay's time compat layer must then come from the board too.
 *
 *     usage: anjay_client <endpoint name> [tty] [apn]
 */
#define _DEFAULT_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <anj/core.h>
#include <anj/defs.h>
#include <anj/dm/device_object.h>
#include <anj/dm/security_object.h>
#include <anj/dm/server_object.h>
/* Anjay's net API first: cellsock.h then checks at compile time that its codes are
 * those of the release libcellsock is built for (CELLSOCK_ANJ_NET_API). */
#include <anj/compat/net/anj_net_api.h>

#include <cellsock.h>

/* ---- The integrator's side: UART and clock -------------------------------- */

static int32_t uart_read(void *user, uint8_t *buf, size_t len) {
    int fd = *(int *) user;
    ssize_t n = read(fd, buf, len);
    if (n < 0) {
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    }
    return (int32_t) n;
}

static int32_t uart_write(void *user, const uint8_t *buf, size_t len) {
    int fd = *(int *) user;
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    }
    return (int32_t) n;
}

static uint64_t now_ms(void *user) {
    (void) user;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

/* 115200 8N1, raw, non-blocking. */
static int open_uart(const char *path) {
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        return -1;
    }
    struct termios t;
    if (tcgetattr(fd, &t) != 0) {
        close(fd);
        return -1;
    }
    cfmakeraw(&t);
    cfsetispeed(&t, B115200);
    cfsetospeed(&t, B115200);
    t.c_cflag |= CLOCAL | CREAD;
    t.c_cflag &= ~CRTSCTS;
    if (tcsetattr(fd, TCSANOW, &t) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- LwM2M objects (the minimum a server accepts) ------------------------- */

static int install_objects(anj_t *anj, anj_dm_device_obj_t *device,
                           anj_dm_server_obj_t *server,
                           anj_dm_security_obj_t *security) {
    anj_dm_device_object_init_t device_conf = {
        .firmware_version = "0.1"
    };
    anj_dm_server_instance_init_t server_inst = {
        .ssid = 1,
        .lifetime = 300,
        .binding = "U",
        .bootstrap_on_registration_failure = &(bool) { false },
    };
    anj_dm_security_instance_init_t security_inst = {
        .ssid = 1,
        .server_uri = "coap://eu.iot.avsystem.cloud:5683",
        .security_mode = ANJ_DM_SECURITY_NOSEC
    };
    anj_dm_server_obj_init(server);
    anj_dm_security_obj_init(security);
    if (anj_dm_device_obj_install(anj, device, &device_conf)
            || anj_dm_server_obj_add_instance(server, &server_inst)
            || anj_dm_server_obj_install(anj, server)
            || anj_dm_security_obj_add_instance(security, &security_inst)
            || anj_dm_security_obj_install(anj, security)) {
        return -1;
    }
    return 0;
}

int main(int argc, char *argv[]) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s <endpoint name> [tty] [apn]\n", argv[0]);
        return 1;
    }
    const char *tty = argc > 2 ? argv[2] : "/dev/ttyUSB2";
    const char *apn = argc > 3 ? argv[3] : "";

    /* The library must be built for the release this application uses, and
     * agree with the compiler on the size of C enums. */
    if (cellsock_anj_net_api_release != CELLSOCK_ANJ_NET_API
            || sizeof(anj_net_socket_state_t) != cellsock_anj_enum_size) {
        fprintf(stderr, "libcellsock does not match this build\n");
        return 1;
    }

    static int uart_fd;
    uart_fd = open_uart(tty);
    if (uart_fd < 0) {
        perror(tty);
        return 1;
    }

    /* 1. cellsock first: Anjay's first anj_udp_* call needs it. */
    cellsock_config_t net = CELLSOCK_CONFIG_INIT;
    net.modem = CELLSOCK_MODEM_BG96;
    net.apn = apn;
    net.max_sockets = 1; /* Anjay Lite uses one socket per server */
    net.user = &uart_fd;
    net.uart_read = uart_read;
    net.uart_write = uart_write;
    net.now_ms = now_ms;
    int rc = cellsock_init(&net);
    if (rc != CELLSOCK_OK) {
        fprintf(stderr, "cellsock_init: %d\n", rc);
        return 1;
    }

    /* 2. Anjay Lite as usual. */
    static anj_t anj;
    static anj_dm_device_obj_t device_obj;
    static anj_dm_server_obj_t server_obj;
    static anj_dm_security_obj_t security_obj;
    anj_configuration_t config = {
        .endpoint_name = argv[1]
    };
    if (anj_core_init(&anj, &config)
            || install_objects(&anj, &device_obj, &server_obj,
                               &security_obj)) {
        fprintf(stderr, "Anjay Lite initialisation failed\n");
        return 1;
    }

    /* 3. The loop: Anjay's step (which calls anj_udp_*), then let the driver
     * work, then sleep briefly. A firmware could sleep until
     * cellsock_poll_at_ms() or the next UART interrupt instead. */
    int32_t last_reason = CELLSOCK_REASON_NONE;
    while (true) {
        anj_core_step(&anj);
        cellsock_poll();

        uint16_t modem_code = 0;
        int32_t reason = cellsock_last_reason(&modem_code);
        if (reason != last_reason) {
            /* Anjay only sees "error": say why. */
            fprintf(stderr, "cellsock: %s (%u)\n", cellsock_reason_name(reason),
                    (unsigned) modem_code);
            last_reason = reason;
        }
        usleep(10 * 1000);
    }
    return 0;
}
