// Container process creation (stage 1 and 2) and the credential, namespace and mount calls glibc does
// not wrap. See gk_shim.h for why each exists.
#define _GNU_SOURCE 1
#include "gk_shim.h"
#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <linux/capability.h>

// --- stage 1 and 2: only async-signal-safe calls from fork to execveat ---------------------------------

static void stage_report(int sync_fd, char kind, int value, const char *step) {
    char msg[128];
    size_t n = step ? strlen(step) : 0;
    if (n > sizeof msg - 5) n = sizeof msg - 5;
    msg[0] = kind;
    memcpy(msg + 1, &value, sizeof value);
    if (n) memcpy(msg + 5, step, n);
    ssize_t ignored = send(sync_fd, msg, 5 + n, MSG_NOSIGNAL);
    (void)ignored;
}

// Unread messages left in our queue would turn the caller's read of the report into ECONNRESET.
static void stage_drain(int sync_fd) {
    char buf[256];
    while (recv(sync_fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {}
}

static void stage_fail(int sync_fd, const char *step) {
    int e = errno;
    stage_drain(sync_fd);
    errno = e;
    stage_report(sync_fd, 'E', errno, step);
    _exit(1);
}

static void stage2_run(const struct gk_container_attr *a) {
    // fd 3 is the sync socket, fd 4 the binary (see stage1_run).
    char go = 0;
    ssize_t n;
    do { n = recv(3, &go, 1, 0); } while (n < 0 && errno == EINTR);
    if (n <= 0 || go != 'G') _exit(1);  // the caller went away or gave up: nothing to report to
    if (a->become_root) {
        if (syscall(SYS_setresgid, 0, 0, 0) < 0) stage_fail(3, "setresgid 0 in the user namespace");
        if (syscall(SYS_setgroups, 0, NULL) < 0 && errno != EPERM) stage_fail(3, "setgroups in the user namespace");
        if (syscall(SYS_setresuid, 0, 0, 0) < 0) stage_fail(3, "setresuid 0 in the user namespace");
    }
    if (a->unshare_cgroup && unshare(CLONE_NEWCGROUP) < 0) stage_fail(3, "unshare cgroup");
    if (setsid() < 0) stage_fail(3, "setsid");
    if (fcntl(4, F_SETFD, FD_CLOEXEC) < 0) stage_fail(3, "fcntl");
    syscall(SYS_execveat, 4, "", a->argv, a->envp, AT_EMPTY_PATH);
    stage_fail(3, "execveat");
}

static void stage1_run(const struct gk_container_attr *a) {
    int sync_fd = a->sync_fd;
    // The caller blocks signals to read them from a signalfd; the container starts clean.
    sigset_t none;
    sigemptyset(&none);
    for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);

    for (int i = 0; i < a->join_count; i++) {
        if (setns(a->joins[i].fd, a->joins[i].type) < 0) {
            char step[64] = "setns ";
            strncat(step, a->joins[i].name ? a->joins[i].name : "?", sizeof step - 7);
            stage_fail(sync_fd, step);
        }
    }

    // Descriptors: stdio sources, the sync socket and the binary are moved above every target first, so
    // no dup2 clobbers a source still needed; then 0-2 = stdio, 3 = sync, 4 = binary, nothing else.
    if (a->fd_map_count > 3) { errno = EINVAL; stage_fail(sync_fd, "fd map"); }
    int moved[3];
    for (int i = 0; i < a->fd_map_count; i++) {
        moved[i] = fcntl(a->fd_map[2 * i], F_DUPFD_CLOEXEC, 10);
        if (moved[i] < 0) stage_fail(sync_fd, "dup stdio");
    }
    int sync_moved = fcntl(sync_fd, F_DUPFD_CLOEXEC, 10);
    if (sync_moved < 0) stage_fail(sync_fd, "dup sync socket");
    sync_fd = sync_moved;
    int exe_moved = fcntl(a->exe_fd, F_DUPFD_CLOEXEC, 10);
    if (exe_moved < 0) stage_fail(sync_fd, "dup binary");
    for (int i = 0; i < a->fd_map_count; i++) {
        if (dup2(moved[i], a->fd_map[2 * i + 1]) < 0) stage_fail(sync_fd, "dup2 stdio");
    }
    if (dup2(sync_fd, 3) < 0) stage_fail(sync_fd, "dup2 sync socket");
    sync_fd = 3;
    if (dup2(exe_moved, 4) < 0) stage_fail(sync_fd, "dup2 binary");
    if (syscall(SYS_close_range, 5, ~0U, 0) < 0) {
        for (int fd = 5; fd < 1024; fd++) close(fd);
    }

    // CLONE_PARENT: stage 2 is the caller's child, so the caller reaps it and gets its exit status.
    long pid = syscall(SYS_clone, (unsigned long)(a->clone_flags | CLONE_PARENT | SIGCHLD), NULL, NULL, NULL, NULL);
    if (pid < 0) stage_fail(sync_fd, "clone");
    if (pid == 0) stage2_run(a);
    stage_report(sync_fd, 'P', (int)pid, NULL);
    _exit(0);
}

pid_t gk_container_spawn(const struct gk_container_attr *attr) {
    pid_t pid = fork();
    if (pid == 0) stage1_run(attr);
    return pid;
}

// --- calls without glibc wrappers -----------------------------------------------------------------------

int gk_capget(uint32_t effective[2], uint32_t permitted[2], uint32_t inheritable[2]) {
    struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &header, data) < 0) return -1;
    for (int i = 0; i < 2; i++) {
        effective[i] = data[i].effective;
        permitted[i] = data[i].permitted;
        inheritable[i] = data[i].inheritable;
    }
    return 0;
}

