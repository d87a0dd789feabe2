#!/usr/bin/env python3
# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Audited writes by concurrent writers on PostgreSQL; print JSON figures.

    .venv/bin/python -m bench.audit [--writers 20] [--writes 50]

It creates a scratch PostgreSQL database (127.0.0.1:5432, see
trytond-postgresql.conf) with dualrec_core, one branch per writer, and runs
the writers as threads, each renaming its own branch --writes times, one
transaction per write, twice: with the audit (every write appends an entry,
a sealer thread seals the log every second as the cron does) and without it
(the same writes with the bench's no-op in place of AuditLog.log, in this
process only).  Prints writes_per_s_audit_on, writes_per_s_audit_off and
their ratio (target ≥ 0.8); the database is dropped at the end.
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = [str(ROOT / 'trytond.conf'), str(ROOT / 'trytond-postgresql.conf')]


def uri():
    import configparser
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(CONFIG)
    return parser.get('database', 'uri')


def create_database(name):
    bin_ = Path(sys.executable).parent
    subprocess.run([sys.executable, str(ROOT / 'scripts' / 'pg_cache.py'),
            uri(), '--drop', name], check=False, capture_output=True)
    import psycopg
    with psycopg.connect(uri().rstrip('/') + '/postgres',
            autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' '
            'TEMPLATE template0')
    password = ROOT / 'var' / f'bench-audit-{os.getpid()}.pass'
    password.parent.mkdir(exist_ok=True)
    password.write_text('bench-audit\n')
    env = dict(os.environ, TRYTONPASSFILE=str(password))
    try:
        subprocess.run([str(bin_ / 'trytond-admin'), '-c', *CONFIG,
                '-d', name, '--all', '-u', 'dualrec_core',
                '--activate-dependencies'],
            check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
            input=b'\n')  # no e-mail for admin
    finally:
        password.unlink(missing_ok=True)


def drop_database(name):
    subprocess.run([sys.executable, str(ROOT / 'scripts' / 'pg_cache.py'),
            uri(), '--drop', name], check=False, capture_output=True)


def run(name, writers, writes, audit):
    "Return the writes per second of writers threads doing writes each."
    from trytond.backend import DatabaseOperationalError
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    pool = Pool(name)
    with Transaction().start(name, 0) as transaction:
        Branch = pool.get('dualrec.branch')
        Company = pool.get('company.company')
        Party = pool.get('party.party')
        Currency = pool.get('currency.currency')
        companies = Company.search([], limit=1)
        if not companies:
            currency, = Currency.create([{'name': "Yuan", 'code': 'CNY',
                        'symbol': '¥'}])
            party, = Party.create([{'name': "Bench"}])
            companies = Company.create([{'party': party.id,
                        'currency': currency.id}])
        company, = companies
        branches = Branch.create([{
                    'name': f"Bench {audit} {i}",
                    'code': f'B{int(audit)}{i:03d}',
                    'level': 'province', 'company': company.id,
                    } for i in range(writers)])
        ids = [b.id for b in branches]
        transaction.commit()
    errors, start = [], threading.Barrier(writers + 1)
    stop = threading.Event()

    def writer(branch_id):
        start.wait()
        try:
            for i in range(writes):
                while True:
                    try:
                        with Transaction().start(name, 0) as transaction:
                            Branch = pool.get('dualrec.branch')
                            Branch.write([Branch(branch_id)],
                                {'name': f"Bench {branch_id} {i}"})
                            transaction.commit()
                        break
                    except DatabaseOperationalError:
                        continue
        except Exception as error:  # reported below, ends the run
            errors.append(error)

    def sealer():
        while not stop.wait(1):
            with Transaction().start(name, 0) as transaction:
                pool.get('dualrec.audit.log').seal()
                transaction.commit()

    threads = [threading.Thread(target=writer, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    seal_thread = threading.Thread(target=sealer) if audit else None
    if seal_thread:
        seal_thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    stop.set()
    if seal_thread:
        seal_thread.join()
    if errors:
        raise errors[0]
    return writers * writes / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--writers', type=int, default=20)
    parser.add_argument('--writes', type=int, default=50)
    args = parser.parse_args()
    for key, value in [('DUALREC_PII_KEY', '5eed' * 16),
            ('DUALREC_MEDIA_KEYS', 'kbench:' + 'a11e' * 16),
            ('DUALREC_EVIDENCE_KEY',
                'dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=')]:
        os.environ.setdefault(key, value)
    # before trytond.backend is imported: it picks the backend of the URI
    os.environ['TRYTOND_DATABASE_URI'] = uri()
    from trytond import config
    config.update_etc(CONFIG)
    name = f'bench_audit_{os.getpid()}'
    create_database(name)
    try:
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        pool = Pool(name)
        with Transaction().start(name, 0, readonly=True):
            pool.init()
        AuditLog = pool.get('dualrec.audit.log')
        on = run(name, args.writers, args.writes, True)
        # the audit off: the same writes, the hook does nothing (this
        # process only, for the measure)
        AuditLog.log = classmethod(lambda cls, *a, **k: [])
        try:
            off = run(name, args.writers, args.writes, False)
        finally:
            del AuditLog.log
        with Transaction().start(name, 0) as transaction:
            AuditLog.seal()
            checked, broken = AuditLog.verify()
            transaction.commit()
    finally:
        from trytond.pool import Pool
        Pool.stop(name)
        drop_database(name)
    print(json.dumps({
                'writers': args.writers,
                'writes_per_writer': args.writes,
                'writes_per_s_audit_on': round(on, 1),
                'writes_per_s_audit_off': round(off, 1),
                'ratio': round(on / off, 3),
                'entries_verified': checked,
                'chain_intact': broken is None,
                }))


if __name__ == '__main__':
    main()
