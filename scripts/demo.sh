#!/usr/bin/env bash
# The main job on a fresh machine: build moodlectl, start a local AWS emulator,
# then `up` → `status` → `down` the stack from moodle.toml, listing what was
# made with an independent client (boto3) after `up` and after `down`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/moodlectl-target}"
scripts/setup-emulator.sh
echo "== building moodlectl (first build of the AWS SDK takes ~8 minutes)" >&2
cargo build --quiet
bin="$CARGO_TARGET_DIR/debug/moodlectl"

work="$(mktemp -d)"
pidfile="$work/moto.pid"
cleanup() { [[ -f "$pidfile" ]] && kill "$(cat "$pidfile")" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
eval "$(scripts/emulator.sh "$pidfile")"
export AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=ap-southeast-1
unset AWS_PROFILE
cp moodle.toml "$work/moodle.toml"
# The emulator, like AWS, checks the certificates exist: request them there, and push the image.
.venv/bin/python scripts/emulator_prereqs.py "$work/moodle.toml" >/dev/null
echo "== emulator at $AWS_ENDPOINT_URL; working in $work" >&2

echo "== moodlectl cost --compare small (the emulator has no Price List: the embedded table, dated)" >&2
"$bin" --config "$work/moodle.toml" cost --compare small

echo "== moodlectl up" >&2
"$bin" --config "$work/moodle.toml" up --yes
# AWS e-mails the alert address a confirmation link, and `status` reports the
# subscription pending until it is clicked: here the emulator stands in for the click.
echo "== confirming the alert e-mail subscriptions (the links AWS would e-mail)" >&2
.venv/bin/python - <<'CONFIRM'
import boto3
import os
for region in (os.environ["AWS_REGION"], "us-east-1"):  # CloudFront's alarm topic lives in us-east-1
    sns = boto3.client("sns", region_name=region)
    for t in sns.list_topics()["Topics"]:
        sns.confirm_subscription(TopicArn=t["TopicArn"], Token="emulator")
CONFIRM
echo "== moodlectl status" >&2
"$bin" --config "$work/moodle.toml" status
echo "== the state file: $work/.moodlectl/moodle.json (IDs and ARNs, never a secret)" >&2
echo "== what exists now, seen by boto3 (independent of moodlectl)" >&2
.venv/bin/python scripts/census.py --expect full moodle
echo "== moodlectl down" >&2
"$bin" --config "$work/moodle.toml" down --yes
echo "== what is left, seen by boto3" >&2
.venv/bin/python scripts/census.py moodle
cat >&2 <<'NEXT'
== done. Next, against the emulator (scripts/emulator.sh prints its settings) or your AWS account:
  moodlectl plan -v                    # every step and what it would change, and the cost
  moodlectl cost --compare small       # the monthly estimate beside the small profile
  moodlectl up && moodlectl outputs    # the site URL, the DNS record to create, the admin secret
  moodlectl status -o json             # health and drift for a pipeline (exit 4 = degraded)
See README.md, "Using it against a real AWS account".
NEXT
