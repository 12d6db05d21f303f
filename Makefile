# Berth: make demo (run a real container), make test (all tests), make fmt, make lint.
# Run as root on Debian: the demo and the tests create real containers.

CARGO ?= $(shell command -v cargo 2>/dev/null || echo $(HOME)/.cargo/bin/cargo)
BERTH := target/debug/berth
export DEBIAN_FRONTEND := noninteractive

.PHONY: demo test integration build fmt lint packages-demo packages-test

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
	$(call apt_install,busybox-static runc containerd docker-registry skopeo umoci uidmap docker.io podman)

build:
	$(CARGO) build --workspace

demo: packages-demo build
	scripts/demo.sh $(BERTH)

# Scripts that drive real clients (containerd, ...) through berth; each ends with
# "N passed, N failed" and exits non-zero on any failure.
INTEGRATION := integration/containerd.sh

test: packages-test build
	@status=0; \
	$(CARGO) test --workspace --no-fail-fast -- --test-threads=2 || status=1; \
	$(MAKE) --no-print-directory integration || status=1; \
	exit $$status

integration: build
	@status=0; for script in $(INTEGRATION); do \
		echo "== $$script"; bash $$script target/debug || status=1; \
	done; exit $$status

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
