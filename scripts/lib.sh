# Shared set-up of run.sh and test.sh: system packages, the Python virtual
# environment, the npm packages and the web root.  Each step does nothing
# when its inputs have not changed, so a second run starts at once.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# apt_ensure COMMAND... -- PACKAGE...: install the Debian packages when one of
# the commands is missing; only root can, anybody else is told what to install.
apt_ensure() {
    local cmds=() pkgs=() missing=0 seen=0
    for arg in "$@"; do
        if [ "$arg" = "--" ]; then seen=1; continue; fi
        if [ $seen = 0 ]; then cmds+=("$arg"); else pkgs+=("$arg"); fi
    done
    for c in "${cmds[@]}"; do
        command -v "$c" >/dev/null 2>&1 || [ -e "$c" ] || missing=1
    done
    [ $missing = 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        die "missing system packages: ${pkgs[*]} (install them with: sudo apt-get install ${pkgs[*]})"
    fi
    say "installing system packages: ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if [ -z "${_APT_UPDATED:-}" ]; then
        apt-get update -qq >/dev/null 2>&1 || true
        _APT_UPDATED=1
    fi
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null \
        || die "apt-get could not install ${pkgs[*]}"
}

ensure_system() {
    command -v python3 >/dev/null || apt_ensure python3 -- python3 python3-venv
    python3 -c 'import venv, ensurepip' 2>/dev/null \
        || apt_ensure /nonexistent -- python3-venv
    apt_ensure node npm -- nodejs npm
}

# Browser tests: Chromium, its driver and a CJK font (without one, Chinese
# labels render as empty boxes in the screenshots).
ensure_browser() {
    apt_ensure /usr/bin/chromium /usr/bin/chromedriver -- chromium chromium-driver
    apt_ensure /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc -- fonts-noto-cjk
}

stamp_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

ensure_venv() {
    [ -x "$PY" ] || { say "creating $VENV"; python3 -m venv "$VENV"; }
    local stamp; stamp=$(stamp_of "$ROOT/pyproject.toml")
    if [ "$(cat "$VENV/.dualrec-stamp" 2>/dev/null)" != "$stamp" ]; then
        say "installing Python dependencies (pyproject.toml)"
        "$PY" -m pip install -q --upgrade pip setuptools >/dev/null
        "$PY" -m pip install -q -e "$ROOT[test]" \
            || die "pip could not install the Python dependencies"
        echo "$stamp" > "$VENV/.dualrec-stamp"
    fi
}

ensure_npm() {
    local stamp; stamp=$(stamp_of "$ROOT/package.json" "$ROOT/package-lock.json")
    if [ "$(cat "$ROOT/node_modules/.dualrec-stamp" 2>/dev/null)" != "$stamp" ]; then
        say "installing npm packages (package-lock.json)"
        (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) \
            || die "npm could not install the web packages"
        echo "$stamp" > "$ROOT/node_modules/.dualrec-stamp"
    fi
}

# sao's index.html loads node_modules/<dep>/… next to itself, but npm hoists
# its dependencies to our top-level node_modules: assemble a web root of links.
build_www() {
    local www="$ROOT/var/www" sao="$ROOT/node_modules/tryton-sao"
    mkdir -p "$www"
    for entry in index.html dist images locale sounds; do
        ln -sfn "$sao/$entry" "$www/$entry"
    done
    ln -sfn "$ROOT/node_modules" "$www/node_modules"
}

# The key that encrypts personal data at rest comes from the environment,
# never from the database.  The development default lives in var/secrets
# (created once, readable by its owner only); production sets DUALREC_PII_KEY.
ensure_pii_key() {
    if [ -z "${DUALREC_PII_KEY:-}" ]; then
        local file="$ROOT/var/secrets/pii.key"
        if [ ! -s "$file" ]; then
            mkdir -p "$ROOT/var/secrets" && chmod 700 "$ROOT/var/secrets"
            (umask 077 && "$PY" -c 'import secrets; print(secrets.token_hex(32))' > "$file")
        fi
        DUALREC_PII_KEY=$(cat "$file")
    fi
    export DUALREC_PII_KEY
}

# Likewise the media master keys ("id:key", see envelope.py) and the
# institution's key that signs the evidence manifests.
ensure_media_keys() {
    mkdir -p "$ROOT/var/secrets" && chmod 700 "$ROOT/var/secrets"
    if [ -z "${DUALREC_MEDIA_KEYS:-}" ]; then
        local file="$ROOT/var/secrets/media.keys"
        if [ ! -s "$file" ]; then
            (umask 077 && "$PY" -c 'import secrets, datetime; print(f"k{datetime.date.today():%Y%m}:" + secrets.token_hex(32))' > "$file")
        fi
        DUALREC_MEDIA_KEYS=$(cat "$file")
    fi
    export DUALREC_MEDIA_KEYS
    if [ -z "${DUALREC_EVIDENCE_KEY:-}${DUALREC_EVIDENCE_KEY_FILE:-}" ]; then
        local pem="$ROOT/var/secrets/evidence.pem"
        if [ ! -s "$pem" ]; then
            "$PY" "$ROOT/src/dualrec/crypto/evidence.py" keygen "$pem" >/dev/null
        fi
        export DUALREC_EVIDENCE_KEY_FILE=$pem
    fi
}

setup_all() {
    ensure_system
    ensure_venv
    ensure_npm
    build_www
}

# use_backend sqlite|postgresql: choose the configuration files of the backend;
# sets CONF (the files, later ones win) and BACKEND.  trytond.conf names its
# paths relative to the repository; SQLite needs them absolute, so they are
# pinned in var/paths.conf, read last.
use_backend() {
    case "$1" in
        sqlite) BACKEND=sqlite; CONF=("$ROOT/trytond.conf") ;;
        postgresql|postgres|pg)
            BACKEND=postgresql
            CONF=("$ROOT/trytond.conf" "$ROOT/trytond-postgresql.conf") ;;
        *) die "unknown database backend '$1' (use sqlite or postgresql)" ;;
    esac
    mkdir -p "$ROOT/var/db"
    # written aside then moved: runs side by side read it meanwhile
    local paths="$ROOT/var/paths.conf.$$"
    cat > "$paths" <<CONF
# Written by scripts/lib.sh: the paths of trytond.conf made absolute.
[database]
path = $ROOT/var/db
[web]
root = $ROOT/var/www
CONF
    mv -f "$paths" "$ROOT/var/paths.conf"
    CONF+=("$ROOT/var/paths.conf")
}
