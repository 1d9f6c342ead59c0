// C helpers for what Swift cannot reach on Linux. Each declaration says why it exists.
// Everything here is named gk_… and returns -1 with errno set on failure, like the calls it wraps.
#ifndef GK_SHIM_H
#define GK_SHIM_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/sysmacros.h>
#include <sys/statfs.h>
#include <signal.h>
#include <termios.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include <time.h>
#include <linux/vm_sockets.h>

// The W* status macros are function-like macros, which Swift does not import.
int gk_wifexited(int status);
int gk_wexitstatus(int status);
int gk_wifsignaled(int status);
int gk_wtermsig(int status);
int gk_wcoredump(int status);

// ioctl and fcntl are variadic, which Swift does not call.
int gk_fcntl_int(int fd, int cmd, int arg);
/// F_SETPIPE_SZ and O_PATH from <fcntl.h>, which defines them only under _GNU_SOURCE (Swift's Glibc
/// module has none).
extern const int GK_F_SETPIPE_SZ;
extern const int GK_O_PATH;
int gk_get_winsize(int fd, unsigned short *rows, unsigned short *cols);
int gk_set_winsize(int fd, unsigned short rows, unsigned short cols);
int gk_set_controlling_tty(int fd);
/// Sets IFF_UP on a network interface (SIOCGIFFLAGS/SIOCSIFFLAGS on a datagram socket).
int gk_interface_up(const char *name);
/// Attaches an open /dev/net/tun descriptor to the tap device `name` (created when missing) as
/// IFF_TAP | IFF_NO_PI, plus IFF_VNET_HDR when vnet_header is set: TUNSETIFF is an ioctl on a struct ifreq.
int gk_tap_attach(int fd, const char *name, int vnet_header);
/// setns(fd, CLONE_NEWNET) for the calling thread: setns is declared only under _GNU_SOURCE.
int gk_setns_network(int fd);

// epoll_event is a packed struct on x86_64; this unpacks it into a plain one Swift handles safely.
struct gk_poll_event { int fd; uint32_t events; };
int gk_epoll_ctl(int epfd, int op, int fd, uint32_t events);
int gk_epoll_wait(int epfd, struct gk_poll_event *out, int max, int timeout_ms);

// Socket addresses are unions and flexible arrays; building them in C keeps the Swift side typed.
int gk_bind_unix(int fd, const char *path);
int gk_connect_unix(int fd, const char *path);
int gk_bind_vsock(int fd, unsigned int cid, unsigned int port);
int gk_connect_vsock(int fd, unsigned int cid, unsigned int port);
/// Returns the peer's vsock CID and port of an accepted AF_VSOCK socket.
int gk_peer_vsock(int fd, unsigned int *cid, unsigned int *port);

// CMSG_* are macros; SCM_RIGHTS passing needs them.
ssize_t gk_sendmsg_fds(int sock, const void *buf, size_t len, const int *fds, int nfds);
/// Receives data and up to maxfds descriptors (set close-on-exec); *nfds gets how many arrived.
ssize_t gk_recvmsg_fds(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds);

// outb is an inline asm helper in <sys/io.h>; Cloud Hypervisor's boot timer listens on port 0x80.
int gk_outb(unsigned short port, unsigned char value);

// pipe2 and statfs need _GNU_SOURCE or clash with their struct names; major/minor/makedev are macros.
int gk_pipe2(int fds[2], int flags);
int gk_statfs_type(const char *path, int64_t *type);
unsigned int gk_major(uint64_t dev);
unsigned int gk_minor(uint64_t dev);
uint64_t gk_makedev(unsigned int major, unsigned int minor);

// accept4 and the Unix98 pty calls are behind _GNU_SOURCE/_XOPEN_SOURCE, which Swift's Glibc lacks.
int gk_accept4(int fd, int flags);
/// Opens a pty controller (posix_openpt, grantpt, unlockpt) and writes the terminal's path to name.
int gk_open_pty(char *name, size_t name_size);

// prctl is variadic.
int gk_prctl_subreaper(void);
int gk_prctl_parent_death_signal(int signal);

// pivot_root has no glibc wrapper.
int gk_pivot_root(const char *new_root, const char *put_old);

/// One resource limit to apply in a spawned child.
struct gk_rlimit { int resource; uint64_t soft; uint64_t hard; };

/// What a child needs before exec. Set up in C because after fork only async-signal-safe code may run,
/// and the Swift runtime gives no such guarantee.
struct gk_spawn_attr {
    const char *path;            // absolute path to exec
    char *const *argv;           // NULL-terminated
    char *const *envp;           // NULL-terminated
    const char *cwd;             // NULL: inherit
    const int *fd_map;           // pairs (source, target); every other descriptor is closed
    int fd_map_count;            // number of pairs
    int new_session;             // setsid()
    int new_process_group;       // setpgid(0, 0) when not a new session
    int controlling_tty;         // with new_session: make fd 0 the controlling terminal
    int set_user;                // apply uid/gid/groups
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    int group_count;
    const struct gk_rlimit *rlimits;
    int rlimit_count;
    int parent_death_signal;     // 0: none; else PR_SET_PDEATHSIG with it (fires when the forking *thread* ends)
    pid_t parent_pid;            // with parent_death_signal: the forking process, to catch a parent that died first
};

/// Forks and execs. Returns the child's pid once exec has succeeded; returns -1 with errno set and
/// failed_step naming the step ("fork", "chdir", "setgid", "execve", …) when the child could not exec.
pid_t gk_spawn(const struct gk_spawn_attr *attr, char *failed_step, size_t failed_step_size);

// FIONREAD goes through the variadic ioctl: after a process exits, the agent drains what its pipe held
// at that moment and no more (a background child that keeps writing cannot hold the exit status).
/// Bytes waiting to be read (FIONREAD) in *count.
int gk_readable_bytes(int fd, int *count);

// waitid fills a siginfo_t, a union Swift reads awkwardly. This asks whether a child has ended without
// reaping it, so its pid (and process group id) stays reserved while the caller cleans up after it.
/// 1 when child `pid` has exited or was killed (still unreaped), 0 while it runs, -1 with errno on error.
int gk_child_ended_unreaped(pid_t pid);

// A signal handler may only call async-signal-safe functions, which Swift code cannot promise.
/// Installs, for each of `signals`, a handler that writes the signal number as one byte to `fd` (a
/// non-blocking pipe or socket); SA_RESTART is set so other threads' calls are not interrupted.
int gk_relay_signals(const int *signals, int count, int fd);
/// Restores the default disposition of `signal` and raises it: ends the process as that signal would.
void gk_raise_default(int signal);

#endif
