#!/usr/bin/env bash
# Install the local AWS emulator (moto server, pinned) into ./.venv.
# Idempotent: does nothing when the pinned version is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
MOTO_VERSION="5.2.5"
# The SDKs speak CBOR to CloudWatch; scripts/emu/cbor.py translates it.
CBOR2_VERSION="5.6.5"
if [[ -x .venv/bin/moto_server ]] && .venv/bin/python -c "import moto,cbor2,sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  exit 0
fi
echo "installing moto[server]==$MOTO_VERSION into .venv" >&2
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" "cbor2==$CBOR2_VERSION"
