# Berth: make demo (run a real container), make test (all tests), make fmt, make lint,
# make bench (release build; berth vs runc vs crun, by hand only: never part of make test).
# Run as root on Debian: the demo and the tests create real containers.

CARGO ?= $(shell command -v cargo 2>/dev/null || echo $(HOME)/.cargo/bin/cargo)
BERTH := target/debug/berth
export DEBIAN_FRONTEND := noninteractive
# The CRI test client (tonic, needs protoc) is built only by integration/cri.sh.
NOT_IN_BUILD := --exclude berth-cri-client
# Test builds carry the fault-injection hook (libcontainer/src/fault.rs) that
# tests/tests/faults.rs and integration/containerd-faults.sh drive; release builds never do.
TEST_FEATURES := --features berth/fault-injection,containerd-shim-berth-v2/fault-injection

.PHONY: docs install uninstall deb demo test test-modern packages-modern integration clients build release release-rustflags fmt lint bench packages-demo packages-test packages-clients packages-bench reliability fuzz fuzz-libfuzzer

# Install the Debian packages named in $(1) unless all are installed already.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

packages-demo:
	$(call apt_install,busybox-static)

packages-test:
	$(call apt_install,busybox-static runc containerd docker-registry skopeo umoci uidmap docker.io podman iptables nftables iproute2 protobuf-compiler criu jq man-db dpkg-dev zsh fish)

# What the modern-host VM (integration/vm/) is built and booted with.
packages-modern:
	$(call apt_install,mmdebstrap qemu-system-x86 e2fsprogs)

# What integration/{docker,podman,ctr}.sh drive berth through: dockerd 20.10, podman 4.3,
# containerd 1.6 + ctr.
packages-clients:
	$(call apt_install,busybox-static runc docker.io podman containerd iptables uidmap protobuf-compiler)

packages-bench:
	$(call apt_install,busybox-static runc crun containerd strace time linux-perf valgrind python3 gcc libc6-dev jq protobuf-compiler)

build:
	$(CARGO) build --workspace $(NOT_IN_BUILD) $(TEST_FEATURES)

# Release binaries, statically linked against glibc (no ld.so relocations at every start,
# no libc.so pages: -0.4 MiB peak RSS, -30 syscalls per run), not position-independent
# (no self-relocation of 10,000 pointers at every start, whose pages would become private
# copies), with the functions a container's lifecycle runs packed together
# (runtime/hot-symbols.txt, made by bench/hot-symbols.sh; lld, rustc's default linker for
# this target) so that fault-around maps few cold pages. --target keeps RUSTFLAGS off
# build scripts and proc-macros. Output: target/$(RELEASE_TARGET)/release/, stripped
# (the release profile keeps the symbols for bench/hot-symbols.sh).
RELEASE_TARGET := x86_64-unknown-linux-gnu
RELEASE_RUSTFLAGS := -C target-feature=+crt-static -C relocation-model=static \
	-C link-arg=-Wl,--symbol-ordering-file=$(CURDIR)/runtime/hot-symbols.txt \
	-C link-arg=-Wl,--no-warn-symbol-ordering
RELEASE_DIR := target/$(RELEASE_TARGET)/release
# berth-image is built as usual (target/release): it resolves registry hosts, and a static
# glibc cannot load the NSS modules getaddrinfo needs.
release:
	RUSTFLAGS="$(RELEASE_RUSTFLAGS)" $(CARGO) build --release --target $(RELEASE_TARGET) -p berth
	strip $(RELEASE_DIR)/berth
	RUSTFLAGS="$(RELEASE_RUSTFLAGS)" $(CARGO) build --release --target $(RELEASE_TARGET) -p containerd-shim-berth-v2
	strip $(RELEASE_DIR)/containerd-shim-berth-v2
	$(CARGO) build --release -p berth-image
	strip target/release/berth-image

