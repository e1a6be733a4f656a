#!/bin/sh
# Print a .env for docker compose with fresh random secrets:  scripts/compose-env.sh > .env
# BROKERFLOW_SECRET_KEY encrypts stored credentials and workflow payloads: keep it, back it up, and give
# every worker and the codec server the same one (losing it makes stored credentials unreadable).
set -eu
python3 - <<'PY'
import base64
import secrets

print(f"BROKERFLOW_SECRET_KEY={base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}")
print(f"BROKERFLOW_CODEC_TOKEN={secrets.token_urlsafe(32)}")
print(f"BROKERFLOW_SIM_ADMIN_TOKEN={secrets.token_urlsafe(24)}")
PY
