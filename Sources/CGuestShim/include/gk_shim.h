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

/// What a child needs before exec. Set up in C because the child runs raw system calls only (see
/// gk_spawn_start), which the Swift runtime could never promise.
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
    int parent_death_signal;     // 0: none; else PR_SET_PDEATHSIG with it (fires when the cloning *thread* ends)
    pid_t parent_pid;            // with parent_death_signal: the cloning process, to catch a parent that died first
    int join_cgroup;             // write "0" to cgroup_procs_fd first: the child moves itself into that cgroup
    int cgroup_procs_fd;         // with join_cgroup: an open cgroup.procs (O_WRONLY) of the cgroup to join
};

/// A child started by gk_spawn_start, until its report says whether it exec'd.
struct gk_spawn_handle {
    pid_t pid;              // the child
    int report_fd;          // read end of its close-on-exec report pipe (non-blocking)
    void *region;           // its stack and its copy of the attributes: mapped until gk_spawn_release
    size_t region_size;
    int error;              // the errno the child reported, once collected
    char step[64];          // the step that failed ("chdir", "setuid", "execve", …), once collected
    size_t received;        // report bytes read so far
    unsigned char message[68];
};

// Spawning without fork: fork copies the caller's page tables and CLONE_VFORK would hold the caller until
// exec, which a cwd on a hung filesystem can postpone forever. So the child is cloned with CLONE_VM (it
// shares the address space; nothing is copied) onto a stack of its own, and does everything up to execve
// with raw system calls only (no errno, no locks, no allocation: it runs beside its parent in the same
// memory). It reads only a private copy of the attributes, kept mapped until its report pipe closes (exec
// or exit), which is also how its parent learns the outcome: asynchronously, by polling that pipe.

/// Starts the child; 0, or -1 with errno (nothing is left behind then).
int gk_spawn_start(const struct gk_spawn_attr *attr, struct gk_spawn_handle *handle);
/// Reads the child's report: 0 once it exec'd (end of file, nothing reported), 1 once it failed (errno in
/// handle->error, step in handle->step; it exits 127), -1 with errno EAGAIN while neither is known yet.
int gk_spawn_collect(struct gk_spawn_handle *handle);
/// After gk_spawn_collect returned 0 or 1: unmaps the region and closes the report pipe.
void gk_spawn_release(struct gk_spawn_handle *handle);
/// Starts, waits for the report, releases. Returns the pid once the child exec'd; -1 with errno set and
/// failed_step naming the step when it could not (the failed child is reaped).
pid_t gk_spawn(const struct gk_spawn_attr *attr, char *failed_step, size_t failed_step_size);

// FIONREAD goes through the variadic ioctl: after a process exits, the agent drains what its pipe held
// at that moment and no more (a background child that keeps writing cannot hold the exit status).
/// Bytes waiting to be read (FIONREAD) in *count.
int gk_readable_bytes(int fd, int *count);

// --- containers ------------------------------------------------------------------------------------------
// Creating a container process needs fork, setns and clone with no Swift code in between (only
// async-signal-safe calls are allowed after fork, and setns(CLONE_NEWUSER) needs a single-threaded
// caller), so the two short stages live here. Stage 1 (forked from the caller) joins the namespaces
// given as descriptors, in order, then clones stage 2 with CLONE_PARENT (so the caller is its parent and
// reaps it) and the CLONE_NEW* flags of the namespaces to create, reports stage 2's pid on the sync
// socket and exits. Stage 2 waits on the sync socket for the caller's go message (sent once the caller
// has written its uid/gid maps and placed it in its cgroup), unshares its cgroup namespace if asked,
// becomes root of a new user namespace (its ids are still the caller's, unmapped there, and an exec as an
// unmapped uid would drop every capability), starts a new session and execs the GuestKit binary by descriptor (execveat, AT_EMPTY_PATH), so the
// re-exec works in any mount namespace.
//
// Messages stage 1 and 2 send on the sync socket (SOCK_SEQPACKET: one message per send):
//   'P' + int32 pid          stage 2 was created
//   'E' + int32 errno + step  a stage failed at `step` ("setns user", "clone", "execveat", ...)
// and the one they receive: 'G' (go).

/// One namespace to join: an open /proc/<pid>/ns/<kind> (or bind-mounted) descriptor and its CLONE_NEW*.
struct gk_namespace_join { int fd; int type; const char *name; };

struct gk_container_attr {
    int exe_fd;                  // the GuestKit binary, opened by the caller (O_PATH is fine)
    char *const *argv;           // NULL-terminated
    char *const *envp;           // NULL-terminated
    int sync_fd;                 // the child's end of the sync socket: fd 3 in stage 2
    const int *fd_map;           // pairs (source, target) for the child's stdio (targets 0..2)
    int fd_map_count;
    const struct gk_namespace_join *joins;  // in join order (user first, mount last)
    int join_count;
    int clone_flags;             // CLONE_NEW* to create with stage 2 (never CLONE_NEWCGROUP)
    int unshare_cgroup;          // stage 2: unshare(CLONE_NEWCGROUP) after the go message
    int become_root;             // stage 2 is in a new user namespace: setresgid/setgroups/setresuid to 0
                                 // once the maps are written (it still has the caller's unmapped ids)
};

/// Forks stage 1 and returns its pid at once (the caller reaps it); -1 with errno when fork fails. All
/// later failures arrive as 'E' messages on the sync socket.
pid_t gk_container_spawn(const struct gk_container_attr *attr);

// capget/capset have no glibc wrappers (libcap is not linked); version 3, 64-bit sets.
int gk_capget(uint32_t effective[2], uint32_t permitted[2], uint32_t inheritable[2]);
int gk_capset(const uint32_t effective[2], const uint32_t permitted[2], const uint32_t inheritable[2]);
// prctl is variadic.
int gk_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
// No glibc wrappers for these in Debian 12's headers (or behind _GNU_SOURCE).
int gk_setns(int fd, int type);
int gk_unshare(int flags);
int gk_setresuid(uid_t r, uid_t e, uid_t s);
int gk_setresgid(gid_t r, gid_t e, gid_t s);
int gk_setgroups(size_t count, const gid_t *groups);
int gk_setdomainname(const char *name, size_t length);
int gk_prlimit(pid_t pid, int resource, uint64_t soft, uint64_t hard);
int gk_ioprio_set(int which, int who, int ioprio);
int gk_personality(unsigned long persona);
int gk_mount_setattr(int dirfd, const char *path, unsigned int flags, uint64_t attr_set, uint64_t attr_clr);
int gk_execveat(int fd, const char *path, char *const argv[], char *const envp[], int flags);
int gk_close_range_cloexec(unsigned int first);
/// statfs f_flags (ST_RDONLY, ST_NOSUID, ...) of the filesystem holding path.
int gk_statfs_flags(const char *path, uint64_t *flags);
int gk_socketpair_seqpacket(int fds[2]);
long gk_keyctl_join_session(const char *name);
long gk_keyctl_setperm(long key, uint32_t perm);
long gk_keyctl_describe(long key, char *buffer, size_t size);

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
