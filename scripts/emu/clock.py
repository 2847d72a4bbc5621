"""The emulator's clock: the latency table of shared/spec/latency.md, scaled
by MOODLECTL_EMU_SCALE (0, the default, makes every transition immediate),
and the bookkeeping every timed transition goes through."""
import os
import threading
import time

SCALE = float(os.environ.get("MOODLECTL_EMU_SCALE", "0"))

# Latency table (seconds, unscaled).
LATENCY = {
    "nat": (90, 60),
    "endpoint": (90, 60),
    "rds": (900, 420),
    "rds_modify": (600, 0),
    "redis": (600, 300),
    "efs": (5, 5),
    "mount_target": (80, 45),
    "alb": (150, 5),
    "cloudfront": (240, 5),
    "ecs": (150, 60),
}

# id(obj) -> (obj, attribute, final value, monotonic deadline)
_timeline = {}
# (container, key) -> deadline: objects kept visible while "deleting"
GONE_LATER = {}


def pending(obj, attr, pending, final, seconds):
    setattr(obj, attr, pending)
    _timeline[id(obj)] = (obj, attr, final, time.monotonic() + seconds * SCALE)


# (deadline, function): deletions that complete later (run once, in order).
LATER = []
_advance_lock = threading.Lock()


def advance():
    now = time.monotonic()
    # moto serves requests on several threads: one of them advances the clock.
    with _advance_lock:
        for k, (obj, attr, final, t) in list(_timeline.items()):
            if now >= t:
                setattr(obj, attr, final)
                del _timeline[k]
        for (container_id, key), (container, t) in list(GONE_LATER.items()):
            if now >= t:
                container.pop(key, None)
                del GONE_LATER[(container_id, key)]
        due = [job for job in LATER if job[0] <= now]
        for job in due:
            LATER.remove(job)
            try:
                job[1]()
            except Exception:  # already gone by another route: nothing to finish
                pass


def wrap(cls, name, after):
    orig = getattr(cls, name)

    def wrapper(self, *args, **kwargs):
        result = orig(self, *args, **kwargs)
        after(self, result, *args, **kwargs)
        return result

    setattr(cls, name, wrapper)


