#!/usr/bin/env python3
"""Request ACM certificates for a config's domain on the local emulator and
write their ARNs into the config (the ALB's in the stack region, CloudFront's
in us-east-1). The emulator checks that certificates exist, as AWS does.

Usage: emulator_certs.py CONFIG   (endpoint from AWS_ENDPOINT_URL)
"""
import os
import re
import sys
import tomllib

import boto3

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
