#!/usr/bin/env python3
# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Build reconciliation statements and match bank lines; print JSON figures.

    .venv/bin/python -m bench.settlement [--orders 100000] [--small N]
        [--bank-lines 10000] [--quick] [--sqlite] [--database-uri URI]

It creates a scratch database (PostgreSQL at 127.0.0.1:5432 as
trytond-postgresql.conf says, another with --database-uri, or SQLite with
--sqlite) with dualrec_finance, two companies in CNY and 50 counterparties,
then --small confirmed receivable orders (default --orders / 10) for the
first company and --orders for the second, all of one month, by the bulk
path of the spreadsheet import (``Order._bulk_create`` then
``Order.confirm``, committed per batch; timed apart).  It then builds the
statements of the month of each company with ``Statement.build`` (one
transaction each, committed; timed) and prints the seconds, the
milliseconds per order of both, so that the scaling shows, and the SQL
queries per statement; then it sends, confirms and invoices them (the
customer invoices posted, the orders invoiced, the fapiao requests made;
one transaction, timed) and prints the same figures.  The last part
needs no database: ``dualrec.bank.match`` of --bank-lines lines against as
many open items, the lines a mix of reference matches, exact amounts,
partial payments, duplicates (a serial seen in the same file or in a
previous import) and unknown payers; it prints the seconds and the count
of each kind, expected and found.  --quick: 2,000 orders (200 for the small
company).  Targets: build of 100,000 orders < 60 s, match of 10,000 lines
< 30 s.  The database is dropped at the end unless --keep.
"""
import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from bench.orders_import import CONFIG, PG_CONFIG, ROOT, uri as config_uri

PARTIES = 50
BATCH = 5000
MONTH = (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
KEYS = [('DUALREC_PII_KEY', '5eed' * 16),
    ('DUALREC_MEDIA_KEYS', 'kbench:' + 'a11e' * 16),
    ('DUALREC_EVIDENCE_KEY', 'dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=')]


# -- database ---------------------------------------------------------------

def create_database(name, uri, configs):
    "Create the database name and activate dualrec_finance in it."
    if uri.startswith('sqlite'):
        path = ROOT / 'var' / 'db' / f'{name}.sqlite'
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        path.touch()
    else:
        import psycopg
        with psycopg.connect(uri.rstrip('/') + '/postgres',
                autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' '
                'TEMPLATE template0')
    password = ROOT / 'var' / f'bench-settlement-{os.getpid()}.pass'
    password.parent.mkdir(exist_ok=True)
    password.write_text('bench-settlement\n')
    env = dict(os.environ, TRYTONPASSFILE=str(password),
        TRYTOND_DATABASE_URI=uri)
    try:
        subprocess.run([str(Path(sys.executable).parent / 'trytond-admin'),
                '-c', *configs, '-d', name, '--all',
                '-u', 'dualrec_finance', '--activate-dependencies'],
            check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
            input=b'\n')  # no e-mail for admin
    finally:
        password.unlink(missing_ok=True)


def drop_database(name, uri):
    if uri.startswith('sqlite'):
        for suffix in ('', '-wal', '-shm'):
            (ROOT / 'var' / 'db' / f'{name}.sqlite{suffix}').unlink(
                missing_ok=True)
        return
    import psycopg
    with psycopg.connect(uri.rstrip('/') + '/postgres',
            autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- statements ---------------------------------------------------------------

def set_up(pool, name):
    """Create the two companies in CNY, the parties and a service; return
    (admin id, company ids, party ids, product id, order type id,
    currency id)."""
    from trytond.modules.dualrec_finance.tests.tools import (
        create_cny_company)
    from trytond.modules.dualrec_orders.tests.tools import create_service
    from trytond.transaction import Transaction

    def create(transaction):
        Party = pool.get('party.party')
        User = pool.get('res.user')
        OrderType = pool.get('dualrec.order.type')
        companies = [create_cny_company(f"Bench company {c}")
            for c in ('small', 'large')]
        admin, = User.search([('login', '=', 'admin')])
        User.write([admin], {
                'companies': [('add', [c.id for c in companies])],
                'company': companies[0].id})
        parties = Party.create([{'name': f"Bench party {i}",
                    'code': f'P{i:03d}', 'addresses': [('create', [{}])]}
                for i in range(PARTIES)])
        from trytond.modules.dualrec_finance.accounting import (
            set_up_company_accounting)
        for company in companies:
            with Transaction().set_context(company=company.id,
                    companies=[company.id]):
                set_up_company_accounting(company, MONTH[1])
        with Transaction().set_context(company=companies[0].id):
            product = create_service('WASH')
        type_, = OrderType.search([('code', '=', 'valueadd')])
        return (admin.id, [c.id for c in companies], [p.id for p in parties],
            product.id, type_.id, companies[0].currency.id)
    return retrying(name, 0, {}, create)


def retrying(name, user, context, func):
    """Return func(transaction) run in a transaction and committed; a
    table lock asked for (the strict sequences of fiscal years and
    invoices) starts it again with the table locked, as the server does."""
    from trytond.transaction import Transaction, TransactionError
    extras = {}
    while True:
        with Transaction().start(name, user, context=context,
                **extras) as transaction:
            try:
                result = func(transaction)
                transaction.commit()
                return result
            except TransactionError as error:
                transaction.rollback()
                error.fix(extras)


def create_orders(pool, name, user, company, count, parties, product, type_,
        currency):
    """Create count confirmed orders of company over parties in MONTH, by
    batches of BATCH committed each; return (create s, confirm s)."""
    from trytond.transaction import Transaction
    days = (MONTH[1] - MONTH[0]).days + 1
    created = confirmed = 0.
    context = {'company': company, 'companies': [company]}
    for start in range(0, count, BATCH):
        vlist = [{'company': company, 'source': 'bench',
                'external_ref': f'B{company}-{i:07d}', 'type_': type_,
                'direction': 'receivable',
                'counterparty': parties[i % len(parties)],
                'date': MONTH[0] + dt.timedelta(days=i % days),
                'currency': currency, 'description': f"Bench order {i}",
                'lines': [('create', [{'product': product,
                                'description': None,
                                'quantity': Decimal(1 + i % 3),
                                'unit_price': Decimal(25 + i % 200) / 2,
                                'tax_rate': Decimal('0.06'),
                                }])],
                } for i in range(start, min(start + BATCH, count))]
        with Transaction().start(name, user, context=context) as transaction:
            Order = pool.get('dualrec.order')
            began = time.perf_counter()
            orders = Order._bulk_create(vlist)
            middle = time.perf_counter()
            Order.confirm(orders)
            transaction.commit()
            ended = time.perf_counter()
        created += middle - began
        confirmed += ended - middle
    return created, confirmed


class Queries:
    "Count the SQL queries that trytond's cursors execute."
    count = 0

    @classmethod
    def install(cls):
        from trytond.backend.postgresql.database import LoggingCursor
        from trytond.backend.sqlite.database import SQLiteCursor
        for klass in (LoggingCursor, SQLiteCursor):
            cls._wrap(klass)

    @classmethod
    def _wrap(cls, klass):
        execute = klass.execute

        def counted(self, *args, **kwargs):
            cls.count += 1
            return execute(self, *args, **kwargs)
        klass.execute = counted


def build(pool, name, user, company):
    """Build the receivable statements of MONTH of company (committed);
    return (seconds, statements, lines, total, queries)."""
    from trytond.transaction import Transaction
    context = {'company': company, 'companies': [company]}
    began = time.perf_counter()
    queries = Queries.count
    with Transaction().start(name, user, context=context) as transaction:
        Statement = pool.get('dualrec.statement')
        Company = pool.get('company.company')
        statements = Statement.build(Company(company), 'receivable', *MONTH)
        transaction.commit()
    elapsed = time.perf_counter() - began
    queries = Queries.count - queries
    with Transaction().start(name, user, context=context, readonly=True):
        Statement = pool.get('dualrec.statement')
        Line = pool.get('dualrec.statement.line')
        statements = Statement.browse([s.id for s in statements])
        lines = Line.search_count([('statement', 'in', statements)])
        total = sum(s.total_amount for s in statements)
    return elapsed, statements, lines, total, queries


def invoice(pool, name, user, company, statement_ids):
    """Send, confirm with their totals and invoice the statements (the
    customer invoices posted, their orders invoiced, the fapiao requests
    created), committed; return (seconds, queries, invoices total)."""
    from trytond.transaction import Transaction
    context = {'company': company, 'companies': [company]}
    began = []

    def invoice_all(transaction):
        # timed from the last start (a table lock starts it again)
        began[:] = [time.perf_counter(), Queries.count]
        Statement = pool.get('dualrec.statement')
        statements = Statement.browse(statement_ids)
        Statement.send(statements)
        for statement in statements:
            Statement.confirm_agreed([statement], statement.total_amount)
        Statement.create_invoice(statements)
    retrying(name, user, context, invoice_all)
    began, queries = began
    elapsed = time.perf_counter() - began
    queries = Queries.count - queries
    with Transaction().start(name, user, context=context, readonly=True):
        Statement = pool.get('dualrec.statement')
        total = sum(s.invoice.total_amount
            for s in Statement.browse(statement_ids)
            if s.invoice and s.invoice.state == 'posted')
    return elapsed, queries, total


def order_total(pool, name, company):
    "Return the sum of the totals of the confirmed orders of company."
    from sql.aggregate import Sum
    from trytond.transaction import Transaction
    with Transaction().start(name, 0, readonly=True) as transaction:
        order = pool.get('dualrec.order').__table__()
        cursor = transaction.connection.cursor()
        cursor.execute(*order.select(Sum(order.total_amount),
                where=(order.company == company)
                & (order.state == 'confirmed')))
        total, = cursor.fetchone()
        return Decimal(str(total or 0)).quantize(Decimal('0.01'))


# -- bank matching --------------------------------------------------------------

#: kind of the bank line j (by j % 20) → share of the lines
PATTERN = (['reference'] * 6 + ['exact'] * 6 + ['partial'] * 3
    + ['duplicate'] * 2 + ['unmatched'] * 3)


def bank_data(count):
    """Return (lines, open items, seen, expected kind and item per line):
    count open items and count lines of PATTERN's mix."""
    from dualrec.bank import BankLine, OpenItem
    groups = max(count // 20, 1)
    items, lines, seen, expected = [], [], [], []
    day = dt.date(2026, 11, 1)

    def amount(i):
        return Decimal(1000 + i) + Decimal(i % 100) / 100

    for i in range(count):
        if PATTERN[i % 20] == 'partial':
            # the single open item of its payer: a partial payment's target
            names = (f"独立客户{i}有限公司",)
        else:
            g = i % groups
            names = (f"客户{g}有限公司", f"客户{g}（北京）有限公司")
        items.append(OpenItem(id=i, names=names, amount=amount(i),
                references=(f'INV{i:08d}', f'DZD-2026-{i:06d}')))
    for j in range(count):
        kind = PATTERN[j % 20]
        item = items[j]
        date = day + dt.timedelta(days=j % 28)
        name, value, memo = item.names[-1], item.amount, "货款"
        serial, target = f'SN{j:09d}', j
        if kind == 'reference':
            # another payer's name, the amount rounded: found by the memo
            name = f"代付人{j}"
            value = item.amount.to_integral_value()
            memo = f"付 {item.references[j % 2]} 对账款"
        elif kind == 'exact':
            name = ' ' + item.names[j % 2].replace('（', '(').replace(
                '）', ')') + ' '
        elif kind == 'partial':
            value = (item.amount / 2).quantize(Decimal('0.01'))
        elif kind == 'duplicate':
            target = None
            if j % 40 < 20 and j >= 20:
                # the serial of an earlier line of this file
                serial = f'SN{j - 17:09d}'
            else:
                # a line of a previous import
                serial = f'OLD{j:09d}'
                seen.append(('serial', serial))
        else:
            target = None
            name = f"未知付款人{j}"
            if j % 2:
                value = -value  # an expense
        lines.append(BankLine(row=j + 2, date=date, name=name,
                amount=value, memo=memo, serial=serial))
        expected.append((kind, target))
    return lines, items, seen, expected


def run_match(count):
    "Return the figures of dualrec.bank.match on count lines and items."
    from dualrec.bank import match
    lines, items, seen, expected = bank_data(count)
    began = time.perf_counter()
    result = match(lines, items, seen=seen)
    elapsed = time.perf_counter() - began
    found = Counter(m.kind for m in result)
    wrong = sum(1 for m, (kind, item) in zip(result, expected)
        if (m.kind, m.item) != (kind, item))
    return {
        'bank_lines': len(lines),
        'open_items': len(items),
        'match_s': round(elapsed, 3),
        'match_lines_per_s': round(len(lines) / elapsed, 1),
        'match_expected': dict(Counter(k for k, _ in expected)),
        'match_found': dict(found),
        'match_wrong': wrong,
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--orders', type=int, default=None,
        help="orders of the large company (default 100000)")
    parser.add_argument('--small', type=int, default=None,
        help="orders of the small company (default --orders / 10)")
    parser.add_argument('--bank-lines', type=int, default=10000)
    parser.add_argument('--quick', action='store_true',
        help="2,000 orders (200 for the small company)")
    parser.add_argument('--sqlite', action='store_true')
    parser.add_argument('--database-uri',
        help="default: that of trytond-postgresql.conf")
    parser.add_argument('--keep', action='store_true',
        help="keep the database")
    args = parser.parse_args()
    orders = args.orders or (2000 if args.quick else 100000)
    small = args.small or max(orders // 10, 1)
    for key, value in KEYS:
        os.environ.setdefault(key, value)
    configs = list(CONFIG)
    sqlite_config = ROOT / 'var' / f'bench-settlement-{os.getpid()}.conf'
    if args.sqlite:
        uri = 'sqlite://'
        # an absolute path: trytond makes a wrong URI of the relative one
        sqlite_config.parent.mkdir(exist_ok=True)
        sqlite_config.write_text(
            f"[database]\npath = {ROOT / 'var' / 'db'}\n")
        configs.append(str(sqlite_config))
    else:
        uri = args.database_uri or config_uri(False)
        configs.append(PG_CONFIG)
    # before trytond.backend is imported: it picks the backend of the URI
    os.environ['TRYTOND_DATABASE_URI'] = uri
    from trytond import config
    config.update_etc(configs)
    figures = {'backend': 'sqlite' if args.sqlite else 'postgresql',
        'counterparties': PARTIES}
    name = f'bench_settlement_{os.getpid()}'
    began = time.perf_counter()
    create_database(name, uri, configs)
    figures['activate_s'] = round(time.perf_counter() - began, 1)
    try:
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        pool = Pool(name)
        with Transaction().start(name, 0, readonly=True):
            pool.init()
        Queries.install()
        user, companies, parties, product, type_, currency = set_up(
            pool, name)
        for label, company, count in [('small', companies[0], small),
                ('large', companies[1], orders)]:
            created, confirmed = create_orders(pool, name, user, company,
                count, parties, product, type_, currency)
            seconds, statements, lines, total, queries = build(
                pool, name, user, company)
            orders_total = order_total(pool, name, company)
            invoice_s, invoice_queries, invoiced = invoice(
                pool, name, user, company, [s.id for s in statements])
            figures.update({
                    f'{label}_orders': count,
                    f'{label}_create_s': round(created, 1),
                    f'{label}_confirm_s': round(confirmed, 1),
                    f'{label}_build_s': round(seconds, 2),
                    f'{label}_build_ms_per_order': round(
                        seconds * 1000 / count, 4),
                    f'{label}_build_queries_per_statement': round(
                        queries / len(statements), 1),
                    f'{label}_statements': len(statements),
                    f'{label}_statement_lines': lines,
                    f'{label}_totals_agree': total == orders_total,
                    f'{label}_invoice_s': round(invoice_s, 1),
                    f'{label}_invoice_ms_per_order': round(
                        invoice_s * 1000 / count, 3),
                    f'{label}_invoice_queries_per_statement': round(
                        invoice_queries / len(statements), 1),
                    f'{label}_invoices_total_agree': invoiced == total,
                    })
        figures['build_ms_per_order_ratio'] = round(
            figures['large_build_ms_per_order']
            / figures['small_build_ms_per_order'], 2)
    finally:
        from trytond.pool import Pool
        Pool.stop(name)
        if not args.keep:
            drop_database(name, uri)
        sqlite_config.unlink(missing_ok=True)
    figures.update(run_match(args.bank_lines))
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == '__main__':
    main()
