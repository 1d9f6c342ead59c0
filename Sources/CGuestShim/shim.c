#define _GNU_SOURCE 1
#include "gk_shim.h"
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <grp.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/io.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

int gk_wifexited(int status) { return WIFEXITED(status); }
int gk_wexitstatus(int status) { return WEXITSTATUS(status); }
int gk_wifsignaled(int status) { return WIFSIGNALED(status); }
int gk_wtermsig(int status) { return WTERMSIG(status); }
int gk_wcoredump(int status) { return WCOREDUMP(status); }

int gk_fcntl_int(int fd, int cmd, int arg) { return fcntl(fd, cmd, arg); }
const int GK_F_SETPIPE_SZ = F_SETPIPE_SZ;
const int GK_O_PATH = O_PATH;

int gk_get_winsize(int fd, unsigned short *rows, unsigned short *cols) {
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) < 0) return -1;
    *rows = ws.ws_row;
    *cols = ws.ws_col;
    return 0;
}

int gk_set_winsize(int fd, unsigned short rows, unsigned short cols) {
    struct winsize ws = { .ws_row = rows, .ws_col = cols };
    return ioctl(fd, TIOCSWINSZ, &ws);
}

int gk_set_controlling_tty(int fd) { return ioctl(fd, TIOCSCTTY, 0); }

int gk_interface_up(const char *name) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (rc == 0 && !(ifr.ifr_flags & IFF_UP)) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    int saved = errno;
    close(s);
    errno = saved;
    return rc;
}

int gk_epoll_ctl(int epfd, int op, int fd, uint32_t events) {
    struct epoll_event ev = { .events = events, .data.fd = fd };
    return epoll_ctl(epfd, op, fd, &ev);
}

int gk_epoll_wait(int epfd, struct gk_poll_event *out, int max, int timeout_ms) {
    struct epoll_event evs[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, evs, max, timeout_ms);
    for (int i = 0; i < n; i++) {
        out[i].fd = evs[i].data.fd;
        out[i].events = evs[i].events;
    }
    return n;
}

static int unix_address(struct sockaddr_un *sa, const char *path) {
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa->sun_path) { errno = ENAMETOOLONG; return -1; }
    strcpy(sa->sun_path, path);
    return 0;
}

int gk_bind_unix(int fd, const char *path) {
    struct sockaddr_un sa;
    if (unix_address(&sa, path) < 0) return -1;
    return bind(fd, (struct sockaddr *)&sa, sizeof sa);
}

int gk_connect_unix(int fd, const char *path) {
    struct sockaddr_un sa;
    if (unix_address(&sa, path) < 0) return -1;
    return connect(fd, (struct sockaddr *)&sa, sizeof sa);
}

static void vsock_address(struct sockaddr_vm *sa, unsigned int cid, unsigned int port) {
    memset(sa, 0, sizeof *sa);
    sa->svm_family = AF_VSOCK;
    sa->svm_cid = cid;
    sa->svm_port = port;
}

int gk_bind_vsock(int fd, unsigned int cid, unsigned int port) {
    struct sockaddr_vm sa;
    vsock_address(&sa, cid, port);
    return bind(fd, (struct sockaddr *)&sa, sizeof sa);
}

int gk_connect_vsock(int fd, unsigned int cid, unsigned int port) {
    struct sockaddr_vm sa;
    vsock_address(&sa, cid, port);
    return connect(fd, (struct sockaddr *)&sa, sizeof sa);
}

int gk_peer_vsock(int fd, unsigned int *cid, unsigned int *port) {
    struct sockaddr_vm sa;
    socklen_t len = sizeof sa;
    if (getpeername(fd, (struct sockaddr *)&sa, &len) < 0) return -1;
    *cid = sa.svm_cid;
    *port = sa.svm_port;
    return 0;
}

ssize_t gk_sendmsg_fds(int sock, const void *buf, size_t len, const int *fds, int nfds) {
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    char control[CMSG_SPACE(sizeof(int) * 32)];
    if (nfds > 32) { errno = EINVAL; return -1; }
    if (nfds > 0) {
        memset(control, 0, sizeof control);
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

ssize_t gk_recvmsg_fds(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds) {
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    char control[CMSG_SPACE(sizeof(int) * 32)];
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    *nfds = 0;
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *incoming = (int *)CMSG_DATA(c);
        for (int i = 0; i < count; i++) {
            if (*nfds < maxfds) fds[(*nfds)++] = incoming[i];
            else close(incoming[i]);  // more than asked for: never leak them
        }
    }
    return n;
}

int gk_outb(unsigned short port, unsigned char value) {
    if (ioperm(port, 1, 1) < 0) return -1;
    outb(value, port);
    return 0;
}

int gk_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }
int gk_statfs_type(const char *path, int64_t *type) {
    struct statfs st;
    if (statfs(path, &st) < 0) return -1;
    *type = (int64_t)st.f_type;
    return 0;
}
unsigned int gk_major(uint64_t dev) { return major(dev); }
unsigned int gk_minor(uint64_t dev) { return minor(dev); }
uint64_t gk_makedev(unsigned int ma, unsigned int mi) { return makedev(ma, mi); }

int gk_accept4(int fd, int flags) { return accept4(fd, NULL, NULL, flags); }

int gk_open_pty(char *name, size_t name_size) {
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return -1;
    if (grantpt(fd) < 0 || unlockpt(fd) < 0 || ptsname_r(fd, name, name_size) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int gk_prctl_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }
int gk_prctl_parent_death_signal(int signal) { return prctl(PR_SET_PDEATHSIG, signal, 0, 0, 0); }

int gk_pivot_root(const char *new_root, const char *put_old) {
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int gk_readable_bytes(int fd, int *count) { return ioctl(fd, FIONREAD, count); }

int gk_child_ended_unreaped(pid_t pid) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0) return -1;
    return info.si_pid == pid ? 1 : 0;
}

static volatile int relay_fd = -1;

static void relay_handler(int signal) {
    int saved = errno;
    unsigned char byte = (unsigned char)signal;
    ssize_t ignored = write(relay_fd, &byte, 1);
    (void)ignored;
    errno = saved;
}

int gk_relay_signals(const int *signals, int count, int fd) {
    relay_fd = fd;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = relay_handler;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    for (int i = 0; i < count; i++) {
        if (sigaction(signals[i], &action, NULL) < 0) return -1;
    }
    return 0;
}

void gk_raise_default(int signal) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    sigaction(signal, &action, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signal);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    raise(signal);
}