# Man pages and shell completions, made by the binaries themselves from their clap
# definitions (a build with the docgen feature, kept apart in target/docgen so that it
# never replaces the binaries the tests or the package use): target/docs/{man,completions}.
DOCGEN_DIR := target/docgen
DOCS_OUT := target/docs
DOCGEN_BINS := berth berth-image containerd-shim-berth-v2
docs:
	$(CARGO) build -q --target-dir $(DOCGEN_DIR) $(foreach b,$(DOCGEN_BINS),-p $(b)) \
		--features berth/docgen,berth-image/docgen,containerd-shim-berth-v2/docgen
	rm -rf $(DOCS_OUT)
	for b in $(DOCGEN_BINS); do \
		BERTH_DOCGEN_OUT=$(DOCS_OUT) BERTH_DOCGEN_DATE="$$(git log -1 --format=%cs 2>/dev/null)" \
			$(DOCGEN_DIR)/debug/$$b || exit 1; \
	done

# make install [PREFIX=/usr/local] [BINDIR=...] [DESTDIR=...]: the release binaries (built
# if need be), man pages, bash/zsh/fish completions, the docs and example configuration
# for Docker, containerd and Kubernetes. make uninstall removes exactly these.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
DOCDIR ?= $(DATADIR)/doc/berth
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/vendor-completions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d
install: release docs
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR) \
		$(DESTDIR)$(DOCDIR)/examples
	install -m 0755 $(RELEASE_DIR)/berth $(RELEASE_DIR)/containerd-shim-berth-v2 \
		target/release/berth-image $(DESTDIR)$(BINDIR)/
	install -m 0644 $(DOCS_OUT)/man/*.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 $(DOCS_OUT)/man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(DOCS_OUT)/completions/bash/* $(DESTDIR)$(BASHCOMPDIR)/
	install -m 0644 $(DOCS_OUT)/completions/zsh/* $(DESTDIR)$(ZSHCOMPDIR)/
	install -m 0644 $(DOCS_OUT)/completions/fish/* $(DESTDIR)$(FISHCOMPDIR)/
	install -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/
	for f in packaging/examples/*; do \
		sed 's|@BINDIR@|$(BINDIR)|g' $$f >$(DESTDIR)$(DOCDIR)/examples/$${f##*/} && \
		chmod 0644 $(DESTDIR)$(DOCDIR)/examples/$${f##*/} || exit 1; \
	done

uninstall:
	rm -f $(foreach b,$(DOCGEN_BINS),$(DESTDIR)$(BINDIR)/$(b))
	rm -f $(DESTDIR)$(MANDIR)/man8/berth.8 $(DESTDIR)$(MANDIR)/man8/berth-*.8 \
		$(DESTDIR)$(MANDIR)/man8/containerd-shim-berth-v2.8 \
		$(DESTDIR)$(MANDIR)/man1/berth-image.1 $(DESTDIR)$(MANDIR)/man1/berth-image-*.1
	rm -f $(DESTDIR)$(BASHCOMPDIR)/berth $(DESTDIR)$(BASHCOMPDIR)/berth-image \
		$(DESTDIR)$(ZSHCOMPDIR)/_berth $(DESTDIR)$(ZSHCOMPDIR)/_berth-image \
		$(DESTDIR)$(FISHCOMPDIR)/berth.fish $(DESTDIR)$(FISHCOMPDIR)/berth-image.fish
	rm -rf $(DESTDIR)$(DOCDIR)

# make deb: target/deb/berth_<version>_<arch>.deb, laid out by `make install PREFIX=/usr`
# (so the package and the install cannot differ) and built with dpkg-deb (docs/install.md).
deb:
	packaging/build-deb.sh

# For bench/run.sh and bench/hot-symbols.sh, which build as `release` does.
release-rustflags:
	@echo '$(RELEASE_RUSTFLAGS)'

demo: packages-demo build
	scripts/demo.sh $(BERTH)

# Scripts that drive real clients (containerd, dockerd, podman) through berth; each ends
# with "N passed, N failed" and exits non-zero on any failure.
# release-build.sh: the release binaries carry no fault-injection hook (~1.5 min);
# containerd-faults.sh: the shim SIGKILLed mid-operation (~30 s); containerd-churn.sh:
# 20 containers through one shim (SHIM_CHURN), fds/threads/mounts/cgroups before = after;
# ctr.sh: berth under containerd's runc-v2 shim, the CRI, our shim's metrics;
# install.sh: make install/uninstall, man pages, completions, make deb (~6 min from
# nothing; the package is then installed in the VM); vm/run.sh: the modern host (~5 min; the first run builds the image, ~1 min).
INTEGRATION := integration/release-build.sh integration/containerd.sh integration/containerd-faults.sh integration/containerd-churn.sh integration/ctr.sh integration/docker.sh integration/podman.sh integration/install.sh integration/vm/run.sh

# The tests must leave the host as they found it: a snapshot before and after
# (integration/host-snapshot.sh) must be equal, or the run fails and shows the difference.
test: packages-test packages-modern build
	@status=0; \
	integration/host-snapshot.sh >target/host-before.txt; \
	integration/clean-after.sh $(CARGO) test --workspace $(NOT_IN_BUILD) $(TEST_FEATURES) --no-fail-fast -- --test-threads=2 || status=1; \
	$(MAKE) --no-print-directory integration || status=1; \
	integration/host-snapshot.sh >target/host-after.txt; \
	if diff -u target/host-before.txt target/host-after.txt >target/host-diff.txt; then \
		echo "1 passed, 0 failed: host-snapshot: the host is as the tests found it"; \
	else \
		echo "host-snapshot: the tests left the host changed (- before, + after):"; sed "s/^/host-snapshot: /" target/host-diff.txt; \
		echo "0 passed, 1 failed: host-snapshot"; status=1; \
	fi; \
	exit $$status

# The modern host alone: a Debian forky VM (systemd, pure cgroup v2, Docker 28,
# containerd 2, podman 5, runc 1.3) built from Debian's packages and booted under qemu;
# integration/vm/scenarios.sh runs inside (docs/testing.md).
test-modern: packages-modern build
	integration/vm/run.sh target/debug

integration: build
	@status=0; for script in $(INTEGRATION); do \
		echo "== $$script"; bash $$script target/debug || status=1; \
	done; exit $$status

# Benchmarks are run by hand: RUNS=40 make bench; results in bench/results/<date>.md.
bench: packages-bench packages-modern
	CARGO=$(CARGO) bench/run.sh

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) clippy --workspace $(NOT_IN_BUILD) --all-targets $(TEST_FEATURES) -- -D warnings
	$(CARGO) clippy --workspace $(NOT_IN_BUILD) --all-targets -- -D warnings

