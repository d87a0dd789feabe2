#!/usr/bin/env python3
# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Import generated call records of the move-car plates; print JSON figures.

    .venv/bin/python -m bench.call_records [--count 1000000] [--plates 1000]
        [--sqlite] [--keep]

It writes a CSV of --count call records in the provider's field names
(numbers in clear, as a provider's export has them; 10 % of the rows repeat
the call id of an earlier row, 1 % are malformed: a bad time, a missing out
id, a negative cost or the out id of no plate), creates a scratch database
(PostgreSQL at 127.0.0.1:5432 as trytond-postgresql.conf says, or SQLite
with --sqlite) with dualrec_valueadd and a produced batch of --plates
plates, and imports the file through ``dualrec.plate.call.receive`` (what
the import wizard and the push run), streaming it row by row in one
transaction, committed at the end.  Figures: records per second of the
import, duplicates and malformed (rejected) found against those generated,
records created, and the growth of the peak resident memory (VmHWM) over
the resident memory before the import, in MB.  Targets on PostgreSQL:
>= 5,000 records/s, RSS growth < 200 MB.  The database is dropped at the
end unless --keep.
"""
import argparse
import csv
import json
import os
import time
from decimal import Decimal
from pathlib import Path

from bench.orders_import import (
    CONFIG, MB, PG_CONFIG, ROOT, drop_database, memory, reset_peak, uri)

KEYS = [('DUALREC_PII_KEY', '5eed' * 16),
    ('DUALREC_MEDIA_KEYS', 'kbench:' + 'a11e' * 16),
    ('DUALREC_EVIDENCE_KEY', 'dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=')]
HEADER = ['call_id', 'sub_id', 'out_id', 'phone_no', 'secret_no', 'peer_no',
    'call_time', 'start_time', 'release_time', 'release_dir',
    'release_cause', 'unconnected_cause', 'cost']
MALFORMED = ['call_time', 'out_id', 'cost', 'plate']


def rows_of(count, plates):
    """Yield count rows (lists) and count the duplicates and malformed
    rows generated in the dict ``rows_of.expected``."""
    expected = rows_of.expected = {'duplicates': 0, 'malformed': 0}
    for i in range(count):
        number = i
        if i % 10 == 5 and i > 1000:
            # an earlier call again, neither a repeat itself nor malformed
            number = i - 1001
            if number % 100 == 1:
                number -= 10
            expected['duplicates'] += 1
        serial = f'NC2026{number % plates + 1:06d}'
        minute, second = divmod(number % 86400, 60)
        hour, minute = divmod(minute, 60)
        day = 1 + number // 86400 % 28
        moment = f'2026-11-{day:02d} {hour:02d}:{minute:02d}'
        answered = number % 4 != 0
        length = 5 + number % 55
        row = [f'BENCH{number:09d}^{number * 7 % 1000003:07d}',
            f'S{number % 5000:06d}', serial,
            f'138{number % 100000000:08d}', f'170{number % 10000:08d}',
            f'189{(number * 13) % 100000000:08d}', f'{moment}:{second:02d}',
            f'{moment}:{second:02d}' if answered else '',
            f'{moment}:{second:02d}' if not answered else
            f'{moment}:{min(second + length, 59):02d}',
            str(number % 3), '16' if answered else '17',
            '0' if answered else '4',
            str(Decimal(number % 50) / 100) if answered else '0']
        if number == i and i % 100 == 1:
            kind = MALFORMED[i // 100 % len(MALFORMED)]
            if kind == 'call_time':
                row[6] = '2026-11-31 25:00:00'
            elif kind == 'out_id':
                row[2] = ''
            elif kind == 'cost':
                row[12] = '-1'
            else:
                row[2] = 'NC2026999999'
            expected['malformed'] += 1
        yield row


def make_csv(path, count, plates):
    with open(path, 'w', encoding='utf-8', newline='') as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        writer.writerows(rows_of(count, plates))


def create_database(name, sqlite, configs):
    import subprocess
    import sys
    if sqlite:
        path = ROOT / 'var' / 'db' / f'{name}.sqlite'
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        path.touch()
    else:
        import psycopg
        with psycopg.connect(uri(False).rstrip('/') + '/postgres',
                autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' '
                'TEMPLATE template0')
    password = ROOT / 'var' / f'bench-calls-{os.getpid()}.pass'
    password.parent.mkdir(exist_ok=True)
    password.write_text('bench-calls\n')
    env = dict(os.environ, TRYTONPASSFILE=str(password))
    try:
        # through this interpreter: the script's shebang may name another
        subprocess.run([sys.executable,
                str(Path(sys.executable).parent / 'trytond-admin'),
                '-c', *configs, '-d', name, '--all',
                '-u', 'dualrec_valueadd', '--activate-dependencies'],
            check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
            input=b'\n')  # no e-mail for admin
    finally:
        password.unlink(missing_ok=True)


def set_up(pool, name, plates):
    """Create the company and a produced batch of plates through the
    workflow; return (admin id, company id)."""
    from trytond.modules.dualrec_orders.tests.tools import create_service
    from trytond.transaction import Transaction, TransactionError

    def create(transaction):
        Company = pool.get('company.company')
        Currency = pool.get('currency.currency')
        Party = pool.get('party.party')
        User = pool.get('res.user')
        Batch = pool.get('dualrec.plate.batch')
        Configuration = pool.get('dualrec.valueadd.configuration')
        currency, = Currency.create([{'name': "Yuan", 'code': 'CNY',
                    'symbol': '¥'}])
        party, = Party.create([{'name': "Bench company"}])
        company, = Company.create([{'party': party.id,
                    'currency': currency.id, 'timezone': 'Asia/Shanghai'}])
        admin, = User.search([('login', '=', 'admin')])
        User.write([admin], {'companies': [('add', [company.id])],
                'company': company.id})
        Configuration.save([Configuration(1,
                    plate_url='https://nc.example.cn/m')])
        with transaction.set_context(company=company.id,
                companies=[company.id]):
            product = create_service('PLATE', name="智能挪车牌",
                price=Decimal('9.90'))
            batch, = Batch.create([{'company': company.id,
                        'product': product.id, 'prefix': 'NC',
                        'year': 2026, 'first': 1, 'last': plates}])
            Batch.produce([batch])
        return admin.id, company.id

    # retried with the tables it locks (the configuration singleton), as
    # with_transaction does
    extras = {}
    while True:
        try:
            with Transaction().start(name, 0, **extras) as transaction:
                result = create(transaction)
                transaction.commit()
            return result
        except TransactionError as error:
            error.fix(extras)


def run_import(pool, name, user, company, path):
    "Return (seconds, summary, peak RSS growth in bytes) of the import."
    from trytond.transaction import Transaction
    context = {'company': company, 'companies': [company]}
    rss, _ = memory()
    reset_peak()
    began = time.perf_counter()
    with Transaction().start(name, user, context=context) as transaction:
        Call = pool.get('dualrec.plate.call')
        with open(path, encoding='utf-8', newline='') as file:
            summary = Call.receive(enumerate(csv.DictReader(file), 2),
                'import', filename=path.name)
        transaction.commit()
    elapsed = time.perf_counter() - began
    _, hwm = memory()
    return elapsed, summary, max(hwm - rss, 0)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--count', type=int, default=1000000)
    parser.add_argument('--plates', type=int, default=1000)
    parser.add_argument('--sqlite', action='store_true')
    parser.add_argument('--keep', action='store_true',
        help="keep the database")
    parser.add_argument('--profile', type=int, metavar='N',
        help="print the N costliest functions of the import on stderr")
    args = parser.parse_args()
    for key, value in KEYS:
        os.environ.setdefault(key, value)
    configs = list(CONFIG)
    sqlite_config = ROOT / 'var' / f'bench-calls-{os.getpid()}.conf'
    if args.sqlite:
        sqlite_config.parent.mkdir(exist_ok=True)
        sqlite_config.write_text(
            f"[database]\npath = {ROOT / 'var' / 'db'}\n")
        configs.append(str(sqlite_config))
    else:
        configs.append(PG_CONFIG)
    os.environ['TRYTOND_DATABASE_URI'] = uri(args.sqlite)
    from trytond import config
    config.update_etc(configs)
    path = ROOT / 'var' / f'bench-calls-{os.getpid()}.csv'
    path.parent.mkdir(exist_ok=True)
    began = time.perf_counter()
    make_csv(path, args.count, args.plates)
    generate = time.perf_counter() - began
    size = path.stat().st_size
    name = f'bench_calls_{os.getpid()}'
    create_database(name, args.sqlite, configs)
    try:
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        pool = Pool(name)
        with Transaction().start(name, 0, readonly=True):
            pool.init()
        user, company = set_up(pool, name, args.plates)
        if args.profile:
            import cProfile
            import pstats
            import sys
            profile = cProfile.Profile()
            profile.enable()
        elapsed, summary, rss = run_import(pool, name, user, company, path)
        if args.profile:
            profile.disable()
            pstats.Stats(profile, stream=sys.stderr).sort_stats(
                'tottime').print_stats(args.profile)
    finally:
        from trytond.pool import Pool
        Pool.stop(name)
        if not args.keep:
            drop_database(name, args.sqlite)
        sqlite_config.unlink(missing_ok=True)
        path.unlink(missing_ok=True)
    expected = rows_of.expected
    print(json.dumps({
                'backend': 'sqlite' if args.sqlite else 'postgresql',
                'records': args.count,
                'file_mb': round(size / MB, 1),
                'generate_s': round(generate, 1),
                'import_s': round(elapsed, 1),
                'records_per_second': round(args.count / elapsed, 1),
                'created': summary['created'],
                'duplicates': summary['duplicates'],
                'duplicates_generated': expected['duplicates'],
                'malformed': summary['rejected'],
                'malformed_generated': expected['malformed'],
                'rss_growth_mb': round(rss / MB, 1),
                }))


if __name__ == '__main__':
    main()
