"""ECS services that run tasks, as on AWS.

moto's services never start a task: `ListTasks` is empty, the service's
target group has no targets and the tasks' network interfaces never exist,
so a `status` reading tasks and target health, or a `down` that must wait
for a task's ENI to go before its subnet can, is never exercised.

Here, once a service's rollout is complete (`emu.fidelity` decides when), it
has its tasks: one per desired count, spread over the service's subnets;
each with an ENI in its subnet and the service's security groups (released
when the task stops: a subnet holding a task's ENI cannot be deleted),
`HEALTHY`, on the capacity provider the strategy's base and weights pick,
ECS Exec as the service says, and registered by IP in the service's target
group (healthy). A scale-down, a new task definition or `DeleteService`
stops tasks: deregistered, ENI deleted, `lastStatus` STOPPED. `ListTasks`
honours `serviceName` (moto ignores it) and defaults `desiredStatus` to
RUNNING as AWS does.

One-off tasks (`RunTask`, what `moodlectl run` starts) run for a moment
(`ONE_OFF_S` × MOODLECTL_EMU_SCALE, at least 1 s) and stop with an exit code:
the emulator cannot run Moodle's PHP, so a task writes one log event naming
its command to the container's awslogs stream (`<prefix>/<container>/<task
id>`) and exits 0 — or N for the command `sh -c "exit N"`, so the exit-code
path can be tested. Its ENI is released when it stops (or on `StopTask`).

A service task whose container command is the image's `cron` mode writes
Moodle's "Cron run completed correctly" line when it starts, as its first
cron run would (what `moodlectl status` reads for the cron service).

Moodle's version: `upgrade.php --is-pending` exits 2 when the task's image
is a newer Moodle than the site's database (see `_version`), and
`upgrade.php --non-interactive` moves the site to it; an image whose name
contains `does-not-exist` cannot be pulled (the task stops with
TaskFailedToStart and no exit code); MOODLECTL_EMU_FAIL_COMMANDS makes
matching commands exit 1.

`RunTask` with a `clientToken` used before in the cluster returns the task
it started, as AWS does.

`DeleteCluster` is refused with `ClusterContainsTasksException` while a task
of the cluster is not stopped, as AWS does (moto deletes it anyway).
"""
import datetime
import os
import shlex
import time

from emu import fidelity
from emu.clock import SCALE
from moto.ec2.models import ec2_backends
from moto.logs.models import logs_backends
from moto.ecs import models as ecs
from moto.ecs.exceptions import ECSException
from moto.elbv2.models import elbv2_backends

RUNNING = [("RUNNING", "RUNNING")]
STOPPED = [("STOPPED", "STOPPED")]


def _group(svc):
    return f"service:{svc.name}"


def _tasks_of(backend, svc):
    return [
        t
        for t in backend.tasks.get(svc.cluster_name, {}).values()
        if t.group == _group(svc) and t.desired_status == "RUNNING"
    ]


def _provider(svc, index):
    """The capacity provider of the service's task number `index`: bases
    first, then the weights in turn (FARGATE_SPOT 3 : FARGATE 1 → S S S F)."""
    strategy = getattr(svc, "capacity_provider_strategy", None) or []
    if not strategy:
        return None
    based = [s for s in strategy for _ in range(int(s.get("base", 0) or 0))]
    if index < len(based):
        return based[index]["capacityProvider"]
    cycle = [s for s in strategy for _ in range(int(s.get("weight", 0) or 0))]
    return (cycle or strategy)[(index - len(based)) % len(cycle or strategy)]["capacityProvider"]


def _ip(task):
    for a in task.attachments:
        for d in a.get("details", []):
            if d["name"] == "privateIPv4Address":
                return d["value"]
    return None


def _eni(task):
    for a in task.attachments:
        for d in a.get("details", []):
            if d["name"] == "networkInterfaceId":
                return d["value"]
    return None


def _targets(svc, task):
    for lb in svc.load_balancers or []:
        arn = lb.get("targetGroupArn")
        if arn and _ip(task):
            yield arn, [{"Id": _ip(task), "Port": int(lb.get("containerPort", 80))}]


