#!/usr/bin/env bash
# make install / make uninstall into a DESTDIR, the man pages (every page renders with
# man -l, without warnings, and every command has one), the completions (bash loads them
# and completes a command; zsh and fish parse theirs), the installed berth runs a
# container, and make deb builds a package holding the same files (the modern-host VM
# then installs it: integration/vm/scenarios.sh). Builds the release binaries and the
# docs if they are not built (~6 min from nothing).
# Usage: integration/install.sh [DEBUG_BIN_DIR]   (default target/debug)
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$IT_HERE/.." && pwd)
it_init install
DEST=$IT_DIR/dest
PREFIX=/usr/local

installs() {
    make -C "$ROOT" --no-print-directory install DESTDIR="$DEST" >"$IT_DIR/install.log" 2>&1 ||
        { tail -20 "$IT_DIR/install.log"; die "make install DESTDIR=$DEST"; }
    local b
    for b in berth containerd-shim-berth-v2 berth-image; do
        [ -x "$DEST$PREFIX/bin/$b" ] || die "no $PREFIX/bin/$b"
    done
    "$DEST$PREFIX/bin/berth" --version | grep -q '^berth version' || die "installed berth --version"
    "$DEST$PREFIX/bin/containerd-shim-berth-v2" -v >/dev/null || die "installed shim -v"
    "$DEST$PREFIX/bin/berth-image" --version >/dev/null || die "installed berth-image --version"
    want "$PREFIX/bin/berth" "$(jq -r .runtimes.berth.path "$DEST$PREFIX/share/doc/berth/examples/daemon.json")" \
        "the example daemon.json names the installed berth"
}

installed_berth_runs_a_container() {
    "$ROOT/scripts/make-bundle.sh" "$IT_DIR/bundle" "$DEST$PREFIX/bin/berth" >/dev/null || die "make-bundle.sh"
    jq '.process.terminal = false | .process.args = ["echo", "ran"]' "$IT_DIR/bundle/config.json" >"$IT_DIR/config.json" &&
        mv "$IT_DIR/config.json" "$IT_DIR/bundle/config.json" || die "edit config.json"
    want ran "$(cd "$IT_DIR/bundle" && timeout 30 "$DEST$PREFIX/bin/berth" --root "$IT_DIR/state" run "inst-$$" </dev/null)" "installed berth run"
}

every_page_renders() {
    local page n=0 warn cmd
    for page in "$DEST$PREFIX"/share/man/man[18]/*; do
        warn=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
        [ -z "$warn" ] || die "man -l ${page##*/}: $warn"
        MANWIDTH=80 man -l "$page" 2>/dev/null | grep -q '^NAME' || die "man -l ${page##*/}: no NAME section"
        n=$((n + 1))
    done
    # Every command berth --help lists has its page.
    for cmd in $("$DEST$PREFIX/bin/berth" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && $1 != "help" {print $1}'); do
        [ -f "$DEST$PREFIX/share/man/man8/berth-$cmd.8" ] || die "no berth-$cmd.8"
    done
    [ -f "$DEST$PREFIX/share/man/man8/containerd-shim-berth-v2.8" ] || die "no containerd-shim-berth-v2.8"
    [ -f "$DEST$PREFIX/share/man/man1/berth-image-network-create.1" ] || die "no page for a nested berth-image command"
    echo "$n pages"
}

completions_load() {
    local c=$DEST$PREFIX/share/bash-completion/completions
    # shellcheck disable=SC2016
    out=$(bash -c 'source "$1"; complete -p berth; COMP_WORDS=(berth cre); COMP_CWORD=1; COMP_LINE="berth cre"; COMP_POINT=9
        _berth berth cre berth; printf "%s\n" "${COMPREPLY[@]}"' _ "$c/berth") || die "bash completion: $out"
    grep -q '^complete .* berth$' <<<"$out" || die "complete -p berth: $out"
    grep -qx create <<<"$out" || die "'berth cre<TAB>' did not offer create: $out"
    bash -c 'source "$1"; complete -p berth-image' _ "$c/berth-image" >/dev/null || die "bash completion for berth-image"
    zsh -n "$DEST$PREFIX/share/zsh/vendor-completions/_berth" || die "zsh -n _berth"
    fish -n "$DEST$PREFIX/share/fish/vendor_completions.d/berth.fish" || die "fish -n berth.fish"
}

uninstall_leaves_nothing() {
    make -C "$ROOT" --no-print-directory uninstall DESTDIR="$DEST" >>"$IT_DIR/install.log" 2>&1 || die "make uninstall"
    local left
    left=$(find "$DEST" ! -type d)
    [ -z "$left" ] || die "left after make uninstall: $left"
}

deb_holds_the_install() {
    local deb files
    deb=$(make -C "$ROOT" --no-print-directory deb 2>"$IT_DIR/deb.log" | tail -n1)
    [ -f "$ROOT/$deb" ] || { tail -20 "$IT_DIR/deb.log"; die "make deb made no package ($deb)"; }
    deb=$ROOT/$deb
    want berth "$(dpkg-deb -f "$deb" Package)" "Package"
    dpkg-deb -f "$deb" Depends | grep -q libc6 || die "Depends: $(dpkg-deb -f "$deb" Depends)"
    files=$(dpkg-deb -c "$deb" | awk '{print $6}')
    for f in ./usr/bin/berth ./usr/bin/containerd-shim-berth-v2 ./usr/bin/berth-image \
        ./usr/share/man/man8/berth-create.8.gz ./usr/share/man/man1/berth-image.1.gz \
        ./usr/share/bash-completion/completions/berth ./usr/share/doc/berth/copyright \
        ./usr/share/doc/berth/examples/daemon.json ./usr/share/doc/berth/examples/runtimeclass.yaml; do
        grep -qx -- "$f" <<<"$files" || die "$f not in the package"
    done
    dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/doc/berth/examples/daemon.json | jq -e '.runtimes.berth.path == "/usr/bin/berth"' >/dev/null ||
        die "the package's daemon.json does not name /usr/bin/berth"
    echo "${deb##*/}: $(du -k "$deb" | cut -f1) KiB, $(wc -l <<<"$files") entries"
}

scenario "make install DESTDIR=…: binaries, docs, examples" installs
scenario "the installed berth runs a container" installed_berth_runs_a_container
scenario "every man page renders (man -l) and every command has one" every_page_renders
scenario "completions: bash completes a command, zsh and fish parse" completions_load
scenario "make uninstall leaves no file behind" uninstall_leaves_nothing
scenario "make deb: the package holds the install's files" deb_holds_the_install
it_summary
