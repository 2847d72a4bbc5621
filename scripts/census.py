#!/usr/bin/env python3
"""List the AWS resources tagged for a moodlectl stack, with boto3 (an
independent client: it shares no code with moodlectl).

Usage: census.py [STACK]   (endpoint from AWS_ENDPOINT_URL, region from AWS_REGION)
"""
import os
import sys

import boto3

stack = sys.argv[1] if len(sys.argv) > 1 else "moodle"
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
for g in logs.describe_log_groups(logGroupNamePrefix=f"/moodlectl/{stack}/")["logGroups"]:
    rows.append(("log-group", g["logGroupName"], f'{g.get("retentionInDays", "never")} days'))
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
for e in rds.describe_event_subscriptions()["EventSubscriptionsList"]:
    rows.append(("db-event-subscription", e["CustSubscriptionId"], ",".join(e.get("SourceIdsList", []))))
sns = boto3.client("sns", **kw)
for t in sns.list_topics()["Topics"]:
    if t["TopicArn"].endswith(f":{stack}-rds-events"):
        rows.append(("sns-topic", t["TopicArn"], ""))
sm = boto3.client("secretsmanager", **kw)
for sec in sm.list_secrets()["SecretList"]:
    if sec["Name"].startswith(f"{stack}-"):
        rows.append(("secret", sec["Name"], "(value not shown)"))
efs = boto3.client("efs", **kw)
for fs in efs.describe_file_systems()["FileSystems"]:
    if any(t["Key"] == "moodlectl:stack" and t["Value"] == stack for t in fs.get("Tags", [])):
        mts = efs.describe_mount_targets(FileSystemId=fs["FileSystemId"])["MountTargets"]
        rows.append(("efs", fs["FileSystemId"], f'{fs["LifeCycleState"]}, {len(mts)} mount target(s)'))
ec = boto3.client("elasticache", **kw)
for g in ec.describe_replication_groups()["ReplicationGroups"]:
    if g["ReplicationGroupId"].startswith(f"{stack}-") and g["Status"] != "deleting":
        rows.append(("replication-group", g["ReplicationGroupId"], g["Status"]))
elb = boto3.client("elbv2", **kw)
for lb in elb.describe_load_balancers()["LoadBalancers"]:
    if lb["LoadBalancerName"].startswith(f"{stack}-"):
        rows.append(("load-balancer", lb["LoadBalancerName"], lb["DNSName"]))
for tg in elb.describe_target_groups()["TargetGroups"]:
    if tg["TargetGroupName"].startswith(f"{stack}-"):
        rows.append(("target-group", tg["TargetGroupName"], f'{tg["Protocol"]}:{tg["Port"]}'))
ecs = boto3.client("ecs", **kw)
for c in ecs.describe_clusters(clusters=[f"{stack}-cluster"])["clusters"]:
    if c["status"] == "ACTIVE":
        rows.append(("ecs-cluster", c["clusterName"], ""))
        for svc in ecs.describe_services(cluster=c["clusterName"], services=[f"{stack}-service"])["services"]:
            if svc["status"] == "ACTIVE":
                rows.append(("ecs-service", svc["serviceName"], f'{svc["runningCount"]}/{svc["desiredCount"]} running'))
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

for kind, ident, info in rows:
    print(f"{kind:<18} {ident:<40} {info}")
print(f"{len(rows)} resource(s) of stack `{stack}`")
