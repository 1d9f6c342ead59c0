// libmnl (netlink sockets, messages and attributes) and the rtnetlink headers whose structs and
// constants it fills: links, addresses, routes, neighbours. <linux/if_arp.h> and <linux/if.h> are left
// out: they redefine what glibc's <net/if.h> declares; ARPHRD_* come from glibc's <net/if_arp.h>.
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <net/if_arp.h>

/// IFF_LOWER_UP of <linux/if.h> (the carrier is up), which cannot be included beside glibc's <net/if.h>.
enum { GK_IFF_LOWER_UP = 1 << 16 };
