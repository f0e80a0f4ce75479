#!/usr/bin/env bash
# First start of the compose federation, step by step as an operator does it by hand:
# authority keys -> each city's config, keys and signed join request -> admission ->
# a signed directory -> everything up. Run once from anywhere; later `docker compose up -d`.
set -euo pipefail
cd "$(dirname "$0")/.."   # deploy/
: "${RENKEI_PG_PASSWORD:?export RENKEI_PG_PASSWORD first (PostgreSQL is created with it)}"
compose() { docker compose -f compose.yaml "$@"; }
once() { compose run --rm --no-deps -T "$@"; }
AUTHORITY_DIR=/var/lib/renkei/authority
CONFIG=/etc/renkei/renkei.toml

mkdir -p compose/config
compose build

# 1. The authority: signing key and TLS certificate (named "authority", which nodes expect).
once authority authority init --dir "$AUTHORITY_DIR" --host authority
fingerprint=$(once --entrypoint python authority -c \
  "from broker.authority_server import authority_fingerprint as f; print(f('$AUTHORITY_DIR'))")
once --entrypoint cat authority "$AUTHORITY_DIR/authority.jwk.json" > compose/config/authority.jwk.json

# 2. Each city pins the authority, creates its identity and asks to join; the authority admits.
for city in nanao takamatsu; do
  sed "s|@AUTHORITY_TLS_FINGERPRINT@|$fingerprint|" "compose/$city.toml" > "compose/config/$city.toml"
  once "$city" node init --config "$CONFIG" --host "$city" > /dev/null
  request=$(once "$city" node join-request --config "$CONFIG" --endpoint "$city:50051")
  once authority authority admit --dir "$AUTHORITY_DIR" "$request"
done

# 3. Publish the signed directory, then start everything.
once authority authority publish --dir "$AUTHORITY_DIR"
compose up -d
compose ps
