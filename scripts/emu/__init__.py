"""moodlectl's local AWS emulator: moto, patched by concern.

- fidelity: where moto answers differently from AWS for this stack's calls;
- latency: AWS's create/delete times (MOODLECTL_EMU_SCALE);
- enis: the network interfaces AWS services place in the VPC, and the
  deletions they block;
- rds_catalog: RDS's engine versions and certificate authorities;
- faults: throttling, 5xx and timeouts under load (MOODLECTL_EMU_FAULTS);
- speed: moto's own per-request overheads, cut without changing an answer.

scripts/moto_server.py installs them and starts moto's server.
"""
