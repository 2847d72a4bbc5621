#!/usr/bin/env python3
"""moto server with moodlectl's emulator patches (scripts/emu/), then moto's
own `main()`.

Each concern is a module of scripts/emu/ whose docstring lists what it does
and which moto gap it closes:
- emu.fidelity  AWS behaviour where moto differs (always on);
- emu.tasks     ECS services run tasks: ENIs, target registrations, ListTasks (always on);
- emu.backup    AWS Backup jobs, recovery points and restores of EFS (always on);
- emu.cache     ElastiCache node counts, failover rules, replica count changes (always on);
- emu.logkeys   log groups encrypted with a KMS key: the key's region and policy (always on);
- emu.cbor      the SDKs' CBOR protocol (CloudWatch) translated to moto's JSON (always on);
- emu.latency   AWS's resource timings × MOODLECTL_EMU_SCALE (when > 0);
- emu.faults    injected throttling/5xx/timeouts, MOODLECTL_EMU_FAULTS;
- emu.consistency  AWS's eventual consistency (propagation, read-after-create,
                refusals right after a related change), MOODLECTL_EMU_CONSISTENCY;
- emu.validation   every request checked against its botocore model and the
                documented limits the models leave out (always on);
- emu.speed     moto's per-request overheads cut (always), and models
                preloaded and request logs muted in latency mode.

Switches: MOODLECTL_EMU_SCALE, MOODLECTL_EMU_FAULTS (+ _SEED, _FAULT_KINDS,
_FAULT_HOLD_S), MOODLECTL_EMU_CONSISTENCY (+ _SEED), MOODLECTL_EMU_HIDE_PREFIX_LISTS=1,
MOODLECTL_EMU_CF_READ_TIMEOUT_QUOTA (default 60).

Usage: moto_server.py [moto_server args, e.g. -H 127.0.0.1 -p 5000]
"""
import os
import sys

# Certificates are ISSUED at once (moto otherwise waits 60 s); read at import.
os.environ.setdefault("MOTO_ACM_VALIDATION_WAIT", "0")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    from moto.server import main  # noqa: E402
except ImportError:  # the system Python, not the project's venv
    sys.exit("moto is missing: run scripts/setup-emulator.sh once, then .venv/bin/python scripts/moto_server.py …")

from emu import (  # noqa: E402
    backup, cache, cbor, consistency, enis, faults, fidelity, hardening, latency, logkeys, rds_catalog, speed,
    tasks, trail_logs, validation,
)
from emu.clock import SCALE  # noqa: E402

fidelity.install(hide_prefix_lists=os.environ.get("MOODLECTL_EMU_HIDE_PREFIX_LISTS") == "1")
tasks.install()
backup.install()
cache.install()
logkeys.install()
hardening.install()
trail_logs.install()
validation.install()
enis.install()
rds_catalog.install()
speed.trim_overheads()
if SCALE > 0:
    latency.install()
    speed.warm_up()

if __name__ == "__main__":
    # Installed first, so outermost: the layers below (faults, consistency,
    # validation) see the JSON request moto is given, and their refusals are
    # sent back in CBOR like moto's own answers.
    cbor.install()
    faults.install()
    consistency.install()
    validation.serve_counts()
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    sys.exit(main(sys.argv[1:]))
