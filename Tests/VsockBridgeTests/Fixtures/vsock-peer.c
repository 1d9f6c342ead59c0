/*
 * vsock-peer: the guest half of the VsockBridge end-to-end tests and benchmarks. Built with
 * `gcc -static` into out/bridge/ and run inside a test initramfs (make/bridge.mk), where it is started
 * by /init once the vsock and virtio modules are loaded. It prints "vsock-peer: ready" on the console
 * when all its listeners are up.
 *
 * Services on AF_VSOCK (any CID), one forked child per connection:
 *   5000 echo    writes back everything it reads until end of file, then closes
 *   5001 sink    reads until end of file, then writes "<bytes read>\n" and closes
 *   5002 source  reads "<count>\n", writes <count> pattern bytes, closes
 *   5003 dial    reads "<port> <count>\n", connects to CID 2 port <port>, sends <count> pattern bytes,
 *                shuts down its sending side, reads until end of file, then answers the controlling
 *                connection "OK sent <n> received <m>\n" or "ERR <step>: <strerror>\n"
 *   5004 flood   reads "<count>\n", then opens <count> connections as fast as it can, up to 64 at once
 *                (non-blocking), to places nobody serves: CID 2 ports 20000-29999 (nothing listens on the
 *                host) and CID 77 (not the host); answers "FLOODED <count> reset <r> other <o>\n", where
 *                r were reset (what the bridge should answer) and o ended otherwise
 * On a virtio-serial port named "bench" (if present), commands from the host:
 *   "SINK <count>\n" then <count> bytes: answers "DONE\n";  "SOURCE <count>\n": writes <count> bytes.
 *
 * The pattern is byte i = (i * 131 + (i >> 12)) & 0xff, which the host regenerates to check content.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define CHUNK 65536

static unsigned char pattern_byte(uint64_t i) { return (unsigned char)((i * 131 + (i >> 12)) & 0xff); }

static void fill_pattern(unsigned char *buf, size_t n, uint64_t offset) {
    for (size_t i = 0; i < n; i++) buf[i] = pattern_byte(offset + i);
}

static int write_all(int fd, const void *buf, size_t n) {
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) { if (errno == EINTR) continue; return -1; }
        p += w; n -= (size_t)w;
    }
    return 0;
}

/* Reads one line (without the newline) byte by byte, so nothing after it is consumed. */
static int read_line(int fd, char *line, size_t size) {
    size_t n = 0;
    while (n + 1 < size) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        if (c == '\n') { line[n] = 0; return 0; }
        line[n++] = c;
    }
    return -1;
}

static int send_pattern(int fd, uint64_t count) {
    static unsigned char buf[CHUNK];
    uint64_t sent = 0;
    while (sent < count) {
        size_t n = count - sent < CHUNK ? (size_t)(count - sent) : CHUNK;
        fill_pattern(buf, n, sent);
        if (write_all(fd, buf, n) < 0) return -1;
        sent += n;
    }
    return 0;
}

static void serve_echo(int fd) {
    static unsigned char buf[CHUNK];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (write_all(fd, buf, (size_t)r) < 0) break;
    }
}

static void serve_sink(int fd) {
    static unsigned char buf[CHUNK];
    uint64_t total = 0;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        total += (uint64_t)r;
    }
    char reply[32];
    int n = snprintf(reply, sizeof reply, "%llu\n", (unsigned long long)total);
    write_all(fd, reply, (size_t)n);
}

static void serve_source(int fd) {
    char line[64];
    if (read_line(fd, line, sizeof line) < 0) return;
    send_pattern(fd, strtoull(line, NULL, 10));
}

static void serve_dial(int control) {
    char line[64], reply[160];
    if (read_line(control, line, sizeof line) < 0) return;
    unsigned port = 0;
    unsigned long long count = 0;
    if (sscanf(line, "%u %llu", &port, &count) != 2) {
        write_all(control, "ERR parse: expected <port> <count>\n", 35);
        return;
    }
    int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = port };
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int n = snprintf(reply, sizeof reply, "ERR connect: %s\n", strerror(errno));
        write_all(control, reply, (size_t)n);
        return;
    }
    if (send_pattern(fd, count) < 0) {
        int n = snprintf(reply, sizeof reply, "ERR send: %s\n", strerror(errno));
        write_all(control, reply, (size_t)n);
        return;
    }
    shutdown(fd, SHUT_WR);
    static unsigned char buf[CHUNK];
    uint64_t received = 0;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        received += (uint64_t)r;
    }
    close(fd);
    int n = snprintf(reply, sizeof reply, "OK sent %llu received %llu\n", count, (unsigned long long)received);
    write_all(control, reply, (size_t)n);
}

/* One non-blocking connect to (cid, port); the socket, or -1 when it failed at once (counted in *other). */
static int start_connect(unsigned cid, unsigned port, unsigned long long *reset, unsigned long long *other) {
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { (*other)++; return -1; }
    struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) { close(fd); (*other)++; return -1; }
    if (errno == EINPROGRESS) return fd;
    if (errno == ECONNRESET) (*reset)++; else (*other)++;
    close(fd);
    return -1;
}

