#!/usr/bin/env bash
# Scenario W of the real-plugin test bed (../shared/testbed/): the unmodified tool_vault's Vault page
# against this checkout's web app (issue 14). Needs a test bed made by its build.sh.
#   WORK=/tmp/mh API_PORT=8799 TESTBED=../shared/testbed scripts/testbed-vault-page.sh [checkout]
# Serves site src (snapshot "installed") with `php -S localhost:80`, starts `npm start` of the checkout,
# sets tool_vault apiurl + frontendurl to it (no API key), and runs scripts/testbed-vault-page.ts.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TESTBED=${TESTBED:-$HERE/../../shared/testbed}
. "$TESTBED/lib.sh"
PRODUCT=$(cd "${1:-$HERE/..}" && pwd)
API_PORT=${API_PORT:-8799}
RUN=${RESULTS:-$WORK/results/web-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RUN"
API_URL=http://127.0.0.1:$API_PORT
start_pg
curl -s -o /dev/null "$API_URL/health" && tb_die "something already listens on $API_URL"
cd "$PRODUCT" || exit 1
# setsid: npm (pid = $!) leads its own process group, which cleanup ends as a whole
VAULT_DATA_DIR="$RUN/vault-data" PORT=$API_PORT setsid npm start >"$RUN/api.log" 2>&1 </dev/null &
API_PGID=$!
cd - >/dev/null || exit 1
PHP_PID=
cleanup() {
  kill -TERM -- -"$API_PGID" 2>/dev/null
  [ -n "$PHP_PID" ] && kill -TERM -- -"$PHP_PID" 2>/dev/null
  sleep 1; kill -KILL -- -"$API_PGID" 2>/dev/null; true
}
trap cleanup EXIT
site_reset src installed >"$RUN/reset.log" 2>&1
site_allow_local src
site_sql src "DELETE FROM mdl_tool_vault_config WHERE name IN ('apiurl','apikey','frontendurl')" >/dev/null
site_sql src "INSERT INTO mdl_tool_vault_config (name, value) VALUES ('apiurl', '$API_URL'), ('frontendurl', '$API_URL')" >/dev/null
PHP_CLI_SERVER_WORKERS=4 setsid php -S localhost:80 -t "$WORK/src" >"$RUN/php.log" 2>&1 </dev/null &
PHP_PID=$!
for _ in $(seq 1 120); do curl -fsS "$API_URL/health" >/dev/null 2>&1 && curl -fsS -o /dev/null http://localhost/moodle/login/index.php && break; sleep 1; done
tb_log "API $API_URL, Moodle http://localhost/moodle (php -S), results $RUN"
cd "$PRODUCT" && MOODLE_URL=http://localhost/moodle FRONTEND_URL=$API_URL MAIL_DIR="$RUN/vault-data/mail" ADMIN_PASS=${ADMIN_PASS:-Admin-1-pass} OUT_DIR="$RUN" npx tsx scripts/testbed-vault-page.ts
