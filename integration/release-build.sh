#!/usr/bin/env bash
# The release build carries no test hook: `cargo build --release` of berth and the shim
# (the profile `make release`, `make install` and the package use) must not contain the
# fault-injection code of libcontainer/src/fault.rs, and BERTH_FAULT_STEP /
# BERTH_FAULT_FILE must not make it kill itself. The debug build `make test` uses has the
# hook and does die there (the contrast shows the check can fail).
# Usage: integration/release-build.sh [DEBUG_BIN_DIR]   (default target/debug)
source "$(dirname "$0")/lib.sh"
DEBUG_DIR=$(realpath -m "${1:-$IT_HERE/../target/debug}")
RELEASE_DIR=$(realpath -m "$IT_HERE/../target/release")
CARGO=${CARGO:-$(command -v cargo || echo "$HOME/.cargo/bin/cargo")}
it_init release-build

echo "building: cargo build --release -p berth -p containerd-shim-berth-v2"
if ! (cd "$IT_HERE/.." && "$CARGO" build -q --release -p berth -p containerd-shim-berth-v2) >"$IT_DIR/build.log" 2>&1; then
    tail -20 "$IT_DIR/build.log"
    echo "0 passed, 1 failed"
    exit 1
fi
BUNDLE=$IT_DIR/bundle
"$IT_HERE/../scripts/make-bundle.sh" "$BUNDLE" "$DEBUG_DIR/berth" >/dev/null
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"true"/' "$BUNDLE/config.json"

no_fault_strings() {
    local bin
    for bin in berth containerd-shim-berth-v2; do
        [ -x "$RELEASE_DIR/$bin" ] || die "no $RELEASE_DIR/$bin"
        if strings "$RELEASE_DIR/$bin" | grep -q BERTH_FAULT; then
            die "$bin (release) contains BERTH_FAULT"
        fi
    done
}

# run_with_fault BIN: `run` with the fault armed at the first step of create; prints the exit code.
run_with_fault() {
    local id=rb-$$-$RANDOM rc
    BERTH_FAULT_STEP=reserved timeout 30 "$1" --root "$IT_DIR/root" run --bundle "$BUNDLE" "$id" >/dev/null 2>&1 </dev/null
    rc=$?
    "$1" --root "$IT_DIR/root" delete --force "$id" >/dev/null 2>&1
    echo "$rc"
}

release_ignores_the_variables() {
    want 0 "$(run_with_fault "$RELEASE_DIR/berth")" "release berth run with BERTH_FAULT_STEP=reserved"
    local step_file=$IT_DIR/step
    echo reserved >"$step_file"
    BERTH_FAULT_FILE=$step_file timeout 30 "$RELEASE_DIR/berth" --root "$IT_DIR/root" run --bundle "$BUNDLE" rb-file-$$ >/dev/null 2>&1 </dev/null ||
        die "release berth run with BERTH_FAULT_FILE naming a step failed"
}

debug_build_has_the_hook() {
    want 137 "$(run_with_fault "$DEBUG_DIR/berth")" "debug berth run with BERTH_FAULT_STEP=reserved (SIGKILL)"
}

scenario "release binaries contain no BERTH_FAULT" no_fault_strings
scenario "release berth ignores BERTH_FAULT_STEP and BERTH_FAULT_FILE" release_ignores_the_variables
scenario "test build (make build) still has the hook" debug_build_has_the_hook
it_summary
