#!/usr/bin/env bash
# The image's HEALTHCHECK (docker run; ECS uses the task definition's own
# check of /moodlectl-health instead): the login page, asked with the site's
# Host header as CloudFront forwards it, must answer 200. Without that Host
# Moodle answers any path with a 303 to wwwroot — which curl would count as
# healthy on a site whose every page is a 500.
set -euo pipefail
code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
  -H "Host: ${MOODLE_DNS_NAME:?}" -H 'X-Forwarded-Proto: https' \
  "http://127.0.0.1:${HEALTHCHECK_PORT:-8080}/login/index.php" || true)"
if [[ "$code" != "200" ]]; then
  echo "login page answered HTTP ${code:-nothing}" >&2
  exit 1
fi
