#!/usr/bin/env bash
# make test's runner: the Swift tests in two phases, each suite's wall time printed.
#   1. every suite not listed in SERIAL_SUITES, in one `swift test` (Swift Testing runs them in parallel);
#   2. each SERIAL_SUITES entry alone, one after another: they boot QEMU under TCG (or build a kernel),
#      and TCG guests on a loaded host miss timers.
# Every phase runs even when an earlier one failed; the exit status is 1 if any failed, and the summary
# names them. Usage: run-suites.sh SWIFT "SERIAL SUITES" (TEST_ENV is already in the environment).
set -uo pipefail
swift=$1
read -r -a serial <<< "$2"
summary=()
failed=()

run() {
    local label=$1; shift
    local start=$SECONDS
    echo "==== test: $label"
    "$swift" test --skip-build "$@"
    local status=$?
    local took=$((SECONDS - start))
    summary+=("$(printf '%-28s %5d s  %s' "$label" "$took" "$([ $status -eq 0 ] && echo passed || echo FAILED)")")
    [ $status -eq 0 ] || failed+=("$label")
}

skip=$(IFS='|'; echo "${serial[*]}")
if [ -n "$skip" ]; then run "parallel suites" --skip "($skip)"; else run "all suites"; fi
for suite in "${serial[@]}"; do run "$suite" --filter "\\.$suite/"; done

echo "==== test times"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "==== failed: ${failed[*]}"
    exit 1
fi
