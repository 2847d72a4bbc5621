#!/usr/bin/env python3
"""List the AWS resources of a moodlectl stack, with boto3 (an independent
client: it shares no code with moodlectl).

Usage: census.py [--json] [--expect full|empty] [STACK]
       census.py --expected full|empty
  (endpoint from AWS_ENDPOINT_URL, region from AWS_REGION)
--json            print {kind: count} instead of the table
--expect full     exit 1 unless every kind is there exactly as often as the
                  default stack has it (no duplicates, nothing missing)
--expect empty    exit 1 unless nothing is left
--expected KIND   print that expectation as {kind: count} (no AWS call)

This is the one census: the integration tests run it too (tests/common),
against the same table of expected resources, FULL below.
"""
import argparse
import json
import os
import sys

try:
    import boto3
except ImportError:  # the system Python, not the project's venv
    sys.exit("boto3 is missing: run scripts/setup-emulator.sh once, then .venv/bin/python " + " ".join(sys.argv))

# The default stack (moodle.toml), kind by kind.
FULL = {
    "vpc": 1, "subnet": 4, "internet-gateway": 1, "elastic-ip": 2, "nat-gateway": 2,
    "route-table": 3, "security-group": 6, "vpc-endpoint": 5, "flow-log": 1,
    "log-group": 6, "iam-role": 6, "metric-filter": 15, "db-instance": 1, "db-subnet-group": 1, "db-parameter-group": 1,
    "db-event-subscription": 1, "sns-topic": 2, "kms-key": 2, "audit-kms-key": 1, "secret": 3, "efs": 1,
    "efs-mount-target": 2, "efs-access-point": 1, "replication-group": 1,
    "cache-subnet-group": 1, "load-balancer": 1, "listener": 2, "target-group": 1,
    "waf-web-acl": 1, "cloudfront": 1, "cloudtrail": 1, "s3-bucket": 2,
    "ecs-cluster": 1, "ecs-service": 2, "task-definition": 2, "scalable-target": 1,
    "backup-vault": 1, "backup-plan": 1, "cloudwatch-alarm": 35, "dashboard": 1,
}

ap = argparse.ArgumentParser()
ap.add_argument("--json", action="store_true")
ap.add_argument("--expect", choices=["full", "empty"])
ap.add_argument("--expected", choices=["full", "empty"])
ap.add_argument("stack", nargs="?", default="moodle")
args = ap.parse_args()
if args.expected:
    print(json.dumps(FULL if args.expected == "full" else {k: 0 for k in FULL}, sort_keys=True))
    sys.exit(0)
stack = args.stack
region = os.environ.get("AWS_REGION", "ap-southeast-1")
kw = {"region_name": region}
if os.environ.get("AWS_ENDPOINT_URL"):
    kw["endpoint_url"] = os.environ["AWS_ENDPOINT_URL"]
ec2 = boto3.client("ec2", **kw)
f = [{"Name": "tag:moodlectl:stack", "Values": [stack]}]


def mine(tags):
    return any(t["Key"] == "moodlectl:stack" and t["Value"] == stack for t in tags or [])


rows = []
for v in ec2.describe_vpcs(Filters=f)["Vpcs"]:
    rows.append(("vpc", v["VpcId"], v["CidrBlock"]))
for s in ec2.describe_subnets(Filters=f)["Subnets"]:
    rows.append(("subnet", s["SubnetId"], f'{s["AvailabilityZone"]} {s["CidrBlock"]}'))
for g in ec2.describe_internet_gateways(Filters=f)["InternetGateways"]:
    rows.append(("internet-gateway", g["InternetGatewayId"], ",".join(a["VpcId"] for a in g["Attachments"])))
for a in ec2.describe_addresses(Filters=f)["Addresses"]:
    rows.append(("elastic-ip", a["AllocationId"], a.get("PublicIp", "")))
for n in ec2.describe_nat_gateways(Filter=f)["NatGateways"]:
    if mine(n.get("Tags")) and n["State"] not in ("deleted", "deleting"):
        rows.append(("nat-gateway", n["NatGatewayId"], n["State"]))
