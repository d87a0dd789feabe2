#!/usr/bin/env bash
# Set everything up as run.sh does, then run the whole test suite:
#   ./test.sh                    on SQLite (in memory)
#   DB=postgresql ./test.sh      on PostgreSQL at 127.0.0.1:5432
#   ./test.sh MODULE...          only these test modules (dotted names)
# Prints unittest's summary, then the slowest tests and the time per test
# module (scripts/run_tests.py); exits non-zero on any failure.
set -euo pipefail
shopt -s nullglob
source "$(dirname "$0")/scripts/lib.sh"

setup_all
ensure_browser
use_backend "${DB:-sqlite}"
cd "$ROOT"

# The test database caches are keyed by trytond on the module names only:
# key them by the content of the addons too, or a changed schema is missed.
hash=$("$PY" -c 'import sys; sys.path.insert(0, "scripts"); import setup_db; print(setup_db.addons_hash()[:12])')
export TRYTOND_CONFIG=
if [ "$BACKEND" = sqlite ]; then
    export TRYTOND_DATABASE_URI="sqlite://"
    export DB_NAME=":memory:"
    # DUALREC_DBCACHE_DIR: a cache of one's own (parallel work trees)
    cache_dir=${DUALREC_DBCACHE_DIR:-$ROOT/var/dbcache}
    export DB_CACHE="$cache_dir/sqlite-$hash"
    find "$cache_dir" -mindepth 1 -maxdepth 1 -name 'sqlite-*' \
        ! -name "sqlite-$hash" -exec rm -rf {} + 2>/dev/null || true
else
    export TRYTOND_DATABASE_URI=$("$PY" - "${CONF[@]}" <<'PYEOF'
import sys
from trytond import config
config.update_etc(sys.argv[1:])
print(config.get('database', 'uri'))
PYEOF
)
    export DB_NAME="test_dualrec_$$"
    # DUALREC_NO_DB_CACHE=1: no shared templates (parallel test runs)
    if [ "${DUALREC_NO_DB_CACHE:-0}" = 1 ]; then
        unset DB_CACHE
    else
        export DB_CACHE="postgresql://"
        "$PY" scripts/pg_cache.py "$TRYTOND_DATABASE_URI" --clean "$hash"
    fi
fi
# a filestore of this run's own: parallel runs must not remove each other's
# files (in-memory databases all have the name ":memory:")
export TRYTOND_DATABASE__PATH="$ROOT/var/testdb/run-$$"
trap 'rm -rf "$TRYTOND_DATABASE__PATH"' EXIT
mkdir -p "$TRYTOND_DATABASE__PATH" "$ROOT/test-artifacts"
export DUALREC_TEST_BACKEND=$BACKEND
# a key for the test databases only, never for real data
export DUALREC_PII_KEY=${DUALREC_TEST_PII_KEY:-$(printf '5eed%.0s' {1..16})}
export DUALREC_MEDIA_KEYS="ktest:$(printf 'a11e%.0s' {1..16})"
unset DUALREC_EVIDENCE_KEY_FILE DUALREC_MEDIA_KEY_ACTIVE
export DUALREC_EVIDENCE_KEY=dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=  # base64 of a 32-byte test seed

if [ $# -gt 0 ]; then
    tests=("$@")
else
    mapfile -t tests < <(
        for f in addons/dualrec_*/tests/test_*.py; do
            m=${f#addons/}; m=${m%.py}; echo "trytond.modules.${m//\//.}"
        done
        for f in src/dualrec/tests/test_*.py; do
            m=${f#src/}; m=${m%.py}; echo "${m//\//.}"
        done
        for f in tests/test_*.py; do m=${f%.py}; echo "${m//\//.}"; done)
fi
say "running ${#tests[@]} test modules on $BACKEND"
status=0
"$PY" scripts/run_tests.py "${tests[@]}" || status=$?
if [ "$BACKEND" = postgresql ]; then
    "$PY" scripts/pg_cache.py "$TRYTOND_DATABASE_URI" --drop "$DB_NAME" || true
    [ -z "${DB_CACHE:-}" ] || \
        "$PY" scripts/pg_cache.py "$TRYTOND_DATABASE_URI" --mark "$hash" || true
fi
exit $status
