#!/usr/bin/env bash
# Set-up and entry point on a fresh machine.
#   bash deploy/run.sh demo   install, start Kafka + PostgreSQL, run the demo
#   bash deploy/run.sh test   install, start Kafka + PostgreSQL, run the test suite
#   bash deploy/run.sh setup  install only
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"

log() { printf '\033[1m==> %s %s\033[0m\n' "$(date +%T)" "$*" >&2; }

system_packages() {
  local need=()
  command -v java >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)  # the JDK: tests run a Java client from source
  command -v mvn >/dev/null 2>&1 || need+=(maven)
  compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || need+=(postgresql)
  command -v kcat >/dev/null 2>&1 || need+=(kcat)
  command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
  command -v node >/dev/null 2>&1 || need+=(nodejs npm)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)  # docs page test (headless)
  if ((${#need[@]})); then
    if [ "$(id -u)" != 0 ]; then
      echo "missing system packages: ${need[*]} (install them, or run as root)" >&2; exit 1
    fi
    log "apt-get install ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
}

python_env() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
  fi
  # Reinstall only when the dependency list changed.
  local stamp="$VENV/.bizevents-deps" want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "pip install -e .[dev]"
    "$VENV/bin/pip" install -q --disable-pip-version-check -e ".[dev]"
    echo "$want" > "$stamp"
  fi
}

node_tools() {
  if [ -f tools/asyncapi/package.json ] && [ ! -d tools/asyncapi/node_modules ]; then
    log "npm ci (AsyncAPI parser)"
    (cd tools/asyncapi && npm ci --silent --no-audit --no-fund)
  fi
  if [ -f tools/deploy/package.json ] && [ ! -d tools/deploy/node_modules ]; then
    log "npm ci (deploy file schemas)"
    (cd tools/deploy && npm ci --silent --no-audit --no-fund)
  fi
}

java_tools() {
  # Apache Olingo's OData client, for the tests that check the OData service with it.
  if [ -f tools/odata-olingo/pom.xml ] && [ ! -d tools/odata-olingo/lib ] && command -v mvn >/dev/null 2>&1; then
    log "mvn dependency:copy-dependencies (Olingo OData client)"
    (cd tools/odata-olingo && mvn -q -B dependency:copy-dependencies -DoutputDirectory=lib)
  fi
}

setup() {
  system_packages
  python_env
  node_tools
  java_tools
}

services_up() {
  log "bizevents dev up"
  "$VENV/bin/bizevents" dev up
}

cmd=${1:-test}
shift || true
case "$cmd" in
  setup) setup ;;
  test)
    setup
    services_up >/dev/null
    log "pytest"
    exec "$VENV/bin/pytest" "$@"
    ;;
  demo)
    setup
    services_up >/dev/null
    log "demo"
    exec "$VENV/bin/python" examples/demo.py "$@"
    ;;
  *) echo "usage: $0 demo|test|setup" >&2; exit 2 ;;
esac