for t in ec2.describe_route_tables(Filters=f)["RouteTables"]:
    rows.append(("route-table", t["RouteTableId"], f'{len(t["Associations"])} association(s)'))
for g in ec2.describe_security_groups(Filters=f)["SecurityGroups"]:
    rows.append(("security-group", g["GroupId"], g["GroupName"]))
for e in ec2.describe_vpc_endpoints(Filters=f)["VpcEndpoints"]:
    if e["State"].lower() not in ("deleted", "deleting"):
        rows.append(("vpc-endpoint", e["VpcEndpointId"], e["ServiceName"]))
for fl in ec2.describe_flow_logs(Filter=f)["FlowLogs"]:
    rows.append(("flow-log", fl["FlowLogId"], fl["LogGroupName"]))
logs = boto3.client("logs", **kw)
# Ours, the database's exported logs (created by us with a retention), and the WAF's (us-east-1).
for prefix in (f"/moodlectl/{stack}/", f"/aws/rds/instance/{stack}-", f"/aws/rds/cluster/{stack}-"):
    for g in logs.describe_log_groups(logGroupNamePrefix=prefix)["logGroups"]:
        rows.append(("log-group", g["logGroupName"], f'{g.get("retentionInDays", "never")} days'))
waf_logs = boto3.client("logs", **{**kw, "region_name": "us-east-1"})
for g in waf_logs.describe_log_groups(logGroupNamePrefix=f"aws-waf-logs-{stack}")["logGroups"]:
    if g["logGroupName"] == f"aws-waf-logs-{stack}":
        rows.append(("log-group", g["logGroupName"], f'us-east-1 {g.get("retentionInDays", "never")} days'))
# The security metric filters on the trail's CloudWatch Logs copy.
for mf in logs.describe_metric_filters(filterNamePrefix=f"{stack}-security-")["metricFilters"]:
    rows.append(("metric-filter", mf["filterName"], mf["logGroupName"]))
iam = boto3.client("iam", **kw)
for r in iam.list_roles()["Roles"]:
    if r["RoleName"].startswith(f"{stack}-"):
        rows.append(("iam-role", r["RoleName"], ""))

rds = boto3.client("rds", **kw)
for d in rds.describe_db_instances()["DBInstances"]:
    if d["DBInstanceIdentifier"].startswith(f"{stack}-"):
        rows.append(("db-instance", d["DBInstanceIdentifier"], f'{d["Engine"]} {d["DBInstanceClass"]} {d["DBInstanceStatus"]}'))
for g in rds.describe_db_subnet_groups()["DBSubnetGroups"]:
    if g["DBSubnetGroupName"].startswith(f"{stack}-"):
        rows.append(("db-subnet-group", g["DBSubnetGroupName"], ""))
for g in rds.describe_db_parameter_groups()["DBParameterGroups"]:
    if g["DBParameterGroupName"] == f"{stack}-db-params":
        rows.append(("db-parameter-group", g["DBParameterGroupName"], g["DBParameterGroupFamily"]))
for g in rds.describe_db_cluster_parameter_groups()["DBClusterParameterGroups"]:
    if g["DBClusterParameterGroupName"] == f"{stack}-db-params":
        rows.append(("db-parameter-group", g["DBClusterParameterGroupName"], g["DBParameterGroupFamily"]))
for e in rds.describe_event_subscriptions()["EventSubscriptionsList"]:
    rows.append(("db-event-subscription", e["CustSubscriptionId"], ",".join(e.get("SourceIdsList", []))))
