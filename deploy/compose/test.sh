#!/usr/bin/env bash
# make compose-test: the offline stack for real. Builds every image, brings
# the stack up, runs the app's flows against the gateway's published port
# (services/devstack/e2e, TestCompose*), scales profile=3 auth=2 and checks
# every replica served requests, then `down -v`. Fails loudly; prints the
# services' logs on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
if docker compose version >/dev/null 2>&1; then dc=(docker compose); else dc=(docker-compose); fi
project=doss-compose-test
dc+=(-p "$project" -f docker-compose.yml -f deploy/compose/offline.yml -f deploy/compose/load.yml)
t0=$(date +%s)
secs() { echo $(( $(date +%s) - t0 ))s; }

# The bus needs credentials even in dev; an .env from before the ops bus
# user is made again (the stack is brought down with its volumes anyway).
if [ ! -s .env ] || ! grep -q '^DOSS_NKEY_OPS=' .env; then make -s bus-keys > .env; fi
# An .env from before the NATS cluster lacks only the route password; it
# comes from make bus-keys, whose passwords nats.conf reads back unchanged.
if ! grep -q '^DOSS_NATS_ROUTE_PASSWORD=' .env; then
  make -s bus-keys | grep '^DOSS_NATS_ROUTE_PASSWORD=' >> .env
fi
# The test's operator (e2e adminToken); the shell's value wins over .env.
export DOSS_ADMIN_TOKENS="alice:test-admin-token-0123456789abcdef0123"

down() {
  "${dc[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
  # The second gateway is a one-off (compose run) container.
  local left; left=$(docker ps -aq --filter "label=com.docker.compose.project=$project")
  if [ -n "$left" ]; then docker rm -f -v $left >/dev/null 2>&1 || true; fi
  "${dc[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
}
# Every container's whole log, kept after down (a CI artifact): the fault
# test names each failed request by its id, which the gateway logs.
keep_logs() {
  mkdir -p .build
  "${dc[@]}" logs --no-color --timestamps > .build/compose-test.log 2>&1 || true
  docker ps -aq --filter "label=com.docker.compose.project=$project" --filter "label=com.docker.compose.oneoff=True" |
    while read -r id; do docker logs --timestamps "$id" >> .build/compose-test.log 2>&1 || true; done
  echo "compose-test: the stack's logs are in .build/compose-test.log"
}
fail() {
  echo "compose-test: FAILED: $*" >&2
  keep_logs
  "${dc[@]}" ps >&2 || true
  "${dc[@]}" logs --no-color --tail=40 >&2 || true
  down
  exit 1
}
trap 'fail "interrupted or a command failed (line $LINENO)"' ERR INT TERM

make -s images
echo "compose-test: images built at $(secs)"
down
"${dc[@]}" up -d
# up -d returns once the gateway is created; healthy is the gateway's own check.
deadline=$(( $(date +%s) + 120 ))
until [ "$(curl -s -o /dev/null -w '%{http_code}' -m 2 http://127.0.0.1:8080/healthz || true)" = 200 ]; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "the gateway did not answer /healthz within 120 s"
  sleep 1
done
echo "compose-test: stack up at $(secs)"

export DOSS_COMPOSE_BASE=http://127.0.0.1:8080
export DOSS_COMPOSE_NATS_URL=nats://127.0.0.1:4222
DOSS_COMPOSE_OPS_SEED=$(sed -n 's/^DOSS_NATS_SEED_OPS=//p' .env)
export DOSS_COMPOSE_OPS_SEED
(cd services/devstack && go test -count=1 -v -run '^TestComposeFlows$' ./e2e/) || fail "the app's flows"
echo "compose-test: flows passed at $(secs)"

"${dc[@]}" up -d --no-recreate --scale profile=3 --scale auth=2
deadline=$(( $(date +%s) + 120 ))
until [ "$("${dc[@]}" ps | grep -E '_(profile|auth)_[0-9]+ ' | grep -c '(healthy)')" = 5 ]; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "the scaled replicas were not healthy within 120 s"
  sleep 1
done
(cd services/devstack && go test -count=1 -v -run '^TestComposeReplicasServe$' ./e2e/) || fail "replicas"
echo "compose-test: every replica served at $(secs)"

# Faults under load: two replicas of everything, and a second gateway (the
# published port allows one; a one-off container on the same network, which
# the test reaches by its address, as a load balancer would).
"${dc[@]}" up -d --no-recreate --scale profile=3 --scale auth=2 --scale documents=2 --scale notifier=2
"${dc[@]}" run -d --no-deps gateway >/dev/null
deadline=$(( $(date +%s) + 120 ))
until [ "$(docker ps --filter "label=com.docker.compose.project=$project" --filter health=healthy -q | wc -l)" -ge 17 ]; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "the fault test's replicas were not healthy within 120 s"
  sleep 1
done
export DOSS_COMPOSE_PROJECT=$project
(cd services/devstack && go test -count=1 -v -timeout 12m -run '^TestComposeClusterFaults$' ./e2e/) || fail "faults"
echo "compose-test: faults passed at $(secs)"

trap - ERR INT TERM
keep_logs
down
echo "compose-test: passed in $(secs)"
