# Berth: make demo (run a real container), make test (all tests), make integration (real
# docker/podman/containerd driving berth), make fmt, make lint.
# Run as root on Debian: the demo and the tests create real containers.

CARGO ?= $(shell command -v cargo 2>/dev/null || echo $(HOME)/.cargo/bin/cargo)
BERTH := target/debug/berth
export DEBIAN_FRONTEND := noninteractive

.PHONY: demo test build fmt lint integration packages-demo packages-test packages-integration

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
	$(call apt_install,busybox-static runc)

# What integration/ drives berth through: dockerd 20.10, podman 4.3, containerd 1.6 + ctr.
packages-integration:
	$(call apt_install,busybox-static runc docker.io podman containerd iptables uidmap)

build:
	$(CARGO) build --workspace

demo: packages-demo build
	scripts/demo.sh $(BERTH)

test: packages-test build
	$(CARGO) test --workspace --no-fail-fast -- --test-threads=2

# Real clients (docker, podman, containerd) driving berth; ~3 minutes. Not part of
# `make test` yet: see docs/clients.md.
integration: packages-integration build
	integration/run.sh

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