for r in (region, "us-east-1"):  # CloudFront's alarm notifies a us-east-1 twin of the alert topic
    sns = boto3.client("sns", **{**kw, "region_name": r})
    for t in sns.list_topics()["Topics"]:
        if t["TopicArn"].endswith((f":{stack}-rds-events", f":{stack}-alerts")):
            key = sns.get_topic_attributes(TopicArn=t["TopicArn"])["Attributes"].get("KmsMasterKeyId", "unencrypted")
            rows.append(("sns-topic", t["TopicArn"], key))
    # The topics' KMS keys (a deleted key waits 7 days, PendingDeletion: not counted).
    kms = boto3.client("kms", **{**kw, "region_name": r})
    for a in kms.list_aliases()["Aliases"]:
        if a["AliasName"] == f"alias/{stack}-alerts" and a.get("TargetKeyId"):
            k = kms.describe_key(KeyId=a["TargetKeyId"])["KeyMetadata"]
            if k["KeyState"] != "PendingDeletion":
                rows.append(("kms-key", k["KeyId"], f'{r} {k["KeyState"]}'))
        # The trail's key, kept by `down` with the audit bucket unless --delete-logs.
        if r == region and a["AliasName"] == f"alias/{stack}-audit" and a.get("TargetKeyId"):
            k = kms.describe_key(KeyId=a["TargetKeyId"])["KeyMetadata"]
            if k["KeyState"] != "PendingDeletion":
                rows.append(("audit-kms-key", k["KeyId"], k["KeyState"]))
sm = boto3.client("secretsmanager", **kw)
for sec in sm.list_secrets()["SecretList"]:
    if sec["Name"].startswith(f"{stack}-"):
        rows.append(("secret", sec["Name"], "(value not shown)"))
efs = boto3.client("efs", **kw)
for fs in efs.describe_file_systems()["FileSystems"]:
    if any(t["Key"] == "moodlectl:stack" and t["Value"] == stack for t in fs.get("Tags", [])):
        if fs["LifeCycleState"] in ("deleting", "deleted"):
            continue
        mts = efs.describe_mount_targets(FileSystemId=fs["FileSystemId"])["MountTargets"]
        rows.append(("efs", fs["FileSystemId"], f'{fs["LifeCycleState"]}, {len(mts)} mount target(s)'))
        for mt in mts:
            if mt["LifeCycleState"] not in ("deleting", "deleted"):
                rows.append(("efs-mount-target", mt["MountTargetId"], mt["SubnetId"]))
        for a in efs.describe_access_points(FileSystemId=fs["FileSystemId"])["AccessPoints"]:
            rows.append(("efs-access-point", a["AccessPointId"], a.get("RootDirectory", {}).get("Path", "")))
ec = boto3.client("elasticache", **kw)
for g in ec.describe_replication_groups()["ReplicationGroups"]:
    if g["ReplicationGroupId"].startswith(f"{stack}-") and g["Status"] != "deleting":
        rows.append(("replication-group", g["ReplicationGroupId"], g["Status"]))
for g in ec.describe_cache_subnet_groups()["CacheSubnetGroups"]:
    if g["CacheSubnetGroupName"].startswith(f"{stack}-"):
        rows.append(("cache-subnet-group", g["CacheSubnetGroupName"], ""))
elb = boto3.client("elbv2", **kw)
for lb in elb.describe_load_balancers()["LoadBalancers"]:
    if lb["LoadBalancerName"].startswith(f"{stack}-"):
        rows.append(("load-balancer", lb["LoadBalancerName"], lb["DNSName"]))
        for li in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
            rows.append(("listener", li["ListenerArn"].rsplit("/", 1)[-1], f'{li["Protocol"]}:{li["Port"]}'))
for tg in elb.describe_target_groups()["TargetGroups"]:
    if tg["TargetGroupName"].startswith(f"{stack}-"):
        rows.append(("target-group", tg["TargetGroupName"], f'{tg["Protocol"]}:{tg["Port"]}'))
ecs = boto3.client("ecs", **kw)
for c in ecs.describe_clusters(clusters=[f"{stack}-cluster"])["clusters"]:
    if c["status"] == "ACTIVE":
        rows.append(("ecs-cluster", c["clusterName"], ""))
        for svc in ecs.describe_services(cluster=c["clusterName"], services=[f"{stack}-service", f"{stack}-cron"])["services"]:
            if svc["status"] == "ACTIVE":
                rows.append(("ecs-service", svc["serviceName"], f'{svc["runningCount"]}/{svc["desiredCount"]} running'))
