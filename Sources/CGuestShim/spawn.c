// gk_spawn_start and friends: see gk_shim.h for why the child is a CLONE_VM clone.
#define _GNU_SOURCE 1
#include "gk_shim.h"
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define GK_SPAWN_STACK (64 * 1024)

// The child shares its parent's memory and thread pointer, so it must not touch errno (the parent's) or
// anything else of libc's: raw system calls return -errno instead.
#if defined(__x86_64__)
static inline long raw_syscall(long n, long a, long b, long c, long d, long e, long f) {
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
static inline long raw_syscall(long n, long a, long b, long c, long d, long e, long f) {
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory", "cc");
    return x0;
}
#else
#error "gk_spawn: raw system calls are written for x86_64 and aarch64 only"
#endif
#define RS0(n) raw_syscall((n), 0, 0, 0, 0, 0, 0)
#define RS1(n, a) raw_syscall((n), (long)(a), 0, 0, 0, 0, 0)
#define RS2(n, a, b) raw_syscall((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define RS3(n, a, b, c) raw_syscall((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define RS4(n, a, b, c, d) raw_syscall((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

/// What the child reads: the attributes and everything they point at, copied into the spawn's region.
struct spawn_copy {
    struct gk_spawn_attr attr;
    int report_fd;
};

/// The kernel's struct sigaction (rt_sigaction), the same layout on x86_64 and aarch64.
struct kernel_sigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    unsigned long mask;
};

static void child_fail(int report_fd, long negative_errno, const char *step) {
    unsigned char msg[64];
    int e = (int)-negative_errno;
    size_t n = 0;
    for (size_t i = 0; i < sizeof e; i++) msg[n++] = ((unsigned char *)&e)[i];
    for (size_t i = 0; step[i] && n < sizeof msg; i++) msg[n++] = (unsigned char)step[i];
    RS3(SYS_write, report_fd, msg, n);
    RS1(SYS_exit_group, 127);
    for (;;) {}
}

static int child_main(void *arg) {
    const struct spawn_copy *copy = arg;
    const struct gk_spawn_attr *a = &copy->attr;
    int report_fd = copy->report_fd;
    long r;

    // Its parent blocks signals to read them from a signalfd, and blocked every signal around the clone:
    // dispositions back to default first, then an empty mask.
    struct kernel_sigaction dfl = { .handler = SIG_DFL };
    for (int s = 1; s < 65; s++) RS4(SYS_rt_sigaction, s, &dfl, 0, sizeof(unsigned long));
    unsigned long empty = 0;
    RS4(SYS_rt_sigprocmask, SIG_SETMASK, &empty, 0, sizeof empty);

    // Before anything it runs: its memory, once it has its own after the exec, is charged there from the start.
    if (a->join_cgroup) {
        if ((r = RS3(SYS_write, a->cgroup_procs_fd, "0", 1)) < 0) child_fail(report_fd, r, "join cgroup");
    }

    if (a->new_session) {
        if ((r = RS0(SYS_setsid)) < 0) child_fail(report_fd, r, "setsid");
    } else if (a->new_process_group) {
        if ((r = RS2(SYS_setpgid, 0, 0)) < 0) child_fail(report_fd, r, "setpgid");
    }
    if (a->parent_death_signal > 0) {
        if ((r = RS2(SYS_prctl, PR_SET_PDEATHSIG, a->parent_death_signal)) < 0) child_fail(report_fd, r, "prctl(PR_SET_PDEATHSIG)");
        // The parent may have died between the clone and the prctl: then no signal would ever come.
        if (RS0(SYS_getppid) != a->parent_pid) RS1(SYS_exit_group, 128 + a->parent_death_signal);
    }

    // Move every source above all targets first, so a target never clobbers a later source.
    if (a->fd_map_count > 64) child_fail(report_fd, -EINVAL, "fd map");
    int top = report_fd;
    for (int i = 0; i < a->fd_map_count; i++) {
        if (a->fd_map[2 * i + 1] > top) top = a->fd_map[2 * i + 1];
    }
    int moved[64];
    for (int i = 0; i < a->fd_map_count; i++) {
        if ((r = RS3(SYS_fcntl, a->fd_map[2 * i], F_DUPFD_CLOEXEC, top + 1)) < 0) child_fail(report_fd, r, "dup source descriptor");
        moved[i] = (int)r;
    }
    if ((r = RS3(SYS_fcntl, report_fd, F_DUPFD_CLOEXEC, top + 1 + a->fd_map_count)) < 0) {
        child_fail(report_fd, r, "dup report descriptor");
    }
    report_fd = (int)r;
    for (int i = 0; i < a->fd_map_count; i++) {
        // moved[i] is above every target, so never equal to one (dup3's condition).
        if ((r = RS3(SYS_dup3, moved[i], a->fd_map[2 * i + 1], 0)) < 0) child_fail(report_fd, r, "dup2");
    }
    int max_target = -1;
    for (int i = 0; i < a->fd_map_count; i++) {
        if (a->fd_map[2 * i + 1] > max_target) max_target = a->fd_map[2 * i + 1];
    }
    // Everything above the targets goes, except the report pipe (close-on-exec does that one), and so do
    // unmapped numbers below them. Pre-5.9 kernels lack close_range: what it misses is close-on-exec anyway.
    for (int fd = max_target + 1; fd < report_fd; fd++) RS1(SYS_close, fd);
    RS3(SYS_close_range, report_fd + 1, ~0U, 0);
    for (int fd = 0; fd < max_target; fd++) {
        int mapped = 0;
        for (int i = 0; i < a->fd_map_count; i++) if (a->fd_map[2 * i + 1] == fd) mapped = 1;
        if (!mapped) RS1(SYS_close, fd);
    }

    if (a->new_session && a->controlling_tty) {
        if ((r = RS3(SYS_ioctl, 0, TIOCSCTTY, 0)) < 0) child_fail(report_fd, r, "TIOCSCTTY");
    }
    for (int i = 0; i < a->rlimit_count; i++) {
        struct rlimit rl = { .rlim_cur = a->rlimits[i].soft, .rlim_max = a->rlimits[i].hard };
        if ((r = RS4(SYS_prlimit64, 0, a->rlimits[i].resource, &rl, 0)) < 0) child_fail(report_fd, r, "setrlimit");
    }
    if (a->set_user) {
        if ((r = RS2(SYS_setgroups, a->group_count, a->groups)) < 0) child_fail(report_fd, r, "setgroups");
        if ((r = RS1(SYS_setgid, a->gid)) < 0) child_fail(report_fd, r, "setgid");
        if ((r = RS1(SYS_setuid, a->uid)) < 0) child_fail(report_fd, r, "setuid");
    }
    // The step that may block for good (a hung filesystem): only this child waits, not its parent.
    if (a->cwd && (r = RS1(SYS_chdir, a->cwd)) < 0) child_fail(report_fd, r, "chdir");
    r = RS3(SYS_execve, a->path, a->argv, a->envp);
    child_fail(report_fd, r, "execve");
    return 127;
}

