// probe: what a container sees, printed in a stable, line-per-fact format so two runtimes' outputs can be
// compared field by field (see ContainerDifferentialTests). Built with `gcc -static` by the tests.
//
//   probe [report] [--masked PATH]... [--readonly PATH]... [--sysctl KEY]...   the report (default)
//   probe hold MIB                 allocate and touch MIB MiB, print "held", then sleep
//   probe eat                      allocate and touch 1 MiB at a time until killed
//   probe count                    print an increasing counter every 10 ms
//   probe tree                     setsid + double fork: leave a sleeping grandchild behind, print its pid
#define _GNU_SOURCE 1
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *errname(int e) {
    switch (e) {
    case EPERM: return "EPERM"; case ENOENT: return "ENOENT"; case EACCES: return "EACCES"; case EBADF: return "EBADF";
    case EINVAL: return "EINVAL"; case EROFS: return "EROFS"; case ENOSYS: return "ENOSYS"; case EEXIST: return "EEXIST";
    case ENOTDIR: return "ENOTDIR"; case EAFNOSUPPORT: return "EAFNOSUPPORT"; case EBUSY: return "EBUSY";
    case ENOTSUP: return "ENOTSUP"; case ENXIO: return "ENXIO"; case ESRCH: return "ESRCH"; case EXDEV: return "EXDEV";
    default: { static char buf[32]; snprintf(buf, sizeof buf, "errno%d", e); return buf; }
    }
}

static void print_file_lines(const char *label, const char *path, const char *prefixes[]) {
    FILE *f = fopen(path, "r");
    if (!f) { printf("%s %s: %s\n", label, path, errname(errno)); return; }
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        for (int i = 0; prefixes[i]; i++) {
            if (strncmp(line, prefixes[i], strlen(prefixes[i])) == 0) { printf("%s %s", label, line); break; }
        }
    }
    fclose(f);
}

static void identity(void) {
    printf("uid %d %d\n", (int)getuid(), (int)geteuid());
    printf("gid %d %d\n", (int)getgid(), (int)getegid());
    gid_t groups[256];
    int n = getgroups(256, groups);
    printf("groups");
    for (int i = 0; i < n; i++) printf(" %d", (int)groups[i]);
    printf("\n");
    const char *keys[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp:", "Seccomp_filters", NULL };
    print_file_lines("status", "/proc/self/status", keys);
    printf("pid %d\n", (int)getpid());
    FILE *oom = fopen("/proc/self/oom_score_adj", "r");
    char score[32] = "?";
    if (oom) { if (!fgets(score, sizeof score, oom)) score[0] = 0; fclose(oom); }
    score[strcspn(score, "\n")] = 0;
    printf("oom_score_adj %s\n", score);
    printf("personality 0x%lx\n", (unsigned long)personality(0xffffffff));
}

static void names(void) {
    char host[256] = {0}, domain[256] = {0};
    gethostname(host, sizeof host - 1);
    getdomainname(domain, sizeof domain - 1);
    printf("hostname %s\n", host);
    printf("domainname %s\n", domain);
    char cwd[4096];
    printf("cwd %s\n", getcwd(cwd, sizeof cwd) ? cwd : "?");
    mode_t mask = umask(0);
    umask(mask);
    printf("umask %04o\n", (unsigned)mask);
    for (char **e = environ; *e; e++) printf("env %s\n", *e);
    char tty[256];
    printf("tty %s\n", ttyname_r(0, tty, sizeof tty) == 0 ? tty : "none");
}

// mountinfo without ids, devices, roots, sources and peer group numbers: mount point, type, options.
static void mounts(void) {
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f) { printf("mountinfo %s\n", errname(errno)); return; }
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        char *fields[64];
        int n = 0;
        for (char *tok = strtok(line, " \n"); tok && n < 64; tok = strtok(NULL, " \n")) fields[n++] = tok;
        int dash = -1;
        for (int i = 6; i < n; i++) if (strcmp(fields[i], "-") == 0) { dash = i; break; }
        if (dash < 0 || dash + 3 >= n) continue;
        printf("mount %s %s %s %s\n", fields[4], fields[dash + 1], fields[5], fields[dash + 3]);
    }
    fclose(f);
}

