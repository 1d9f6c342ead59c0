// libseccomp (Debian's libseccomp-dev), linked as a shared library: the release guest-agent stays static
// in the Swift runtime, and compose-guest's ELF closure brings libseccomp.so.2 into images.
#include <seccomp.h>

// SCMP_ACT_ERRNO/SCMP_ACT_TRACE and SCMP_A0..5 are function-like macros, which Swift does not import.
static inline uint32_t gk_scmp_act_errno(uint16_t code) { return SCMP_ACT_ERRNO(code); }
static inline uint32_t gk_scmp_act_trace(uint16_t code) { return SCMP_ACT_TRACE(code); }
static inline struct scmp_arg_cmp gk_scmp_arg(unsigned int index, enum scmp_compare op, uint64_t a, uint64_t b) {
    struct scmp_arg_cmp cmp = { .arg = index, .op = op, .datum_a = a, .datum_b = b };
    return cmp;
}
