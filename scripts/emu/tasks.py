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
"""
import datetime

from moto.ec2.models import ec2_backends
from moto.ecs import models as ecs
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


def _stop(backend, svc, task, reason):
    elbv2 = elbv2_backends[backend.account_id][svc.region_name]
    for arn, targets in _targets(svc, task):
        try:
            elbv2.deregister_targets(arn, targets)
        except Exception:  # the target group is already gone
            pass
    eni = _eni(task)
    if eni:
        try:
            ec2_backends[backend.account_id][svc.region_name].delete_network_interface(eni)
        except Exception:  # already deleted
            pass
    task.desired_status = "STOPPED"
    task._transitions = STOPPED
    task.status = "STOPPED"
    task.stopped_reason = reason
    task.stopped_at = datetime.datetime.now(datetime.timezone.utc)


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

    backend.describe_services = describe_services
    backend.delete_service = delete_service
    backend.list_tasks = list_tasks_
