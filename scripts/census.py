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

for kind, ident, info in rows:
    print(f"{kind:<18} {ident:<40} {info}")
print(f"{len(rows)} resource(s) of stack `{stack}`")
