#!/usr/bin/env bash
# Peak memory of `rampart serve` on an existing store, with the correlation engine warmed.
# Usage: tools/serve-rss.sh DATA_DIR [BINARY]
# Starts the server on 127.0.0.1:18080, mints a token, ingests one alert (which loads the
# correlation engine from the store), pages through 10,000 alerts 500 at a time, runs an
# entity + free-text query, opens the 50 newest incidents, then prints VmRSS and VmHWM.
set -euo pipefail
DIR=${1:?data directory}
BIN=${2:-./target/release/rampart}
URL=http://127.0.0.1:18080/api/v1
TOK=$("$BIN" token create --name serve-rss --role "Security administrator" --data-dir "$DIR")
"$BIN" serve --data-dir "$DIR" --listen 127.0.0.1:18080 >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf "$URL/health" >/dev/null && break; sleep 0.5; done
rss() { grep -E 'VmRSS|VmHWM' /proc/$PID/status | tr -s ' \t' ' ' | paste -sd' '; }
echo "started:        $(rss)"
H="Authorization: Bearer $TOK"
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
curl -sf -X POST "$URL/alerts" -H "$H" -H 'content-type: application/json' --data-binary @- >/dev/null <<JSON
{"providerAlertId":"serve-rss-$RANDOM$RANDOM","serviceSource":"microsoftDefenderForEndpoint",
 "detectionSource":"antivirus","title":"serve-rss probe","severity":"low",
 "firstActivityDateTime":"$NOW","lastActivityDateTime":"$NOW",
 "evidence":[{"@odata.type":"#microsoft.graph.security.deviceEvidence","deviceDnsName":"ws-001.corp.contoso.com"}]}
JSON
echo "engine warmed:  $(rss)"
CUR=""
for _ in $(seq 1 20); do
  R=$(curl -sf "$URL/alerts?pageSize=500&since=2000-01-01T00:00:00Z${CUR:+&cursor=$CUR}" -H "$H")
  CUR=$(printf '%s' "$R" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("nextCursor") or "")')
done
curl -sf -G "$URL/alerts" --data-urlencode 'q=severity>=medium entity.user:amir powershell' \
  --data-urlencode 'since=2000-01-01T00:00:00Z' --data-urlencode 'pageSize=500' -H "$H" >/dev/null
for id in $(curl -sf "$URL/incidents?pageSize=50" -H "$H" \
    | python3 -c 'import json,sys; print(" ".join(i["id"] for i in json.load(sys.stdin)["items"]))'); do
  curl -sf "$URL/incidents/$id" -H "$H" >/dev/null
done
echo "after queries:  $(rss)"
