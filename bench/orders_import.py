#!/usr/bin/env python3
# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Import a generated xlsx of orders twice; print JSON figures.

    .venv/bin/python -m bench.orders_import [--rows 100000] [--sqlite]
        [--baseline-rows 2000]

It generates an xlsx of --rows rows (one row per order line; every fifth
order has two lines) of value-added orders with their extension data (use
time, vehicle model, region, location, store, rating, comment), creates a
scratch database (PostgreSQL at 127.0.0.1:5432 as trytond-postgresql.conf
says, or SQLite with --sqlite) with dualrec_orders, and imports the file
through ``dualrec.order.import`` as the wizard does (preview, import; the
file is over the queue size, so the queued task runs, committing each
batch), then imports it again (everything unchanged).  The baseline is
Tryton's generic ``Model.import_data`` (what sao's import uses) on the same
data converted to CSV text, on its first --baseline-rows rows (without the
extension data, which import_data cannot read from CSV).  Figures: rows/s
of the first import, of the re-import and of the baseline, their ratios,
and the growth of the peak resident memory (VmHWM) over the resident
memory before each import, in MB.  The database is dropped at the end.
"""
import argparse
import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = [str(ROOT / 'trytond.conf')]
PG_CONFIG = str(ROOT / 'trytond-postgresql.conf')
SQLITE_CONFIG = ROOT / 'var' / f'bench-orders-{os.getpid()}.conf'
MB = 1000 * 1000
HEADER = ['外部单号', '订单类型', '客户', '日期', '服务', '数量', '含税单价',
    '税率', '分支机构', '说明', 'use_time', 'vehicle_model', 'region_code',
    'location', 'merchant_store', 'service_rating', 'comment']
PARTIES = 50
SERVICES = 12
MODELS = ['宝马X5', '奥迪A6L', '丰田凯美瑞', '本田雅阁', '大众帕萨特', '比亚迪汉']
REGIONS = [('110105', '北京市朝阳区'), ('310115', '上海市浦东新区'),
    ('440305', '深圳市南山区'), ('330106', '杭州市西湖区')]


def rows_of(count):
    "Yield count data rows of the bench file (lists of cells)."
    start = dt.datetime(2026, 9, 1, 8, 0)
    produced, order = 0, 0
    while produced < count:
        order += 1
        lines = 2 if order % 5 == 0 else 1
        region, location = REGIONS[order % len(REGIONS)]
        used = start + dt.timedelta(minutes=37 * order)
        for line in range(lines):
            if produced >= count:
                break
            yield [f'BENCH{order:07d}', 'valueadd', f'P{order % PARTIES:03d}',
                used.date(), f'S{(order + line) % SERVICES:02d}',
                1 + line, round(25 + (order % 200) * 0.5, 2), '6%', None,
                f"Bench order {order}", used, MODELS[order % len(MODELS)],
                region, location, f"Store {order % 40}", 1 + order % 5,
                "服务很好" if order % 3 else "一般"]
            produced += 1


def make_xlsx(path, count):
    import xlsxwriter
    workbook = xlsxwriter.Workbook(str(path), {'constant_memory': True})
    sheet = workbook.add_worksheet()
    date_format = workbook.add_format({'num_format': 'yyyy-mm-dd'})
    time_format = workbook.add_format({'num_format': 'yyyy-mm-dd hh:mm'})
    sheet.write_row(0, 0, HEADER)
    for r, row in enumerate(rows_of(count), 1):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, dt.datetime):
                sheet.write_datetime(r, c, value, time_format)
            elif isinstance(value, dt.date):
                sheet.write_datetime(r, c, dt.datetime.combine(
                        value, dt.time()), date_format)
            else:
                sheet.write(r, c, value)
    workbook.close()


def baseline_csv(count):
    """Return the CSV text of the first count rows for import_data: the
    order's columns on its first row, its other lines below with them
    empty, as sao exports and imports one2many lines."""
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerow(['external_ref', 'source', 'type_', 'counterparty',
            'date', 'description', 'lines/product', 'lines/quantity',
            'lines/unit_price', 'lines/tax_rate'])
    previous = None
    for row in rows_of(count):
        line = [row[4], str(row[5]), str(row[6]), '0.06']
        if row[0] == previous:
            writer.writerow(['', '', '', '', '', ''] + line)
        else:
            writer.writerow([row[0], 'baseline', "Value-added Service",
                    f"Bench party {int(row[2][1:])}", row[3].isoformat(),
                    row[9]] + line)
        previous = row[0]
    return output.getvalue()


def memory():
    "Return (VmRSS, VmHWM) of this process in bytes."
    values = {}
    for line in Path('/proc/self/status').read_text().splitlines():
        key, _, value = line.partition(':')
        if key in {'VmRSS', 'VmHWM'}:
            values[key] = int(value.split()[0]) * 1024
    return values['VmRSS'], values['VmHWM']


def reset_peak():
    try:
        Path('/proc/self/clear_refs').write_text('5')
        return True
    except OSError:
        return False


def uri(sqlite):
    if sqlite:
        return 'sqlite://'
    import configparser
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(CONFIG + [PG_CONFIG])
    return parser.get('database', 'uri')


def create_database(name, sqlite):
    bin_ = Path(sys.executable).parent
    config = CONFIG if sqlite else CONFIG + [PG_CONFIG]
    if sqlite:
        path = ROOT / 'var' / 'db' / f'{name}.sqlite'
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        path.touch()
    else:
        import psycopg
        with psycopg.connect(uri(False).rstrip('/') + '/postgres',
                autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' '
                'TEMPLATE template0')
    password = ROOT / 'var' / f'bench-orders-{os.getpid()}.pass'
    password.parent.mkdir(exist_ok=True)
    password.write_text('bench-orders\n')
    env = dict(os.environ, TRYTONPASSFILE=str(password))
    try:
        subprocess.run([str(bin_ / 'trytond-admin'), '-c', *config,
                '-d', name, '--all', '-u', 'dualrec_orders',
                '--activate-dependencies'],
            check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
            input=b'\n')
    finally:
        password.unlink(missing_ok=True)


def drop_database(name, sqlite):
    if sqlite:
        (ROOT / 'var' / 'db' / f'{name}.sqlite').unlink(missing_ok=True)
        return
    import psycopg
    with psycopg.connect(uri(False).rstrip('/') + '/postgres',
            autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def set_up(pool, name):
    "Create the company, parties and services; return the company id."
    from trytond.transaction import Transaction
    with Transaction().start(name, 0) as transaction:
        Company = pool.get('company.company')
        Currency = pool.get('currency.currency')
        Party = pool.get('party.party')
        Template = pool.get('product.template')
        Uom = pool.get('product.uom')
        User = pool.get('res.user')
        currencies = Currency.search([('code', '=', 'CNY')])
        if currencies:
            currency, = currencies
        else:
            currency, = Currency.create([{'name': "Yuan", 'code': 'CNY',
                        'symbol': '¥'}])
        party, = Party.create([{'name': "Bench company"}])
        company, = Company.create([{'party': party.id,
                    'currency': currency.id}])
        admin, = User.search([('login', '=', 'admin')])
        User.write([admin], {'companies': [('add', [company.id])],
                'company': company.id})
        Party.create([{'name': f"Bench party {i}", 'code': f'P{i:03d}'}
                for i in range(PARTIES)])
        unit, = Uom.search([('name', '=', 'Unit')], limit=1)
        with Transaction().set_context(company=company.id):
            Template.create([{'name': f"Service S{i:02d}", 'type': 'service',
                        'default_uom': unit.id, 'list_price': 100,
                        'products': [('create', [
                                    {'suffix_code': f'S{i:02d}'}])],
                        } for i in range(SERVICES)])
        transaction.commit()
        return company.id, admin.id


def run_import(pool, name, user, company, data):
    """Import data as the wizard does, running the queued task as the
    worker would; return (seconds, counts, peak RSS growth in bytes)."""
    from trytond.transaction import Transaction
    context = {'company': company, 'companies': [company]}
    rss, _ = memory()
    reset_peak()
    began = time.perf_counter()
    with Transaction().start(name, user, context=context) as transaction:
        Import = pool.get('dualrec.order.import')
        record, = Import.create([{'company': company, 'file': data,
                    'filename': 'bench.xlsx'}])
        Import.preview([record])
        Import.import_([record])
        record_id = record.id
        transaction.commit()
        transaction.tasks.clear()
    # the worker's part (trytond-worker, or the tasks run after the
    # commit when there is none), in this process to measure it
    with Transaction().start(name, 0, readonly=True):
        tasks = [t.id for t in pool.get('ir.queue').search(
                [('finished_at', '=', None)])]
    for task_id in tasks:
        with Transaction().start(name, user, context=context) as transaction:
            Queue = pool.get('ir.queue')
            Queue(task_id).run()
            transaction.commit()
    elapsed = time.perf_counter() - began
    _, hwm = memory()
    with Transaction().start(name, user, context=context, readonly=True):
        record = pool.get('dualrec.order.import')(record_id)
        counts = {n: getattr(record, n) for n in ('state', 'total_rows',
                'new_rows', 'unchanged_rows', 'updated_rows',
                'rejected_rows', 'messages')}
    return elapsed, counts, max(hwm - rss, 0)


def run_baseline(pool, name, user, company, text):
    "Return (seconds, rows) of Order.import_data on the CSV text."
    from trytond.transaction import Transaction
    reader = csv.reader(io.StringIO(text))
    fields_names = next(reader)
    data = list(reader)
    context = {'company': company, 'companies': [company]}
    began = time.perf_counter()
    with Transaction().start(name, user, context=context) as transaction:
        Order = pool.get('dualrec.order')
        count = Order.import_data(fields_names, data)
        transaction.commit()
    return time.perf_counter() - began, len(data), count


def main():
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rows', type=int, default=100000)
    parser.add_argument('--baseline-rows', type=int, default=2000)
    parser.add_argument('--sqlite', action='store_true')
    parser.add_argument('--keep', action='store_true',
        help="keep the database")
    args = parser.parse_args()
    for key, value in [('DUALREC_PII_KEY', '5eed' * 16),
            ('DUALREC_MEDIA_KEYS', 'kbench:' + 'a11e' * 16),
            ('DUALREC_EVIDENCE_KEY',
                'dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=')]:
        os.environ.setdefault(key, value)
    os.environ['TRYTOND_DATABASE_URI'] = uri(args.sqlite)
    if args.sqlite:
        # an absolute path: trytond makes a wrong URI of the relative one
        SQLITE_CONFIG.parent.mkdir(exist_ok=True)
        SQLITE_CONFIG.write_text(
            f"[database]\npath = {ROOT / 'var' / 'db'}\n")
        CONFIG.append(str(SQLITE_CONFIG))
    from trytond import config
    config.update_etc(CONFIG if args.sqlite else CONFIG + [PG_CONFIG])
    xlsx = ROOT / 'var' / f'bench-orders-{os.getpid()}.xlsx'
    xlsx.parent.mkdir(exist_ok=True)
    began = time.perf_counter()
    make_xlsx(xlsx, args.rows)
    generate = time.perf_counter() - began
    data = xlsx.read_bytes()
    xlsx.unlink()
    name = f'bench_orders_{os.getpid()}'
    create_database(name, args.sqlite)
    try:
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        pool = Pool(name)
        with Transaction().start(name, 0, readonly=True):
            pool.init()
        company, user = set_up(pool, name)
        first, first_counts, first_rss = run_import(
            pool, name, user, company, data)
        again, again_counts, again_rss = run_import(
            pool, name, user, company, data)
        text = baseline_csv(min(args.baseline_rows, args.rows))
        base, base_rows, base_count = run_baseline(
            pool, name, user, company, text)
    finally:
        from trytond.pool import Pool
        Pool.stop(name)
        if not args.keep:
            drop_database(name, args.sqlite)
        SQLITE_CONFIG.unlink(missing_ok=True)
    first_rate = args.rows / first
    again_rate = args.rows / again
    base_rate = base_rows / base
    print(json.dumps({
                'backend': 'sqlite' if args.sqlite else 'postgresql',
                'rows': args.rows,
                'file_mb': round(len(data) / MB, 2),
                'generate_s': round(generate, 1),
                'first_import_s': round(first, 1),
                'first_import_rows_per_s': round(first_rate, 1),
                'first_import': first_counts,
                'reimport_s': round(again, 1),
                'reimport_rows_per_s': round(again_rate, 1),
                'reimport': again_counts,
                'reimport_speedup': round(again_rate / first_rate, 2),
                'baseline_rows': base_rows,
                'baseline_orders': base_count,
                'baseline_s': round(base, 1),
                'baseline_rows_per_s': round(base_rate, 1),
                'ratio_to_baseline': round(first_rate / base_rate, 2),
                'peak_rss_growth_mb': round(
                    max(first_rss, again_rss) / MB, 1),
                }, ensure_ascii=False))


if __name__ == '__main__':
    main()
