#!/usr/bin/env python3
# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Create, or bring up to date, a database with every dualrec module.

The first run creates the database, activates the six modules with their
dependencies, loads Chinese and English and, with --demo, the demo data.
Later runs only update the modules when the addons changed since the last
run (a stamp next to the database records their hash), so they take no time.
"""
import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = [
    'dualrec_core', 'dualrec_review', 'dualrec_orders', 'dualrec_finance',
    'dualrec_valueadd', 'dualrec_risk']
LANGUAGES = ['zh_CN']


def addons_hash():
    digest = hashlib.sha256()
    for path in sorted((ROOT / 'addons').rglob('*')):
        if path.is_file() and '__pycache__' not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def database_exists(uri, path, name):
    if uri.startswith('sqlite'):
        return (Path(path) / f'{name}.sqlite').exists()
    import psycopg
    with psycopg.connect(uri.rstrip('/') + '/postgres', autocommit=True) as conn:
        return bool(conn.execute(
                'SELECT 1 FROM pg_database WHERE datname = %s',
                (name,)).fetchone())


def create_database(uri, path, name):
    if uri.startswith('sqlite'):
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / f'{name}.sqlite').touch()
        return
    import psycopg
    from psycopg import sql
    with psycopg.connect(uri.rstrip('/') + '/postgres', autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' "
                "TEMPLATE template0").format(sql.Identifier(name)))


def admin(conf, database, *args, password=None):
    command = [str(Path(sys.executable).parent / 'trytond-admin'),
        '-c', *conf, '-d', database, *args]
    env = dict(os.environ)
    with tempfile.NamedTemporaryFile('w', suffix='.pass') as passfile:
        if password:
            passfile.write(password + '\n')
            passfile.flush()
            env['TRYTONPASSFILE'] = passfile.name
        subprocess.run(command, check=True, env=env, cwd=ROOT)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('-c', '--config', nargs='+', required=True)
    parser.add_argument('-d', '--database', required=True)
    parser.add_argument('--demo', action='store_true',
        help="load the demo data when the database is created")
    parser.add_argument('--admin-password',
        default=os.environ.get('DUALREC_ADMIN_PASSWORD', 'dualrec2026'))
    args = parser.parse_args()

    from trytond import config
    config.update_etc([str(Path(c).resolve()) for c in args.config])
    uri = config.get('database', 'uri')
    path = str((ROOT / config.get('database', 'path')).resolve())
    backend = 'sqlite' if uri.startswith('sqlite') else 'postgresql'
    Path(path).mkdir(parents=True, exist_ok=True)
    stamp = Path(path) / f'{args.database}.{backend}.stamp'
    current = addons_hash()

    if not database_exists(uri, path, args.database):
        stamp.unlink(missing_ok=True)
    if not stamp.exists():
        # Also resumes a creation that was cut off: every step is idempotent.
        print(f"==> creating database '{args.database}' ({backend})",
            file=sys.stderr)
        if not database_exists(uri, path, args.database):
            create_database(uri, path, args.database)
        admin(args.config, args.database, '-u', *MODULES,
            '--activate-dependencies', '-l', *LANGUAGES,
            '--email', 'admin@example.com', password=args.admin_password)
        if args.demo:
            from proteus import config as pconfig
            pconfig.set_trytond(args.database, config_file=[
                    str(Path(c).resolve()) for c in args.config])
            from trytond.modules.dualrec_core import demo
            if not demo.loaded():
                print("==> loading the demo data", file=sys.stderr)
                demo.load(password=args.admin_password)
        stamp.write_text(current)
    elif stamp.read_text() != current:
        print(f"==> updating the modules of '{args.database}'",
            file=sys.stderr)
        admin(args.config, args.database, '--all')
        stamp.write_text(current)


if __name__ == '__main__':
    main()
