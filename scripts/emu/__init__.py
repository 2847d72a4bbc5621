"""moodlectl's local AWS emulator: moto, patched by concern.

- fidelity: where moto answers differently from AWS for this stack's calls;
- latency: AWS's create/delete times (MOODLECTL_EMU_SCALE);
- faults: throttling, 5xx and timeouts under load (MOODLECTL_EMU_FAULTS);
- speed: moto's own per-request overheads, cut without changing an answer.

scripts/moto_server.py installs them and starts moto's server.
"""
