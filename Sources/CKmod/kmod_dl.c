// Definitions of the libkmod functions guest-init calls, each forwarding to the real one in libkmod.so.2,
// opened once with dlopen. C because Swift cannot declare a function under a C name that forwards through a
// pointer looked up at run time without repeating each signature twice.
#include "CKmod.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

static void *library;
static const char *load_error;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void) {
    library = dlopen("libkmod.so.2", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        load_error = dlerror();
        if (load_error == NULL) load_error = "dlopen(libkmod.so.2) failed";
    }
}

static void *symbol(const char *name) {
    pthread_once(&once, load);
    return library == NULL ? NULL : dlsym(library, name);
}

const char *gk_kmod_load_error(void) {
    pthread_once(&once, load);
    return library == NULL ? load_error : NULL;
}

// Each definition: look the real function up once, call it; without libkmod, answer as libkmod does for a
// failure of that call (NULL, or a negative errno-style code).
// The pointer is cached with atomic loads and stores: callers on several threads (the tests) may race to
// fill it, all with the same value.
#define FORWARD(ret, name, params, args, failure)                             \
    ret name params {                                                         \
        static ret (*cached) params;                                          \
        ret (*real) params = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);      \
        if (real == NULL) {                                                   \
            real = (ret (*) params)symbol(#name);                             \
            if (real == NULL) return failure;                                 \
            __atomic_store_n(&cached, real, __ATOMIC_RELEASE);                \
        }                                                                     \
        return real args;                                                     \
    }

FORWARD(struct kmod_ctx *, kmod_new, (const char *dirname, const char *const *config_paths), (dirname, config_paths), NULL)
FORWARD(struct kmod_ctx *, kmod_unref, (struct kmod_ctx *ctx), (ctx), NULL)
FORWARD(struct kmod_list *, kmod_list_next, (const struct kmod_list *list, const struct kmod_list *curr), (list, curr), NULL)
FORWARD(int, kmod_module_new_from_lookup, (struct kmod_ctx *ctx, const char *given_alias, struct kmod_list **list),
        (ctx, given_alias, list), -2)
FORWARD(struct kmod_module *, kmod_module_unref, (struct kmod_module *mod), (mod), NULL)
FORWARD(int, kmod_module_unref_list, (struct kmod_list *list), (list), -2)
FORWARD(struct kmod_module *, kmod_module_get_module, (const struct kmod_list *entry), (entry), NULL)
FORWARD(int, kmod_module_insert_module, (struct kmod_module *mod, unsigned int flags, const char *options),
        (mod, flags, options), -2)
FORWARD(const char *, kmod_module_get_name, (const struct kmod_module *mod), (mod), NULL)
FORWARD(const char *, kmod_module_get_path, (const struct kmod_module *mod), (mod), NULL)
FORWARD(const char *, kmod_module_get_options, (const struct kmod_module *mod), (mod), NULL)
FORWARD(struct kmod_list *, kmod_module_get_dependencies, (const struct kmod_module *mod), (mod), NULL)
FORWARD(int, kmod_module_get_softdeps, (const struct kmod_module *mod, struct kmod_list **pre, struct kmod_list **post),
        (mod, pre, post), -2)
FORWARD(int, kmod_module_get_initstate, (const struct kmod_module *mod), (mod), -2)
