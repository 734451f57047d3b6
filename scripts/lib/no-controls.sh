#!/usr/bin/env bash
# Usage: scripts/lib/no-controls.sh BINARY [LIBRARY...]
#
# Proves that a build of the service carries no negative control. The switches that turn a
# store's guard off compile only with the cargo feature `negative-controls`, which only test
# builds turn on; this checks the files a build made. It fails (exit 1) if BINARY, or any
# LIBRARY (the workspace .rlib files linked into it), contains
#   - `NEGATIVE-CONTROL`, the marker every test-only SQL statement carries in a comment, or
#   - `with_guard_disabled`, the in-memory store's switch (its symbol or its name).
# The libraries are read too because the linker drops what the binary never calls: a
# `with_guard_disabled` compiled in but unused is in adapters-memory's .rlib, not in the binary.
# So that a search that reads nothing cannot pass, it also fails if BINARY does NOT contain
# `release_lapsed_holds`, a production SQL statement's text. It prints each check.
#
# scripts/test runs it last, on `cargo build --locked --bin concert-reservation` (default
# features, dev profile). That build shares the test build's target directory: once it has been
# made, a run recompiles only the workspace crates that changed, and the searches take well
# under a second. (The first build in a fresh target directory also compiles tokio and what
# depends on it once, without the `test-util` feature the test build turns on.)
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 BINARY [LIBRARY...]" >&2
    exit 2
fi
for file in "$@"; do
    [[ -f $file ]] || { echo "no-controls: $file is not a file" >&2; exit 2; }
done
binary=$1

contains() { # FILE TEXT
    LC_ALL=C grep -q -a -F -e "$2" -- "$1"
}

failed=0
for file in "$@"; do
    found=()
    for forbidden in NEGATIVE-CONTROL with_guard_disabled; do
        if contains "$file" "$forbidden"; then
            found+=("$forbidden")
        fi
    done
    if [[ ${#found[@]} -gt 0 ]]; then
        echo "no-controls: FAIL  $file contains ${found[*]}: a negative control is compiled in"
        failed=1
    else
        echo "no-controls: ok    $file has neither NEGATIVE-CONTROL nor with_guard_disabled"
    fi
done
required=release_lapsed_holds
if contains "$binary" "$required"; then
    echo "no-controls: ok    $binary has $required (so the search does read it)"
else
    echo "no-controls: FAIL  $binary lacks $required: wrong file, or the search reads nothing"
    failed=1
fi
exit "$failed"
