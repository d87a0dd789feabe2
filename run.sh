#!/usr/bin/env bash
# Set everything up on a fresh machine and start the suite:
#   ./run.sh                 SQLite database var/db/dualrec.sqlite (default)
#   ./run.sh --postgresql    PostgreSQL on 127.0.0.1:5432 (or DB=postgresql)
#   ./run.sh --https         also over the LAN with https on port 8443 (the
#                            recorder needs https off localhost)
# A second run keeps the data and starts at once.  See README.md.
set -euo pipefail
source "$(dirname "$0")/scripts/lib.sh"

backend=${DB:-sqlite}
https=0
for arg in "$@"; do
    case "$arg" in
        --postgresql|--pg) backend=postgresql ;;
        --sqlite) backend=sqlite ;;
        --https) https=1 ;;
        -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
        *) die "unknown option '$arg'" ;;
    esac
done
DATABASE=${DATABASE:-dualrec}
PASSWORD=${DUALREC_ADMIN_PASSWORD:-dualrec2026}
export DUALREC_ADMIN_PASSWORD=$PASSWORD

setup_all
ensure_pii_key
ensure_media_keys
use_backend "$backend"
cd "$ROOT"
scheme=http
if [ "$https" = 1 ]; then
    # a self-signed certificate for this machine's names, made once
    [ -s var/tls/cert.pem ] || "$PY" scripts/make_cert.py --out var/tls \
        ${DUALREC_TLS_HOSTS:-}
    cat > var/tls.conf <<CONF
# Written by run.sh --https
[ssl]
certificate = $ROOT/var/tls/cert.pem
privatekey = $ROOT/var/tls/key.pem
[web]
listen = ${DUALREC_HTTPS_LISTEN:-0.0.0.0:8443}
CONF
    CONF+=("$ROOT/var/tls.conf")
    scheme=https
fi
"$PY" scripts/setup_db.py -c "${CONF[@]}" -d "$DATABASE" --demo

listen=$("$PY" - "${CONF[@]}" <<'PYEOF'
import sys
from trytond import config
config.update_etc(sys.argv[1:])
print(config.get('web', 'listen'))
PYEOF
)
cat <<MSG

  Dual recording suite on ${backend}, database "${DATABASE}"
  Web client:  ${scheme}://${listen}/   (use localhost: the login cookie needs it or https)
  Recorder:    ${scheme}://${listen}/dualrec/recorder?db=${DATABASE}

  Demo logins (password: ${PASSWORD})
    admin     超级管理员 / Tryton administrator
    sysadmin  系统管理员 / system administrator
    sales     业务员 / salesperson        (广州天河营业部)
    sales2    业务员 / salesperson        (深圳福田营业部)
    reviewer  审核员 / reviewer           (广州中心支公司)
    qc        质检员 / QC inspector       (广东分公司)
    manager   经理 / manager              (广东分公司)
    finance   财务 / finance              (广东分公司)
    orders    订单专员 / order center     (all branches)
    valueadd  增值服务专员 / value-added services (merchants, coupons)
    merchant1 商户核销员 / merchant staff (洁净汽车美容服务部)
    merchant2 商户核销员 / merchant staff (车之家汽车维修保养有限公司)
    insurer_api  保司出单系统 / insurer's policy system (鼎安财产保险, API)

MSG
# The server, the queue worker (the media pipeline never runs in a web
# request) and the scheduler of the ir.cron jobs run under a supervisor that
# restarts any of them that dies; Ctrl-C stops them all.  See README.md.
exec "$PY" scripts/supervise.py -c "${CONF[@]}" -d "$DATABASE" \
    -- ${TRYTOND_ARGS:-}
