#!/usr/bin/env bash
# Build the Moodle image in image/, push it to an ECR repository
# <stack>-moodle, and print the URI to put in moodle.toml as image.uri.
# The repository is created if missing with: scan on push, immutable tags
# (an image.uri always means the same image; tags default to a timestamp),
# and the lifecycle policy in scripts/ecr-lifecycle-policy.json (untagged
# images after 7 days, the 30 most recent kept) — set on an existing one too.
#
# Usage: scripts/publish-image.sh [-s STACK] [-r REGION] [-t TAG] [--mutable]
# Needs: docker (with a running engine) and the AWS CLI v2, with credentials.
set -euo pipefail
cd "$(dirname "$0")/.."

stack="moodle"
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
tag="$(date -u +%Y%m%d%H%M%S)"
mutability="IMMUTABLE"
while (($#)); do
  case "$1" in
    -s | --stack) stack="$2"; shift 2 ;;
    -r | --region) region="$2"; shift 2 ;;
    -t | --tag) tag="$2"; shift 2 ;;
    --mutable) mutability="MUTABLE"; shift ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

missing=0
if ! command -v docker >/dev/null 2>&1; then
  echo "docker not found: install Docker Engine (https://docs.docker.com/engine/install/)" >&2
  missing=1
elif ! docker info >/dev/null 2>&1; then
  echo "docker is installed but no engine answers: start the Docker daemon (or Docker Desktop)" >&2
  missing=1
fi
if ! command -v aws >/dev/null 2>&1; then
  echo "aws not found: install the AWS CLI v2 (https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html)" >&2
  missing=1
fi
if [[ -z "$region" ]]; then
  echo "no region: pass -r REGION or set AWS_REGION" >&2
  missing=1
fi
((missing == 0)) || exit 2

repo="${stack}-moodle"
account="$(aws sts get-caller-identity --query Account --output text)"
registry="${account}.dkr.ecr.${region}.amazonaws.com"
uri="${registry}/${repo}:${tag}"

if ! aws ecr describe-repositories --region "$region" --repository-names "$repo" >/dev/null 2>&1; then
  echo "creating ECR repository $repo" >&2
  aws ecr create-repository --region "$region" --repository-name "$repo" \
    --image-scanning-configuration scanOnPush=true --image-tag-mutability "$mutability" \
    --tags Key=moodlectl:stack,Value="$stack" >/dev/null
fi
aws ecr put-lifecycle-policy --region "$region" --repository-name "$repo" \
  --lifecycle-policy-text file://scripts/ecr-lifecycle-policy.json >/dev/null

docker build --pull -t "$uri" image/
aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$registry" >/dev/null
docker push "$uri" >&2

echo "put this in moodle.toml:" >&2
echo "[image]"
echo "uri = \"$uri\""