static void serve_flood(int control) {
    char line[64], reply[128];
    if (read_line(control, line, sizeof line) < 0) return;
    unsigned long long count = strtoull(line, NULL, 10), started = 0, done = 0, reset = 0, other = 0;
    struct pollfd fds[64];
    int open = 0;
    while (done < count) {
        while (open < 64 && started < count) {
            /* Every fourth to another CID, the rest to host ports without a listener. */
            unsigned cid = started % 4 == 3 ? 77 : VMADDR_CID_HOST;
            int fd = start_connect(cid, 20000 + (unsigned)(started % 10000), &reset, &other);
            started++;
            if (fd < 0) { done++; continue; }
            fds[open].fd = fd;
            fds[open].events = POLLOUT;
            open++;
        }
        if (open == 0) continue;
        if (poll(fds, (nfds_t)open, 10000) <= 0) {
            /* Nothing answered within 10 s: give up on these. */
            for (int i = 0; i < open; i++) { close(fds[i].fd); other++; done++; }
            open = 0;
            continue;
        }
        for (int i = 0; i < open;) {
            if (fds[i].revents == 0) { i++; continue; }
            int error = 0;
            socklen_t length = sizeof error;
            getsockopt(fds[i].fd, SOL_SOCKET, SO_ERROR, &error, &length);
            if (error == ECONNRESET) reset++; else other++;
            close(fds[i].fd);
            done++;
            fds[i] = fds[--open];
        }
    }
    int n = snprintf(reply, sizeof reply, "FLOODED %llu reset %llu other %llu\n", count, reset, other);
    write_all(control, reply, (size_t)n);
}

static int listen_vsock(unsigned port) {
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) { perror("vsock-peer: socket(AF_VSOCK)"); return -1; }
    struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port };
    /* A deep backlog: the host may open connections faster than a forking server under TCG accepts them,
     * and a full accept queue makes the guest kernel answer RST. */
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 1024) < 0) {
        fprintf(stderr, "vsock-peer: listen on port %u: %s\n", port, strerror(errno));
        return -1;
    }
    return fd;
}

/* Finds /dev/vportNpM for the virtio-serial port named `name` (no udev in the initramfs). */
static int open_serial_port(const char *name) {
    DIR *dir = opendir("/sys/class/virtio-ports");
    if (!dir) return -1;
    struct dirent *e;
    int fd = -1;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.') continue;
        char path[300], value[64] = {0};
        snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
        int nf = open(path, O_RDONLY);
        if (nf < 0) continue;
        ssize_t r = read(nf, value, sizeof value - 1);
        close(nf);
        if (r > 0 && value[r - 1] == '\n') value[r - 1] = 0;
        if (strcmp(value, name) == 0) {
            snprintf(path, sizeof path, "/dev/%s", e->d_name);
            fd = open(path, O_RDWR);
            break;
        }
    }
    closedir(dir);
    return fd;
}

static void serve_serial(int fd) {
    static unsigned char buf[CHUNK];
    char line[64];
    for (;;) {
        if (read_line(fd, line, sizeof line) < 0) { usleep(100000); continue; }
        unsigned long long count = 0;
        if (sscanf(line, "SINK %llu", &count) == 1) {
            while (count > 0) {
                ssize_t r = read(fd, buf, count < CHUNK ? count : CHUNK);
                if (r < 0 && errno == EINTR) continue;
                if (r <= 0) break;
                count -= (unsigned long long)r;
            }
            write_all(fd, "DONE\n", 5);
        } else if (sscanf(line, "SOURCE %llu", &count) == 1) {
            send_pattern(fd, count);
        }
    }
}

int main(void) {
    signal(SIGCHLD, SIG_IGN);  /* children are reaped by the kernel: this may run as PID 1 */
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IONBF, 0);
    unsigned ports[5] = { 5000, 5001, 5002, 5003, 5004 };
    void (*services[5])(int) = { serve_echo, serve_sink, serve_source, serve_dial, serve_flood };
    for (int i = 0; i < 5; i++) {
        int listener = listen_vsock(ports[i]);
        if (listener < 0) { for (;;) pause(); }
        if (fork() == 0) {
            for (;;) {
                int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0) { if (errno == EINTR || errno == ECONNABORTED) continue; perror("accept"); _exit(1); }
                if (fork() == 0) { services[i](fd); close(fd); _exit(0); }
                close(fd);
            }
        }
        close(listener);
    }
    int serial = open_serial_port("bench");
    if (serial >= 0 && fork() == 0) { serve_serial(serial); _exit(0); }
    printf("vsock-peer: ready (ports 5000-5004%s)\n", serial >= 0 ? ", serial port bench" : "");
    for (;;) pause();
}