def _start(backend, svc, index):
    cluster = backend._get_cluster(svc.cluster_name)
    td = backend.describe_task_definition(svc.task_definition)
    net = dict((svc.network_configuration or {}).get("awsvpcConfiguration", {}))
    subnets = net.get("subnets") or []
    if subnets:
        net["subnets"] = [subnets[index % len(subnets)]]
    task = ecs.Task(
        cluster,
        td,
        None,
        None,
        backend,
        group=_group(svc),
        started_by=f"ecs-svc/{abs(hash(svc.arn)) % 10**19}",
        networking_configuration={"awsvpcConfiguration": net} if net else None,
        capacity_provider_name=_provider(svc, index),
    )
    fidelity.read_by_task(backend.account_id, svc.region_name, td.container_definitions)
    task._transitions = RUNNING
    task.health_status = "HEALTHY"
    task.connectivity = "CONNECTED"
    task.started_at = datetime.datetime.now(datetime.timezone.utc)
    task.enable_execute_command = bool(getattr(svc, "enable_execute_command", False))
    if subnets:
        subnet = ec2_backends[backend.account_id][svc.region_name].get_subnet(net["subnets"][0])
        task.availability_zone = subnet.availability_zone
    backend.tasks.setdefault(cluster.name, {})[task.task_arn] = task
    elbv2 = elbv2_backends[backend.account_id][svc.region_name]
    for arn, targets in _targets(svc, task):
        elbv2.register_targets(arn, targets)
    container = td.container_definitions[0]
    if container.get("command") != ["cron"]:
        _site_of(backend, cluster.name, container.get("image"))
    else:
        # The image's cron mode: Moodle prints this line after each good run.
        _log(backend, task, container, svc.region_name, "Cron run completed correctly")


def _log(backend, task, container, region, message):
    """One event in the task's awslogs stream, as the container would write it."""
    options = (container.get("logConfiguration") or {}).get("options") or {}
    group = options.get("awslogs-group")
    if not group:
        return
    stream = f"{options.get('awslogs-stream-prefix', 'ecs')}/{container['name']}/{task.id}"
    logs = logs_backends[backend.account_id][region]
    try:
        logs.ensure_log_stream(group, stream)
        logs.put_log_events(group, stream, [{"timestamp": int(time.time() * 1000), "message": message}])
    except Exception:  # the log group is gone
        pass


def _halt(backend, task, reason):
    """Every way a task stops (scale-down, StopTask, a one-off's end): its
    ENI released, STOPPED for good (moto's state machine would move it)."""
    _one_off.pop(task.task_arn, None)
    eni = _eni(task)
    if eni:
        try:
            ec2_backends[backend.account_id][task.region_name].delete_network_interface(eni)
        except Exception:  # already deleted
            pass
    task.desired_status = "STOPPED"
    task._transitions = STOPPED
    task.status = "STOPPED"
    task.stopped_reason = reason
    task.stopped_at = datetime.datetime.now(datetime.timezone.utc)


def _stop(backend, svc, task, reason):
    elbv2 = elbv2_backends[backend.account_id][svc.region_name]
    for arn, targets in _targets(svc, task):
        try:
            elbv2.deregister_targets(arn, targets)
        except Exception:  # the target group is already gone
            pass
    _halt(backend, task, reason)


def _reconcile(backend, svc):
    running = _tasks_of(backend, svc)
    for t in [t for t in running if t.task_definition_arn != svc.task_definition]:
        _stop(backend, svc, t, "Task stopped by the deployment of a new task definition")
        running.remove(t)
    while len(running) > svc.desired_count:
        _stop(backend, svc, running.pop(), "Scaling activity initiated by (deployment)")
    used = len(running)
    for i in range(used, svc.desired_count):
        _start(backend, svc, i)


ONE_OFF_S = 30
_tokens = {}  # (account, region, cluster, clientToken) → task ARN
_one_off = {}  # task ARN → (stop time, exit code or None, command, container definition, region)

