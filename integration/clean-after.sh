#!/usr/bin/env bash
# Runs a command, then takes away what the clients it drove left on the host (see
# leftovers-lib.sh): `make test` runs the cargo tests through it, because the berth-image
# tests start dockerd and podman with private roots, and those still make /run/docker,
# /run/containers, /run/crun, libpod_parent cgroups and the /run/netns mount.
# Usage: integration/clean-after.sh COMMAND [ARGS...]; exits with COMMAND's status.
# shellcheck source=integration/leftovers-lib.sh
source "$(dirname "$0")/leftovers-lib.sh"
it_record_host
"$@"
status=$?
it_remove_leftovers
exit "$status"