/// A bump allocator over the region: copies the attributes so the child never reads the caller's memory.
struct bump { unsigned char *next; unsigned char *end; };

static void *bump_take(struct bump *b, size_t size, size_t align) {
    uintptr_t p = ((uintptr_t)b->next + align - 1) & ~(uintptr_t)(align - 1);
    if (p + size > (uintptr_t)b->end) return NULL;
    b->next = (unsigned char *)(p + size);
    return (void *)p;
}

static const char *bump_string(struct bump *b, const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *copy = bump_take(b, n, 1);
    if (copy) memcpy(copy, s, n);
    return copy;
}

static size_t count_strings(char *const *list) {
    size_t n = 0;
    while (list && list[n]) n++;
    return n;
}

static size_t strings_size(char *const *list) {
    size_t total = 0;
    for (size_t i = 0; list && list[i]; i++) total += strlen(list[i]) + 1;
    return total + (count_strings(list) + 1) * sizeof(char *);
}

static char *const *bump_strings(struct bump *b, char *const *list, int *failed) {
    size_t n = count_strings(list);
    char **copy = bump_take(b, (n + 1) * sizeof(char *), sizeof(char *));
    if (!copy) { *failed = 1; return NULL; }
    for (size_t i = 0; i < n; i++) {
        copy[i] = (char *)bump_string(b, list[i]);
        if (!copy[i]) { *failed = 1; return NULL; }
    }
    copy[n] = NULL;
    return copy;
}

