#!/usr/bin/env bash
# The whole test suite: unit tests, integration tests against a private moto
# server per test (started by the tests themselves), and static checks.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/moodlectl-target}"
scripts/setup-emulator.sh
cargo test --no-fail-fast 2>&1
