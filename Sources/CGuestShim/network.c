// Container networking on the host side: a tap device opened in the container's network namespace and
// handed to QEMU as a descriptor, and the thread that enters that namespace to open it.
#define _GNU_SOURCE 1
#include "gk_shim.h"
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/if_tun.h>
#include <net/if.h>

int gk_tap_attach(int fd, const char *name, int vnet_header) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    if (strlen(name) >= IFNAMSIZ) { errno = ENAMETOOLONG; return -1; }
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet_header ? IFF_VNET_HDR : 0);
    return ioctl(fd, TUNSETIFF, &ifr);
}

int gk_setns_network(int fd) { return setns(fd, CLONE_NEWNET); }