static void rlimits(void) {
    const char *names[] = { "CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE", "MEMLOCK", "AS",
                            "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME" };
    for (int i = 0; i < 16; i++) {
        struct rlimit rl;
        if (getrlimit(i, &rl) < 0) { printf("rlimit %s %s\n", names[i], errname(errno)); continue; }
        printf("rlimit %s ", names[i]);
        if (rl.rlim_cur == RLIM_INFINITY) printf("unlimited "); else printf("%llu ", (unsigned long long)rl.rlim_cur);
        if (rl.rlim_max == RLIM_INFINITY) printf("unlimited\n"); else printf("%llu\n", (unsigned long long)rl.rlim_max);
    }
}

static void cgroups(void) {
    FILE *f = fopen("/proc/self/cgroup", "r");
    char path[4096] = "";
    if (f) {
        char line[4096];
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\n")] = 0;
            printf("cgroup %s\n", line);
            if (strncmp(line, "0::", 3) == 0) snprintf(path, sizeof path, "%s", line + 3);
        }
        fclose(f);
    }
    const char *files[] = { "memory.max", "memory.low", "memory.high", "memory.swap.max", "cpu.max", "cpu.weight",
                            "pids.max", "io.weight", "io.bfq.weight", "cpuset.cpus", "cpuset.mems", "cgroup.controllers", NULL };
    for (int i = 0; files[i]; i++) {
        char file[8192];
        // Inside a cgroup namespace with cgroup2 mounted, the container's cgroup is the mount's root.
        snprintf(file, sizeof file, "/sys/fs/cgroup%s/%s", strcmp(path, "/") == 0 ? "" : path, files[i]);
        FILE *c = fopen(file, "r");
        if (!c) { printf("cgroupfile %s %s\n", files[i], errname(errno)); continue; }
        char value[4096] = "";
        if (!fgets(value, sizeof value, c)) value[0] = 0;
        value[strcspn(value, "\n")] = 0;
        printf("cgroupfile %s %s\n", files[i], value);
        fclose(c);
    }
}

static void masked(const char *path) {
    struct stat st;
    if (stat(path, &st) < 0) { printf("masked %s %s\n", path, errname(errno)); return; }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        int entries = 0;
        if (d) { struct dirent *e; while ((e = readdir(d))) if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) entries++; closedir(d); }
        printf("masked %s dir entries=%d\n", path, entries);
    } else {
        int fd = open(path, O_RDONLY);
        if (fd < 0) { printf("masked %s %s\n", path, errname(errno)); return; }
        char buf[64];
        ssize_t n = read(fd, buf, sizeof buf);
        printf("masked %s file read=%zd\n", path, n);
        close(fd);
    }
}

static void readonly(const char *path) {
    struct statvfs sv;
    if (statvfs(path, &sv) < 0) { printf("readonly %s %s\n", path, errname(errno)); return; }
    printf("readonly %s %s\n", path, (sv.f_flag & ST_RDONLY) ? "ro" : "rw");
}

static void syscalls(void) {
    long r;
    errno = 0; r = syscall(SYS_personality, 0xffffffffUL); printf("syscall personality(query) %s\n", r < 0 ? errname(errno) : "ok");
    errno = 0; r = syscall(SYS_mkdir, "/proc/probe-no-such/x", 0755); printf("syscall mkdir %s\n", r < 0 ? errname(errno) : "ok");
    errno = 0; r = syscall(SYS_socket, AF_INET, SOCK_STREAM, 0); printf("syscall socket(AF_INET) %s\n", r < 0 ? errname(errno) : "ok");
    if (r >= 0) close((int)r);
    errno = 0; r = syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0); printf("syscall socket(AF_UNIX) %s\n", r < 0 ? errname(errno) : "ok");
    if (r >= 0) close((int)r);
    errno = 0; r = syscall(SYS_socket, 17 /* AF_PACKET */, SOCK_RAW, 0); printf("syscall socket(AF_PACKET) %s\n", r < 0 ? errname(errno) : "ok");
    if (r >= 0) close((int)r);
    struct timespec ts = { 0, 0 };
    errno = 0; r = syscall(SYS_clock_settime, 99 /* invalid clock */, &ts); printf("syscall clock_settime %s\n", r < 0 ? errname(errno) : "ok");
    errno = 0; r = syscall(SYS_setns, -1, 0); printf("syscall setns %s\n", r < 0 ? errname(errno) : "ok");
    errno = 0; r = syscall(SYS_umount2, "/probe-no-such", 0); printf("syscall umount2 %s\n", r < 0 ? errname(errno) : "ok");
    errno = 0; r = syscall(SYS_chroot, "/probe-no-such"); printf("syscall chroot %s\n", r < 0 ? errname(errno) : "ok");
    errno = 0; r = syscall(SYS_sched_yield); printf("syscall sched_yield %s\n", r < 0 ? errname(errno) : "ok");
}

