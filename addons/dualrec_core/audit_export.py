# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Seal the audit log and export it with its signed checkpoints as JSON.

    python -m trytond.modules.dualrec_core.audit_export -c trytond.conf \\
        -d DATABASE -o audit.json [--public-key public.pem]

The export is checked offline, without trytond, by
``python -m dualrec.crypto.checkpoint audit.json --key public.pem``; keep
the public key (and the last checkpoint of each export) apart from the
database.
"""
import argparse
import json
import os
import sys


def parse_arguments(args=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-c', '--config', dest='configfile', nargs='+',
        default=[], help="the trytond configuration files")
    parser.add_argument('-d', '--database', dest='database', required=True)
    parser.add_argument('-o', '--output', required=True,
        help="the JSON file to write ('-' for the standard output)")
    parser.add_argument('--public-key',
        help="also write the institution's public key (PEM) there")
    return parser.parse_args(args)


def export(options):
    from trytond import config
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    config.update_etc(options.configfile)
    Pool.start()
    pool = Pool(options.database)
    with Transaction().start(options.database, 0, readonly=True):
        pool.init()
    with Transaction().start(options.database, 0) as transaction:
        AuditLog = pool.get('dualrec.audit.log')
        AuditLog.seal()
        data = AuditLog.export()
        transaction.commit()
    text = json.dumps(data, ensure_ascii=False, indent=1)
    if options.output == '-':
        sys.stdout.write(text + '\n')
    else:
        with open(options.output, 'w', encoding='utf-8') as file:
            file.write(text + '\n')
    if options.public_key and data['public_key']:
        with open(options.public_key, 'w', encoding='ascii') as file:
            file.write(data['public_key'])
    return data


def _reexec_for_backend(options, args):
    "Start again with the database URI of the configuration (see worker)."
    from urllib.parse import urlparse

    from trytond import backend, config
    config.update_etc(options.configfile)
    uri = config.get('database', 'uri', default='')
    if (backend.name != urlparse(uri).scheme
            and os.environ.get('TRYTOND_DATABASE_URI') != uri):
        os.environ['TRYTOND_DATABASE_URI'] = uri
        os.execv(sys.executable, [sys.executable, '-m', __spec__.name,
                *(sys.argv[1:] if args is None else args)])


def main(args=None):
    options = parse_arguments(args)
    _reexec_for_backend(options, args)
    export(options)


if __name__ == '__main__':
    main()
