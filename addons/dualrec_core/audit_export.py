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
import sys

from .cli import open_pool, reexec_for_backend


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
    from trytond.transaction import Transaction

    pool = open_pool(options.configfile, options.database)
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


def main(args=None):
    options = parse_arguments(args)
    reexec_for_backend(options.configfile, __spec__.name, args)
    export(options)


if __name__ == '__main__':
    main()