# The emulator cannot run Moodle, so it keeps the one fact the day-2 commands
# depend on: which Moodle version the site's database is at. An image's
# Moodle version is its tag up to the first "-" (`…/moodle:4.5.1-2` is Moodle
# 4.5.1, build 2); the site is at the version of the first web task's image,
# then of the last image whose `upgrade.php --non-interactive` succeeded.
_site = {}  # (account, region, cluster) → {"version": tag, "maintenance": bool}
# Commands that exit 1 instead of 0 (substring match), for failure tests:
# MOODLECTL_EMU_FAIL_COMMANDS="upgrade.php --non-interactive,…"
FAIL_COMMANDS = [c for c in os.environ.get("MOODLECTL_EMU_FAIL_COMMANDS", "").split(",") if c]
# An image whose name contains this cannot be pulled: its tasks stop before
# the container starts, without an exit code, as ECS reports a failed pull.
MISSING_IMAGE = "does-not-exist"


def _version(image):
    last = (image or "").rsplit("/", 1)[-1]
    return last.split(":", 1)[1].split("-", 1)[0] if ":" in last else "latest"


def _older(a, b):
    """Is version a older than b (dotted numbers; anything else is not comparable)?"""
    try:
        return tuple(int(x) for x in a.split(".")) < tuple(int(x) for x in b.split("."))
    except (AttributeError, ValueError):
        return False


def _site_of(backend, cluster, image=None):
    site = _site.setdefault((backend.account_id, backend.region_name, cluster), {"version": None, "maintenance": False})
    if site["version"] is None and image:
        site["version"] = _version(image)
    return site


def _exit_code(backend, cluster, image, command):
    """What the command exits with on this emulated site (and its effect)."""
    line = shlex.join(command)
    if any(f in line for f in FAIL_COMMANDS):
        return 1
    if len(command) == 3 and command[:2] == ["sh", "-c"] and command[2].startswith("exit "):
        try:
            return int(command[2].split()[1])
        except ValueError:
            return 2
    site = _site_of(backend, cluster, image)
    if "admin/cli/upgrade.php" in line:
        if _older(_version(image), site["version"]):
            return 1  # Moodle refuses to run code older than its database
        if "--is-pending" in command:
            return 2 if site["version"] != _version(image) else 0
        site["version"] = _version(image)
    elif "admin/cli/maintenance.php" in line:
        site["maintenance"] = "--enable" in command
    return 0


def _finish_one_off(backend, task):
    _, code, command, container, region = _one_off[task.task_arn]
    if code is None:
        # Never started: no exit code; ECS's stop code and reason.
        task.stop_code = "TaskFailedToStart"
        c = task.containers[0]
        for attr in ("exitCode", "exit_code"):  # moto's Container says 0 from the start
            if hasattr(c, attr):
                delattr(c, attr)
        c.last_status = "STOPPED"
        _halt(backend, task, "CannotPullContainerError: pull image manifest has been retried 5 time(s): "
                             f"failed to resolve ref {container.get('image')}: not found")
        return
    c = task.containers[0]
    c.exitCode = code
    c.exit_code = code
    c.last_status = "STOPPED"
    _log(backend, task, container, region, f"(emulator) ran: {shlex.join(command)} (exit {code})")
    _halt(backend, task, "Essential container in task exited")


