#!/usr/bin/env python3
"""Prepare the local emulator for a config, the way a user prepares an AWS
account before `moodlectl up`:
- request ACM certificates for the domain (the ALB's in the stack region,
  CloudFront's in us-east-1) and write their ARNs into the config;
- push the config's image to ECR (an image manifest; the emulator stores no layers)
  when image.uri is an ECR URI, into a repository made as scripts/publish-image.sh
  makes it (scan on push, immutable tags, scripts/ecr-lifecycle-policy.json).

Usage: emulator_prereqs.py CONFIG   (endpoint from AWS_ENDPOINT_URL)
"""
import json
import os
import re
import sys
import tomllib

try:
    import boto3
except ImportError:  # the system Python, not the project's venv
    sys.exit("boto3 is missing: run scripts/setup-emulator.sh once, then .venv/bin/python " + " ".join(sys.argv))

path = sys.argv[1]
text = open(path, encoding="utf-8").read()
cfg = tomllib.loads(text)
domain = cfg["domain"]["name"]
region = cfg["stack"]["region"]
kw = {"endpoint_url": os.environ["AWS_ENDPOINT_URL"], "aws_access_key_id": "test", "aws_secret_access_key": "test"}


def request(r):
    acm = boto3.client("acm", region_name=r, **kw)
    return acm.request_certificate(DomainName=domain, ValidationMethod="DNS")["CertificateArn"]


alb, cloudfront = request(region), request("us-east-1")
text = re.sub(r'(?m)^alb_certificate_arn = ".*"$', f'alb_certificate_arn = "{alb}"', text)
text = re.sub(r'(?m)^cloudfront_certificate_arn = ".*"$', f'cloudfront_certificate_arn = "{cloudfront}"', text)
open(path, "w", encoding="utf-8").write(text)
print(alb)
print(cloudfront)

m = re.match(r"^\d{12}\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([^:@]+):(.+)$", cfg["image"]["uri"])
if m:
    ecr_region, repo, tag = m.groups()
    ecr = boto3.client("ecr", region_name=ecr_region, **kw)
    try:
        ecr.create_repository(repositoryName=repo, imageTagMutability="IMMUTABLE",
                              imageScanningConfiguration={"scanOnPush": True})
    except ecr.exceptions.RepositoryAlreadyExistsException:
        pass
    lifecycle = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ecr-lifecycle-policy.json")
    ecr.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=open(lifecycle, encoding="utf-8").read())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "config": {}, "layers": []}
    try:
        ecr.put_image(repositoryName=repo, imageManifest=json.dumps(manifest), imageTag=tag)
    except (ecr.exceptions.ImageAlreadyExistsException, ecr.exceptions.ImageTagAlreadyExistsException):
        pass
    print(cfg["image"]["uri"])
