"""Shared by scripts/bench-up-down and scripts/soak-crash-resume: build
moodlectl, start the patched moto server (scripts/moto_server.py) on a free
loopback port with the latency/fault settings, and prepare a working
directory holding moodle.toml with the emulator's certificates and image.
"""
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = os.path.join(ROOT, ".venv", "bin", "python")
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/moodlectl-target"))
BIN = os.path.join(TARGET, "debug", "moodlectl")


def build():
    """Set up the emulator's venv when missing (scripts/setup-emulator.sh, as
    demo.sh and test.sh do), then build moodlectl with the test suite's feature set: the dev-dependencies
    (aws-smithy-mocks, insta) switch features on shared crates, so a plain
    `cargo build` after `cargo test` would rebuild the whole AWS SDK a second
    time (≈ 10 minutes on a 2-core machine)."""
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "setup-emulator.sh")], check=True)
    subprocess.run(["cargo", "build", "--tests", "--features", "test-hooks", "--quiet"], cwd=ROOT, check=True,
                   env=dict(os.environ, CARGO_TARGET_DIR=TARGET))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def emulator(**settings):
    """moto with moodlectl's patches; `settings` are MOODLECTL_EMU_* values
    (scale=0.0167 → MOODLECTL_EMU_SCALE). Yields (endpoint URL, env for
    moodlectl and boto3 pointed at it, working directory with moodle.toml)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env_emu = dict(os.environ, **{f"MOODLECTL_EMU_{k.upper()}": str(v) for k, v in settings.items()})
    moto = subprocess.Popen([PY, os.path.join(ROOT, "scripts", "moto_server.py"), "-H", "127.0.0.1", "-p", str(port)],
                            env=env_emu, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    work = tempfile.mkdtemp()
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/moto-api/data.json", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise SystemExit(f"moto server did not start at {url}")
        scale = float(settings.get("scale", 0))
        env = dict(os.environ, AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                   AWS_REGION="ap-southeast-1", AWS_EC2_METADATA_DISABLED="true", CI="true",
                   # The poller's cap (10 s on AWS) scales like every other duration.
                   MOODLECTL_POLL_MIN_MS="50", MOODLECTL_POLL_MAX_MS=str(max(100, int(scale * 10_000))),
                   # A create noted but not recorded (a killed run) is looked for
                   # by tag this long before it is made again: AWS's filtered
                   # reads can omit a resource for seconds, so 60 s by default.
                   # The emulator omits nothing unless its consistency mode is
                   # on, and then for that many seconds.
                   MOODLECTL_SETTLE_S=str(max(1, int(float(settings.get("consistency", 0))) + 1)))
        env.pop("AWS_PROFILE", None)
        shutil.copy(os.path.join(ROOT, "moodle.toml"), os.path.join(work, "moodle.toml"))
        subprocess.run([PY, os.path.join(ROOT, "scripts", "emulator_prereqs.py"), os.path.join(work, "moodle.toml")],
                       env=env, check=True, capture_output=True)
        yield url, env, work
    finally:
        moto.terminate()
        moto.wait()
        shutil.rmtree(work, ignore_errors=True)