# Real clients (docker, podman, containerd's runc-v2 shim + ctr) driving berth, summed up
# by integration/run.sh; about 3 minutes. See docs/clients.md.
clients: packages-clients build
	integration/run.sh

# Long reliability runs (docs/reliability.md): every fuzz target for FUZZ_SECONDS each
# (stable mutation loop; with cargo-fuzz + nightly use `make fuzz-libfuzzer`), then the
# churn of CHURN containers (berth CLI, then through one shim under containerd) and the
# 65,536-mount run. Prints executions, leak counts, times.
FUZZ_SECONDS ?= 60
CHURN ?= 1000
FUZZ_TARGETS := config process seccomp state image dockerfile

fuzz:
	cd fuzz && FUZZ_SECONDS=$(FUZZ_SECONDS) $(CARGO) test --release --target-dir ../target -- --nocapture --test-threads=1

# libFuzzer runs need cargo-fuzz and a nightly toolchain; cargo-fuzz is installed into
# target/tools (pinned, --locked) on first use, so every machine runs the same one.
# New inputs go to target/fuzz-corpus/<target>/ (corpus/<target>/ is the seed, kept
# small in git); crashers land in fuzz/artifacts/<target>/.
CARGO_FUZZ_VERSION := 0.13.2
CARGO_FUZZ := $(CURDIR)/target/tools/bin/cargo-fuzz

$(CARGO_FUZZ):
	$(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --root $(CURDIR)/target/tools

fuzz-libfuzzer: $(CARGO_FUZZ)
	cd fuzz && for t in $(FUZZ_TARGETS); do \
		mkdir -p ../target/fuzz-corpus/$$t && \
		PATH=$(dir $(CARGO_FUZZ)):$$PATH $(CARGO) +nightly fuzz run --features libfuzzer $$t ../target/fuzz-corpus/$$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

reliability: packages-test build fuzz
	@status=0; \
	CHURN=$(CHURN) $(CARGO) test -p berth-tests --test reliability -- --ignored --nocapture --test-threads=1 || status=1; \
	SHIM_CHURN=$(CHURN) bash integration/containerd-churn.sh target/debug || status=1; \
	exit $$status
