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
ADMIN_NAME = "超级管理员"
# Names of Tryton's own records that its modules leave untranslated in zh_CN
# and a user of the suite meets: model, module, xml id, Chinese name.
ZH_CN_NAMES = [
    ('res.group', 'res', 'group_admin', "管理员"),
    ('ir.ui.menu', 'ir', 'menu_chat_channel_form', "会话频道"),
    ('ir.action.act_window', 'ir', 'act_chat_channel', "会话频道"),
    ('ir.action.wizard', 'ir', 'wizard_model_refresh_materialized',
        "刷新数据"),
    ('ir.action.wizard', 'product', 'wizard_product_replace', "替换"),
    ('ir.action.wizard', 'account_invoice', 'edocument', "电子单据"),
    ]


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


def connect(conf, database):
    from proteus import config as pconfig
    return pconfig.set_trytond(database, config_file=[
            str(Path(c).resolve()) for c in conf])


def finish(conf, database):
    """The steps of every run after the modules are up to date: the
    module-configuration wizard marked done (the suite is configured by this
    script, the administrator's first login must not open it) and the
    Chinese names Tryton's modules lack."""
    connect(conf, database)
    from proteus import Model
    Item = Model.get('ir.module.config_wizard.item')
    items = Item.find([('state', '!=', 'done')])
    for item in items:
        item.state = 'done'
    Item.save(items)
    ModelData = Model.get('ir.model.data')
    Module = Model.get('ir.module')
    activated = {m.name for m in Module.find([('state', '=', 'activated')])}
    Translation = Model.get('ir.translation')
    for model, module, fs_id, name in ZH_CN_NAMES:
        if module not in activated:
            continue
        record = Model.get(model)(ModelData.get_id(module, fs_id, {}))
        if model.startswith('ir.action.'):
            model, record = 'ir.action', record.action
        # records of XML data may not be written: their translation may
        translation = Translation.find([
                ('name', '=', f'{model},name'), ('res_id', '=', record.id),
                ('lang', '=', 'zh_CN'), ('type', '=', 'model')])
        if translation:
            translation, = translation
            if translation.value:
                continue
        else:
            translation = Translation(name=f'{model},name',
                res_id=record.id, lang='zh_CN', type='model',
                src=record.name, module=module)
        translation.value = name
        translation.save()
    # The administrator's name comes from trytond's XML data, which only
    # root may change (and a module update sets it back: this runs after).
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    with Transaction().start(database, 0) as transaction:
        User = Pool().get('res.user')
        admins = User.search([
                ('login', '=', 'admin'), ('name', '=', 'Administrator')])
        User.write(admins, {'name': ADMIN_NAME})
        transaction.commit()


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
        finish(args.config, args.database)
        if args.demo:
            from trytond.modules.dualrec_core import demo
            if not demo.loaded():
                print("==> loading the demo data", file=sys.stderr)
                demo.load(password=args.admin_password)
            # the order center's, on the demo company of dualrec_core
            from trytond.modules.dualrec_orders import demo as orders_demo
            if not orders_demo.loaded():
                print("==> loading the order center demo data",
                    file=sys.stderr)
                orders_demo.load(password=args.admin_password)
            # finance: the chart of accounts and statements of those orders
            from trytond.modules.dualrec_finance import demo as finance_demo
            if not finance_demo.loaded():
                print("==> loading the finance demo data", file=sys.stderr)
                finance_demo.load(password=args.admin_password)
            # value-added services: merchants, batches and their coupons
            from trytond.modules.dualrec_valueadd import demo as valueadd_demo
            if not valueadd_demo.loaded():
                print("==> loading the value-added services demo data",
                    file=sys.stderr)
                valueadd_demo.load(password=args.admin_password)
        stamp.write_text(current)
    elif stamp.read_text() != current:
        print(f"==> updating the modules of '{args.database}'",
            file=sys.stderr)
        admin(args.config, args.database, '--all')
        finish(args.config, args.database)
        stamp.write_text(current)


if __name__ == '__main__':
    main()