int gk_spawn_start(const struct gk_spawn_attr *attr, struct gk_spawn_handle *h) {
    memset(h, 0, sizeof *h);
    h->pid = -1;
    h->report_fd = -1;
    size_t data = sizeof(struct spawn_copy) + strlen(attr->path) + 1 + (attr->cwd ? strlen(attr->cwd) + 1 : 0)
        + strings_size(attr->argv) + strings_size(attr->envp)
        + (size_t)attr->fd_map_count * 2 * sizeof(int) + (size_t)attr->group_count * sizeof(gid_t)
        + (size_t)attr->rlimit_count * sizeof(struct gk_rlimit) + 64;
    size_t page = 4096;
    size_t size = ((data + page - 1) & ~(page - 1)) + GK_SPAWN_STACK;
    void *region = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) return -1;

    struct bump b = { .next = region, .end = (unsigned char *)region + size - GK_SPAWN_STACK };
    struct spawn_copy *copy = bump_take(&b, sizeof *copy, 16);
    int failed = copy == NULL;
    if (!failed) {
        copy->attr = *attr;
        copy->attr.path = bump_string(&b, attr->path);
        copy->attr.cwd = bump_string(&b, attr->cwd);
        copy->attr.argv = bump_strings(&b, attr->argv, &failed);
        copy->attr.envp = bump_strings(&b, attr->envp, &failed);
        int *map = bump_take(&b, (size_t)attr->fd_map_count * 2 * sizeof(int) + 1, sizeof(int));
        gid_t *groups = bump_take(&b, (size_t)attr->group_count * sizeof(gid_t) + 1, sizeof(gid_t));
        struct gk_rlimit *limits = bump_take(&b, (size_t)attr->rlimit_count * sizeof *limits + 1, 8);
        failed |= !copy->attr.path || (attr->cwd && !copy->attr.cwd) || !map || !groups || !limits;
        if (!failed) {
            memcpy(map, attr->fd_map, (size_t)attr->fd_map_count * 2 * sizeof(int));
            memcpy(groups, attr->groups, (size_t)attr->group_count * sizeof(gid_t));
            memcpy(limits, attr->rlimits, (size_t)attr->rlimit_count * sizeof *limits);
            copy->attr.fd_map = map;
            copy->attr.groups = groups;
            copy->attr.rlimits = limits;
        }
    }
    if (failed) {
        munmap(region, size);
        errno = E2BIG;
        return -1;
    }

    int report[2];
    if (pipe2(report, O_CLOEXEC | O_NONBLOCK) < 0) {
        int e = errno;
        munmap(region, size);
        errno = e;
        return -1;
    }
    copy->report_fd = report[1];
    // Every signal blocked while the child starts: no handler of the parent's may run on the shared memory
    // before the child has reset them (it inherits this mask and clears it itself).
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pid_t pid = clone(child_main, (unsigned char *)region + size, CLONE_VM | SIGCHLD, copy);
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    close(report[1]);
    if (pid < 0) {
        close(report[0]);
        munmap(region, size);
        errno = e;
        return -1;
    }
    h->pid = pid;
    h->report_fd = report[0];
    h->region = region;
    h->region_size = size;
    return 0;
}

int gk_spawn_collect(struct gk_spawn_handle *h) {
    for (;;) {
        unsigned char buffer[64];
        ssize_t n = read(h->report_fd, buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;  // EAGAIN: neither exec nor failure yet
        }
        if (n == 0) break;
        for (ssize_t i = 0; i < n && h->received < sizeof h->message; i++) h->message[h->received++] = buffer[i];
    }
    // End of file: the child exec'd (close-on-exec) or exited; its stack is no longer in use either way.
    if (h->received < sizeof(int)) return 0;
    memcpy(&h->error, h->message, sizeof(int));
    size_t len = h->received - sizeof(int);
    if (len >= sizeof h->step) len = sizeof h->step - 1;
    memcpy(h->step, h->message + sizeof(int), len);
    h->step[len] = 0;
    return 1;
}

void gk_spawn_release(struct gk_spawn_handle *h) {
    if (h->report_fd >= 0) close(h->report_fd);
    if (h->region) munmap(h->region, h->region_size);
    h->report_fd = -1;
    h->region = NULL;
}

pid_t gk_spawn(const struct gk_spawn_attr *attr, char *failed_step, size_t failed_step_size) {
    if (failed_step_size > 0) failed_step[0] = 0;
    struct gk_spawn_handle h;
    if (gk_spawn_start(attr, &h) < 0) {
        int e = errno;
        if (failed_step_size > 0) snprintf(failed_step, failed_step_size, "clone");
        errno = e;
        return -1;
    }
    int outcome;
    while ((outcome = gk_spawn_collect(&h)) < 0) {
        struct pollfd p = { .fd = h.report_fd, .events = POLLIN };
        poll(&p, 1, -1);
    }
    pid_t pid = h.pid;
    if (outcome == 1) {
        int e = h.error;
        if (failed_step_size > 0) snprintf(failed_step, failed_step_size, "%s", h.step);
        gk_spawn_release(&h);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        errno = e;
        return -1;
    }
    gk_spawn_release(&h);
    return pid;
}
