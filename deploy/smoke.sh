#!/usr/bin/env bash
# deploy/smoke.sh: build the Renkei image without any container registry and run a federation
# in it for real, on the host network (no other addresses):
#
#   1. base image: Debian bookworm (python3 3.11) by debootstrap, `docker import`ed
#   2. the image: deploy/Dockerfile with the legacy builder (no BuildKit, no registry)
#   3. `renkei demo` inside it
#   4. the federation: the authority, city jp-172022 (two replicas on the host's PostgreSQL,
#      ingesting the bundled Nanao sample), city jp-372013 (SQLite) as consumer; one agreement
#      proposed and countersigned with the CLI; one federated NGSI-LD query; replica A killed
#      (SIGKILL): replica B still serves, the consumer names the provider it could not reach;
#      A restarted: the federated query answers again.
#
# Needs: a Docker engine (Debian's docker.io: `dockerd --bridge=none --iptables=false` is
# enough, everything uses --network host), debootstrap and curl when the base image is
# missing, and PostgreSQL reachable from the host (RENKEI_SMOKE_PG_DSN, default
# postgresql://postgres@127.0.0.1:5432/test; the script creates and drops its own schema).
# Exit status 0 only when every check passed. Containers and data are removed at the end
# (RENKEI_SMOKE_KEEP=1 keeps them).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${RENKEI_SMOKE_IMAGE:-renkei:smoke}
BASE=${RENKEI_SMOKE_BASE:-renkei-base:bookworm}
MIRROR=${RENKEI_SMOKE_MIRROR:-http://deb.debian.org/debian}
HOST_CA=${RENKEI_SMOKE_CA:-/etc/ssl/certs/ca-certificates.crt}
PG_DSN=${RENKEI_SMOKE_PG_DSN:-postgresql://postgres@127.0.0.1:5432/test}
TAG="smoke$$"
SCHEMA="renkei_${TAG}"
WORK=$(mktemp -d "/tmp/renkei-${TAG}.XXXX")
PROVIDER=jp-172022   # Nanao
CONSUMER=jp-372013   # Takamatsu
PURPOSE=disaster_response
CONTAINERS=()

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'SMOKE FAILED: %s\n' "$*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# A one-shot command in the image, as the image's user, the work directory mounted at /w.
renkei() { docker run --rm --network host --user 10001:10001 -v "$WORK:/w" "$IMAGE" "$@"; }
image_python() { docker run --rm --network host --user 10001:10001 -v "$WORK:/w" --entrypoint python "$IMAGE" "$@"; }
# A long-running container; its name is remembered for the cleanup.
start() {
  local name="renkei-${TAG}-$1"; shift
  docker run -d --name "$name" --network host --user 10001:10001 -v "$WORK:/w" "$IMAGE" "$@" > /dev/null
  CONTAINERS+=("$name")
  echo "started $name: renkei $*"
}
cleanup() {
  local status=$?
  if [ "${RENKEI_SMOKE_KEEP:-0}" = 1 ]; then echo "kept: ${CONTAINERS[*]} $WORK"; exit $status; fi
  for c in "${CONTAINERS[@]}"; do
    if [ $status -ne 0 ]; then echo "--- logs of $c"; docker logs --tail 30 "$c" 2>&1 || true; fi
    docker rm -f "$c" > /dev/null 2>&1 || true
  done
  image_python -c "import asyncio, asyncpg
async def drop():
    c = await asyncpg.connect('$PG_DSN'); await c.execute('DROP SCHEMA IF EXISTS $SCHEMA CASCADE'); await c.close()
asyncio.run(drop())" > /dev/null 2>&1 || true
  rm -rf "$WORK"
  exit $status
}
trap cleanup EXIT

# wait_http URL [SECONDS]: until URL answers 200.
wait_http() {
  for _ in $(seq 1 "${2:-60}"); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 1
  done
  fail "$1 did not answer 200"
}

docker version --format 'Docker engine {{.Server.Version}}' || fail "no Docker engine running"

# -- 1. base image ---------------------------------------------------------------------------
if docker image inspect "$BASE" > /dev/null 2>&1; then
  step "base image $BASE exists"
else
  step "base image $BASE: debootstrap bookworm from $MIRROR, docker import"
  rootfs="$WORK/rootfs"
  debootstrap --variant=minbase \
    --include=python3,python3-venv,python-is-python3,ca-certificates \
    bookworm "$rootfs" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log"; fail "debootstrap"; }
  rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*
  # The image trusts what this host trusts (a site's TLS-inspecting proxy to PyPI included):
  # the host's bundle is Debian's plus the site's own authorities.
  if [ -f "$HOST_CA" ]; then cp "$HOST_CA" "$rootfs/etc/ssl/certs/ca-certificates.crt"; fi
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV LANG=C.UTF-8' - "$BASE"
  rm -rf "$rootfs"
fi
docker run --rm "$BASE" python3 --version

# -- 2. the image ----------------------------------------------------------------------------
step "build $IMAGE: legacy builder, FROM $BASE, pip over the host network"
DOCKER_BUILDKIT=0 docker build --network host -q \
  --build-arg PYTHON_IMAGE="$BASE" --build-arg BUILD_PACKAGES= \
  -f deploy/Dockerfile -t "$IMAGE" .
docker image ls "$IMAGE" --format '{{.Repository}}:{{.Tag}} {{.Size}}'
renkei --help > /dev/null

# -- 3. renkei demo in the image --------------------------------------------------------------
step "renkei demo (in the image)"
docker run --rm --network host "$IMAGE" demo > "$WORK/demo.log" 2>&1 \
  || { tail -30 "$WORK/demo.log"; fail "renkei demo"; }
tail -n 12 "$WORK/demo.log"

# -- 4. the federation -----------------------------------------------------------------------
step "federation: authority, $PROVIDER (PostgreSQL schema $SCHEMA, 2 replicas), $CONSUMER (SQLite)"
mkdir -p "$WORK/authority" "$WORK/$PROVIDER" "$WORK/$CONSUMER"
cp mappings/rulesets/nanao_evacuation_sites/sample/evacuation_sites.csv "$WORK/$PROVIDER/sites.csv"
chown -R 10001:10001 "$WORK"
AUTH_PORT=$(free_port)
P_GRPC=$(free_port); P_HTTP=$(free_port); P_GRPC_B=$(free_port); P_HTTP_B=$(free_port)
C_GRPC=$(free_port); C_HTTP=$(free_port)

renkei authority init --dir /w/authority --host 127.0.0.1 > /dev/null
FINGERPRINT=$(image_python -c "from broker.authority_server import authority_fingerprint as f; print(f('/w/authority'))")
start authority authority serve --dir /w/authority --listen "127.0.0.1:$AUTH_PORT"

node_config() {  # id role grpc http store-toml
  cat > "$WORK/$1/renkei.toml" <<EOF
[node]
id = "$1"
role = "$2"
name_ja = "$1"
name_en = "$1"
data_dir = "/w/$1"

[grpc]
listen = "127.0.0.1:$3"

[http]
listen = "127.0.0.1:$4"

[trust]
authority_jwk = "/w/authority/authority.jwk.json"
authority_endpoint = "127.0.0.1:$AUTH_PORT"
authority_tls_fingerprint = "$FINGERPRINT"
directory_poll_seconds = 5

$5
EOF
}
node_config "$PROVIDER" city "$P_GRPC" "$P_HTTP" "[store]
backend = \"postgresql\"
dsn = \"$PG_DSN\"
schema = \"$SCHEMA\"

[[sources]]
name = \"evacuation_sites\"
rules = \"bundled:nanao_evacuation_sites\"
path = \"/w/$PROVIDER/sites.csv\""
node_config "$CONSUMER" city "$C_GRPC" "$C_HTTP" ""
chown -R 10001:10001 "$WORK"

renkei rules check --config "/w/$PROVIDER/renkei.toml"
for node in "$PROVIDER:$P_GRPC" "$CONSUMER:$C_GRPC"; do
  id=${node%%:*}; port=${node##*:}
  renkei node init --config "/w/$id/renkei.toml" > /dev/null
  request=$(renkei node join-request --config "/w/$id/renkei.toml" --endpoint "127.0.0.1:$port")
  renkei authority admit --dir /w/authority "$request"
done
renkei authority publish --dir /w/authority

start "$PROVIDER-a" node run --config "/w/$PROVIDER/renkei.toml"
wait_http "http://127.0.0.1:$P_HTTP/health"
start "$PROVIDER-b" node run --config "/w/$PROVIDER/renkei.toml" --no-ingest \
  --grpc-listen "127.0.0.1:$P_GRPC_B" --http-listen "127.0.0.1:$P_HTTP_B"
start "$CONSUMER" node run --config "/w/$CONSUMER/renkei.toml"
wait_http "http://127.0.0.1:$P_HTTP_B/health"
wait_http "http://127.0.0.1:$C_HTTP/health"
for _ in $(seq 1 60); do
  if curl -fsS "http://127.0.0.1:$P_HTTP/health" | grep -q '"state":"ok"'; then break; fi
  sleep 1
done
curl -fsS "http://127.0.0.1:$P_HTTP/health"; echo

step "agreement: $CONSUMER proposes, $PROVIDER countersigns (the CLI beside the running nodes)"
renkei agreement propose --config "/w/$CONSUMER/renkei.toml" --provider "$PROVIDER" \
  --purpose "$PURPOSE" --type "EvacuationSite:name,capacity,location" --id agr-smoke
renkei agreement sign agr-smoke --config "/w/$PROVIDER/renkei.toml"

step "federated NGSI-LD query at $CONSUMER"
client() {  # node http-port -> bearer token
  local out id secret
  out=$(renkei client add "smoke-$1" --purpose "$PURPOSE" --config "/w/$1/renkei.toml")
  id=$(echo "$out" | awk '/^client_id:/ {print $2}')
  secret=$(echo "$out" | awk '/^client_secret:/ {print $2}')
  curl -fsS -u "$id:$secret" -d grant_type=client_credentials "http://127.0.0.1:$2/oauth2/token" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}
CONTEXT=$(image_python -c "from mappings.contexts import RENKEI_CONTEXT_URL as u; print(f'<{u}>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\"')")
C_TOKEN=$(client "$CONSUMER" "$C_HTTP")
query() {  # port token [local] -> prints "status count warnings"
  curl -sS -o "$WORK/body.json" -D "$WORK/headers.txt" -w '%{http_code}' \
    -H "Authorization: Bearer $2" -H "Link: $CONTEXT" \
    "http://127.0.0.1:$1/ngsi-ld/v1/entities?type=EvacuationSite&limit=1000${3:-}" > "$WORK/status"
  printf '%s %s %s\n' "$(cat "$WORK/status")" \
    "$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/body.json")" \
    "$(grep -i '^NGSILD-Warning' "$WORK/headers.txt" | tr -d '\r' | tr '\n' ' ')"
}
EXPECTED=""
for _ in $(seq 1 30); do  # the running nodes pick up the new agreement within seconds
  read -r status count warnings < <(query "$C_HTTP" "$C_TOKEN")
  if [ "$status" = 200 ] && [ "$count" -gt 0 ]; then EXPECTED=$count; break; fi
  sleep 1
done
[ -n "$EXPECTED" ] || fail "the federated query never returned the provider's entities ($status $count $warnings)"
echo "federated query at $CONSUMER: HTTP $status, $count entities from $PROVIDER"

step "kill -9 replica A of $PROVIDER"
docker kill --signal KILL "renkei-${TAG}-$PROVIDER-a" > /dev/null
P_TOKEN=$(client "$PROVIDER" "$P_HTTP_B")
read -r status count warnings < <(query "$P_HTTP_B" "$P_TOKEN" "&local=true")
[ "$status" = 200 ] && [ "$count" = "$EXPECTED" ] || fail "replica B: $status $count"
echo "replica B of $PROVIDER (same PostgreSQL): HTTP $status, $count entities"
read -r status count warnings < <(query "$C_HTTP" "$C_TOKEN")
echo "federated query at $CONSUMER while A is down: HTTP $status, $count entities; $warnings"
[ "$count" = 0 ] && [ -n "$warnings" ] || fail "the consumer did not say $PROVIDER was unreachable"

step "restart replica A"
docker start "renkei-${TAG}-$PROVIDER-a" > /dev/null
wait_http "http://127.0.0.1:$P_HTTP/health"
for _ in $(seq 1 60); do
  read -r status count warnings < <(query "$C_HTTP" "$C_TOKEN")
  if [ "$count" = "$EXPECTED" ]; then break; fi
  sleep 1
done
[ "$count" = "$EXPECTED" ] || fail "after the restart: $status $count $warnings"
echo "federated query at $CONSUMER after the restart: HTTP $status, $count entities"
docker logs "renkei-${TAG}-$PROVIDER-b" 2>&1 | grep -m 3 'renkei.access' || true

step "SMOKE PASSED"