def install():
    backend = ecs.EC2ContainerServiceBackend
    describe = backend.describe_services
    delete = backend.delete_service
    list_tasks = backend.list_tasks

    def describe_services(self, cluster_str, service_names_or_arns):
        result, failures = describe(self, cluster_str, service_names_or_arns)
        for svc in result:
            # Complete rollouts only: emu.fidelity sets running = desired then.
            if svc.status == "ACTIVE" and svc.running_count == svc.desired_count:
                _reconcile(self, svc)
        return result, failures

    def delete_service(self, cluster_name, service_name, force=False):
        svc = delete(self, cluster_name, service_name, force)
        for t in _tasks_of(self, svc):
            _stop(self, svc, t, "Service deleted")
        return svc

    def list_tasks_(self, cluster_str=None, container_instance=None, family=None, started_by=None,
                    service_name=None, desiredStatus=None):
        tasks = list_tasks(self, cluster_str, container_instance, family, started_by, service_name,
                           desiredStatus or "RUNNING")
        if service_name:
            name = service_name.split("/")[-1]
            tasks = [t for t in tasks if t.group == f"service:{name}"]
        return tasks

    run_task = backend.run_task
    describe_tasks = backend.describe_tasks
    requirements = backend._calculate_task_resource_requirements

    # A Fargate task definition may size the task only (cpu/memory at task
    # level, none per container), which AWS accepts and moto's placement
    # arithmetic cannot add up: count the task's own size then.
    def requirements_(task_definition):
        try:
            return requirements(task_definition)
        except TypeError:
            return {"CPU": int(task_definition.cpu or 0), "MEMORY": int(task_definition.memory or 0),
                    "PORTS": [], "PORTS_UDP": []}

    def run_task_(self, cluster_str, task_definition_str, count, overrides, *args, **kwargs):
        tasks = run_task(self, cluster_str, task_definition_str, count, overrides, *args, **kwargs)
        td = self.describe_task_definition(task_definition_str)
        container = td.container_definitions[0]
        command = container.get("command") or []
        for o in (overrides or {}).get("containerOverrides", []):
            command = o.get("command") or command
        for t in tasks:
            fidelity.read_by_task(self.account_id, t.region_name, td.container_definitions)
            t._transitions = RUNNING
            t.started_at = datetime.datetime.now(datetime.timezone.utc)
            image = container.get("image") or ""
            code = None if MISSING_IMAGE in image else _exit_code(self, t.cluster_name, image, command)
            _one_off[t.task_arn] = (
                time.monotonic() + max(1.0, ONE_OFF_S * SCALE), code, command, container, t.region_name,
            )
        return tasks

    def describe_tasks_(self, cluster_str, tasks):
        result = describe_tasks(self, cluster_str, tasks)
        for t in result:
            if t.task_arn in _one_off and time.monotonic() >= _one_off[t.task_arn][0]:
                _finish_one_off(self, t)
        return result

    backend.describe_services = describe_services
    backend.delete_service = delete_service
    backend.list_tasks = list_tasks_
    stop_task = backend.stop_task
    delete_cluster = backend.delete_cluster

    def stop_task_(self, cluster_str, task_str, reason):
        task = stop_task(self, cluster_str, task_str, reason)
        _halt(self, task, reason)
        return task

    def delete_cluster_(self, cluster_str):
        name = cluster_str.split("/")[-1]
        if any(t.desired_status != "STOPPED" for t in self.tasks.get(name, {}).values()):
            raise ECSException(
                "ClusterContainsTasksException", "The Cluster cannot be deleted while Tasks are active."
            )
        return delete_cluster(self, cluster_str)

    backend.run_task = run_task_

    # RunTask's clientToken: the same token in the same cluster returns the
    # task it started (AWS keeps tokens 24 hours); moto starts another.
    from moto.core.responses import ActionResult
    from moto.ecs.responses import EC2ContainerServiceResponse
    respond = EC2ContainerServiceResponse.run_task

    def run_task_response(self):
        token = self._get_param("clientToken")
        key = (self.current_account, self.region, self._get_param("cluster", "default").split("/")[-1], token)
        if token and key in _tokens:
            tasks = self.ecs_backend.describe_tasks(key[2], [_tokens[key]])
            return ActionResult({"tasks": tasks, "failures": []})
        result = respond(self)
        if token:
            tasks = result.result["tasks"] if hasattr(result, "result") else []
            if tasks:
                _tokens[key] = tasks[0].task_arn
        return result

    EC2ContainerServiceResponse.run_task = run_task_response
    backend.stop_task = stop_task_
    backend.delete_cluster = delete_cluster_
    backend._calculate_task_resource_requirements = staticmethod(requirements_)
    backend.describe_tasks = describe_tasks_