int gk_capset(const uint32_t effective[2], const uint32_t permitted[2], const uint32_t inheritable[2]) {
    struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2];
    for (int i = 0; i < 2; i++) {
        data[i].effective = effective[i];
        data[i].permitted = permitted[i];
        data[i].inheritable = inheritable[i];
    }
    return (int)syscall(SYS_capset, &header, data);
}

int gk_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5) {
    return prctl(option, a2, a3, a4, a5);
}
int gk_setns(int fd, int type) { return setns(fd, type); }
int gk_unshare(int flags) { return unshare(flags); }
// The raw calls, not glibc's: glibc's setresuid broadcasts to every thread (setxid), which is right but
// needs nothing here, and the raw ones keep the container init's identity change one system call each.
int gk_setresuid(uid_t r, uid_t e, uid_t s) { return (int)syscall(SYS_setresuid, r, e, s); }
int gk_setresgid(gid_t r, gid_t e, gid_t s) { return (int)syscall(SYS_setresgid, r, e, s); }
int gk_setgroups(size_t count, const gid_t *groups) { return (int)syscall(SYS_setgroups, count, groups); }
int gk_setdomainname(const char *name, size_t length) { return setdomainname(name, length); }
int gk_prlimit(pid_t pid, int resource, uint64_t soft, uint64_t hard) {
    struct rlimit64 limit = { .rlim_cur = soft, .rlim_max = hard };
    return prlimit64(pid, (enum __rlimit_resource)resource, &limit, NULL);
}
int gk_ioprio_set(int which, int who, int ioprio) { return (int)syscall(SYS_ioprio_set, which, who, ioprio); }
int gk_personality(unsigned long persona) { return personality(persona) < 0 ? -1 : 0; }
int gk_mount_setattr(int dirfd, const char *path, unsigned int flags, uint64_t attr_set, uint64_t attr_clr) {
    struct { uint64_t attr_set, attr_clr, propagation, userns_fd; } attr = { attr_set, attr_clr, 0, 0 };
    return (int)syscall(442 /* SYS_mount_setattr */, dirfd, path, flags, &attr, sizeof attr);
}
int gk_execveat(int fd, const char *path, char *const argv[], char *const envp[], int flags) {
    return (int)syscall(SYS_execveat, fd, path, argv, envp, flags);
}
int gk_close_range_cloexec(unsigned int first) {
    return (int)syscall(SYS_close_range, first, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
}
int gk_statfs_flags(const char *path, uint64_t *flags) {
    struct statfs st;
    if (statfs(path, &st) < 0) return -1;
    *flags = (uint64_t)st.f_flags;
    return 0;
}
int gk_socketpair_seqpacket(int fds[2]) {
    return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds);
}
// KEYCTL_JOIN_SESSION_KEYRING (1), KEYCTL_SETPERM (5), KEYCTL_DESCRIBE (6) from linux/keyctl.h.
long gk_keyctl_join_session(const char *name) { return syscall(SYS_keyctl, 1, name, 0, 0, 0); }
long gk_keyctl_setperm(long key, uint32_t perm) { return syscall(SYS_keyctl, 5, key, perm, 0, 0); }
long gk_keyctl_describe(long key, char *buffer, size_t size) { return syscall(SYS_keyctl, 6, key, buffer, size, 0); }