for family in (f"{stack}-moodle", f"{stack}-cron", f"{stack}-oneoff"):
    for arn in ecs.list_task_definitions(familyPrefix=family, status="ACTIVE")["taskDefinitionArns"]:
        rows.append(("task-definition", arn.rsplit("/", 1)[-1], ""))
aas = boto3.client("application-autoscaling", **kw)
for t in aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]:
    if t["ResourceId"].startswith(f"service/{stack}-cluster/"):
        rows.append(("scalable-target", t["ResourceId"], f'{t["MinCapacity"]}-{t["MaxCapacity"]} tasks'))
glob = {k: v for k, v in kw.items() if k != "region_name"}
waf = boto3.client("wafv2", region_name="us-east-1", **glob)
for a in waf.list_web_acls(Scope="CLOUDFRONT")["WebACLs"]:
    if a["Name"] == f"{stack}-cf-waf":
        rows.append(("waf-web-acl", a["Name"], "us-east-1"))
cf = boto3.client("cloudfront", region_name="us-east-1", **glob)
for d in cf.list_distributions().get("DistributionList", {}).get("Items", []):
    if d.get("Comment") == f"moodlectl stack {stack}":
        rows.append(("cloudfront", d["Id"], f'{d["DomainName"]} {d["Status"]}'))
ct = boto3.client("cloudtrail", **kw)
for t in ct.describe_trails()["trailList"]:
    if t["Name"] == f"{stack}-trail":
        rows.append(("cloudtrail", t["Name"], t["S3BucketName"]))

backup = boto3.client("backup", **kw)
for v in backup.list_backup_vaults()["BackupVaultList"]:
    if v["BackupVaultName"] == f"{stack}-backups":
        rows.append(("backup-vault", v["BackupVaultName"], f'{v.get("NumberOfRecoveryPoints", 0)} recovery point(s)'))
for plan in backup.list_backup_plans()["BackupPlansList"]:
    if plan["BackupPlanName"] == f"{stack}-daily":
        rows.append(("backup-plan", plan["BackupPlanId"], plan["BackupPlanName"]))

for r in (region, "us-east-1"):  # CloudFront's alarm lives in us-east-1
    cw = boto3.client("cloudwatch", **{**kw, "region_name": r})
    for a in cw.describe_alarms(AlarmNamePrefix=f"{stack}-alarm-")["MetricAlarms"]:
        rows.append(("cloudwatch-alarm", a["AlarmName"], f'{r} {a["StateValue"]}'))
for d in boto3.client("cloudwatch", **kw).list_dashboards(DashboardNamePrefix=stack)["DashboardEntries"]:
    if d["DashboardName"] == stack:
        rows.append(("dashboard", d["DashboardName"], ""))

# The log buckets (kept by `down` unless --delete-logs).
for b in boto3.client("s3", **kw).list_buckets()["Buckets"]:
    if b["Name"].startswith(f"{stack}-cloudtrail-"):
        rows.append(("s3-bucket", b["Name"], "audit logs"))
    elif b["Name"].startswith(f"{stack}-logs-"):
        rows.append(("s3-bucket", b["Name"], "access logs"))

counts = {k: 0 for k in FULL}
for kind, _, _ in rows:
    counts[kind] = counts.get(kind, 0) + 1
if args.json:
    print(json.dumps(counts, sort_keys=True))
else:
    for kind, ident, info in rows:
        print(f"{kind:<18} {ident:<40} {info}")
    print(f"{len(rows)} resource(s) of stack `{stack}`")
if args.expect:
    want = FULL if args.expect == "full" else {k: 0 for k in FULL}
    diff = {k: (counts.get(k, 0), n) for k, n in want.items() if counts.get(k, 0) != n}
    diff.update({k: (n, 0) for k, n in counts.items() if k not in want and n})
    if diff:
        sys.exit("census differs from the " + args.expect + " stack (kind: found, expected): " + json.dumps(diff))