static int compare(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void devices(void) {
    DIR *d = opendir("/dev");
    if (!d) { printf("dev %s\n", errname(errno)); return; }
    char *list[512];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 512) if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) list[n++] = strdup(e->d_name);
    closedir(d);
    qsort(list, n, sizeof list[0], compare);
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "/dev/%s", list[i]);
        struct stat st;
        if (lstat(path, &st) < 0) { printf("dev %s %s\n", list[i], errname(errno)); continue; }
        if (S_ISLNK(st.st_mode)) {
            char target[1024] = {0};
            ssize_t len = readlink(path, target, sizeof target - 1);
            if (len < 0) len = 0;
            target[len] = 0;
            printf("dev %s link %s\n", list[i], target);
        } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
            printf("dev %s %c %u:%u %04o %d:%d\n", list[i], S_ISCHR(st.st_mode) ? 'c' : 'b', major(st.st_rdev), minor(st.st_rdev),
                   (unsigned)(st.st_mode & 07777), (int)st.st_uid, (int)st.st_gid);
        } else {
            printf("dev %s %s %04o\n", list[i], S_ISDIR(st.st_mode) ? "dir" : S_ISFIFO(st.st_mode) ? "fifo" : "file",
                   (unsigned)(st.st_mode & 07777));
        }
        free(list[i]);
    }
}

static void sysctl(const char *key) {
    char path[1024] = "/proc/sys/";
    size_t at = strlen(path);
    for (const char *k = key; *k && at < sizeof path - 1; k++) path[at++] = *k == '.' ? '/' : *k;
    path[at] = 0;
    FILE *f = fopen(path, "r");
    if (!f) { printf("sysctl %s %s\n", key, errname(errno)); return; }
    char value[1024] = "";
    if (!fgets(value, sizeof value, f)) value[0] = 0;
    value[strcspn(value, "\n")] = 0;
    printf("sysctl %s %s\n", key, value);
    fclose(f);
}

// Kept reachable and written through volatile, so the compiler cannot drop the stores (nothing reads them).
static volatile char *held[65536];
static size_t held_count;

static void touch(size_t bytes) {
    volatile char *p = malloc(bytes);
    if (!p) { printf("malloc failed\n"); exit(1); }
    for (size_t i = 0; i < bytes; i += 4096) p[i] = (char)(1 + (i >> 12));
    if (held_count < 65536) held[held_count++] = p;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 3 && strcmp(argv[1], "hold") == 0) {
        touch((size_t)atoi(argv[2]) << 20);
        printf("held\n");
        for (;;) pause();
    }
    if (argc >= 2 && strcmp(argv[1], "eat") == 0) {
        printf("eating\n");
        for (;;) touch(1 << 20);
    }
    if (argc >= 2 && strcmp(argv[1], "count") == 0) {
        for (unsigned long i = 0;; i++) { printf("%lu\n", i); usleep(10000); }
    }
    if (argc >= 2 && strcmp(argv[1], "tree") == 0) {
        int fds[2];
        if (pipe(fds) < 0) return 1;
        pid_t child = fork();
        if (child == 0) {
            setsid();
            pid_t grandchild = fork();
            if (grandchild == 0) {
                close(fds[0]);
                char line[32];
                int n = snprintf(line, sizeof line, "%d\n", (int)getpid());
                ssize_t ignored = write(fds[1], line, (size_t)n);
                (void)ignored;
                close(fds[1]);
                for (;;) pause();
            }
            _exit(0);
        }
        close(fds[1]);
        char line[32] = {0};
        ssize_t n = read(fds[0], line, sizeof line - 1);
        if (n > 0) printf("grandchild %s", line);
        for (;;) pause();
    }
    identity();
    names();
    mounts();
    rlimits();
    cgroups();
    const char *defaultMasked[] = { "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                                    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", NULL };
    const char *defaultReadonly[] = { "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", "/", NULL };
    for (int i = 0; defaultMasked[i]; i++) masked(defaultMasked[i]);
    for (int i = 0; defaultReadonly[i]; i++) readonly(defaultReadonly[i]);
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--masked") == 0) masked(argv[++i]);
        else if (strcmp(argv[i], "--readonly") == 0) readonly(argv[++i]);
        else if (strcmp(argv[i], "--sysctl") == 0) sysctl(argv[++i]);
    }
    syscalls();
    devices();
    return 0;
}
