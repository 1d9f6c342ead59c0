// libFuzzer's entry for programs with their own main (libclang_rt.fuzzer_no_main, LLVM 11+): SwiftPM links
// executables with `main` aliased to the module's entry point, which rules out libFuzzer's own main. The
// symbol is only referenced in the fuzzing build (GUESTKIT_LIBFUZZER); a plain build never links it.
#ifndef GUESTKIT_FUZZ_DRIVER_H
#define GUESTKIT_FUZZ_DRIVER_H
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
