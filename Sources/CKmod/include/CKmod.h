// libkmod's API as guest-init uses it, bound at run time: kmod_dl.c defines each function and forwards it to
// libkmod.so.2 opened with dlopen on first use. guest-init therefore does not need libkmod (nor the
// libcrypto, liblzma and libzstd it pulls in) on a guest whose kernel has no modules; an image that
// carries modules carries libkmod too (compose-guest adds it with the modules).
#ifndef GUESTKIT_CKMOD_H
#define GUESTKIT_CKMOD_H
#include <libkmod.h>

// Why libkmod could not be opened (dlerror's text), or NULL when it is loaded: ModuleLoader reports it
// instead of a misleading index error.
const char *gk_kmod_load_error(void);
#endif
