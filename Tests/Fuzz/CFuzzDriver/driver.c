// Declarations only (include/fuzz_driver.h); SwiftPM wants one source file per C target.
#include "fuzz_driver.h"
