# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The move-car plates of the demo, after the batch of demo.create_plates:
three agents who hold plates, one return, the plate agreements with both
insurers, one purchase in each settlement mode, 200 bound plates and the
call records of their last weeks; the days gone by of the month before are
settled.

Everything goes through the real code: Assignment.do, Purchase.confirm,
Plate.bind (as the agents' API does) and the call-record importer.  Only
the binding times are back-dated (by SQL, on the demo only), so that the
bindings fall in the period settled.
"""
import datetime as dt
from decimal import Decimal

from trytond.pool import Pool
from trytond.transaction import Transaction

# code, name of the agents (业务员) who promote the plates
AGENTS = [
    ('AGT01', "业务员 陈志明"),
    ('AGT02', "业务员 林晓燕"),
    ('AGT03', "业务员 黄俊杰"),
    ]
# agent code, first and last counters of the plates assigned
ASSIGNMENTS = [('AGT01', 1, 300), ('AGT02', 301, 600), ('AGT03', 601, 800)]
RETURNED = ('AGT03', 20)
# insurer code, fee mode, call price, agent fee per binding, per call
AGREEMENTS = [
    ('INS01', 'per_call', '0.50', '2.00', '0.10'),
    ('INS02', 'per_minute', '0.20', '1.50', '0.05'),
    ]
# insurer code, agent code, mode, quantity, unit price (VAT incl.)
PURCHASES = [
    ('INS01', 'AGT01', 'separate', 250, '9.90'),
    ('INS02', 'AGT02', 'merged', 200, '8.80'),
    ]
# plates bound per insurer code: 200 in all
BOUND = {'INS01': 120, 'INS02': 80}
CALL_COUNT = 2000


def create_agents():
    "Return the agents' parties by code, created if missing."
    from .demo import _parties
    return _parties(AGENTS)


def load_data(company, batch, users, insurers, agents, rng):
    """Move, sell and bind the plates of batch; return the purchases by
    insurer code."""
    pool = Pool()
    Assignment = pool.get('dualrec.plate.assignment')
    Purchase = pool.get('dualrec.plate.purchase')
    Agreement = pool.get('dualrec.plate.agreement')
    Template = pool.get('product.template')
    Configuration = pool.get('dualrec.valueadd.configuration')
    ModelData = pool.get('ir.model.data')
    Date = pool.get('ir.date')
    transaction = Transaction()
    today = Date.today()
    unit = ModelData.get_id('product', 'uom_unit')
    call_product, agent_product = Template.create([{
                'name': name,
                'type': 'service',
                'default_uom': unit,
                'list_price': Decimal(0),
                'products': [('create', [{'suffix_code': code}])],
                } for code, name in [
                ('NC-CALL', "挪车隐私通话服务费"),
                ('NC-AGENT', "挪车牌推广服务费"),
                ]])
    config = Configuration(1)
    config.plate_call_product = call_product.products[0]
    config.plate_agent_product = agent_product.products[0]
    config.save()
    Agreement.create([{
                'company': company.id,
                'insurer': insurers[code].id,
                'start_date': today.replace(month=1, day=1),
                'fee_mode': mode,
                'call_price': Decimal(price),
                'call_tax_rate': Decimal('0.06'),
                'agent_bind_fee': Decimal(bind_fee),
                'agent_call_fee': Decimal(call_fee),
                'agent_tax_rate': Decimal(0),
                } for code, mode, price, bind_fee, call_fee in AGREEMENTS])

    def serial(counter):
        return f'{batch.prefix}{batch.year}{counter:06d}'
    with transaction.set_user(users['plates'].id):
        moves = Assignment.create([{
                    'company': company.id,
                    'agent': agents[code].id,
                    'first_serial': serial(first),
                    'last_serial': serial(last),
                    } for code, first, last in ASSIGNMENTS]
            + [{
                    'company': company.id,
                    'agent': agents[RETURNED[0]].id,
                    'kind': 'return',
                    'quantity': RETURNED[1],
                    }])
        for move in moves:
            Assignment.do([move])
        purchases = Purchase.create([{
                    'company': company.id,
                    'insurer': insurers[insurer].id,
                    'agent': agents[agent].id,
                    'mode': mode,
                    'quantity': quantity,
                    'unit_price': Decimal(price),
                    'tax_rate': Decimal('0.13'),
                    'date': today - dt.timedelta(days=45),
                    } for insurer, agent, mode, quantity, price in PURCHASES])
        Purchase.confirm(purchases)
    purchases = {p.insurer.code: p for p in purchases}
    bound = bind_plates(company, purchases, rng)
    receive_calls(bound, rng)
    settle_last_month(company)
    return purchases


def bind_plates(company, purchases, rng):
    """Bind BOUND plates of each purchase as their agents do, back-dated
    5 to 40 days; return the binding time (naive UTC) by plate."""
    pool = Pool()
    Binding = pool.get('dualrec.plate.binding')
    Plate = pool.get('dualrec.plate')
    from .demo import _owner
    cursor = Transaction().connection.cursor()
    table = Binding.__table__()
    plate_table = Plate.__table__()
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    bound = {}
    for code, count in BOUND.items():
        purchase = purchases[code]
        for i, plate in enumerate(purchase.plates[:count]):
            owner = _owner(rng, i, now.year)
            plate.bind(owner['plate'], owner['phone'],
                'agent' if i % 3 else 'owner')
            at = now - dt.timedelta(days=rng.randint(5, 40),
                minutes=rng.randint(0, 600))
            cursor.execute(*table.update([table.at], [at],
                    where=table.plate == plate.id))
            cursor.execute(*plate_table.update([plate_table.bound_at], [at],
                    where=plate_table.id == plate.id))
            bound[plate] = at
    return bound


def call_records(bound, rng, now, count=CALL_COUNT):
    """Yield (line, record) of count call records of the provider to the
    plates of bound (their binding time by plate, naive UTC) between their
    binding and now (naive UTC), in China time as the provider writes."""
    china = dt.timedelta(hours=8)
    plates = sorted(bound, key=lambda p: p.id)
    for i in range(count):
        plate = rng.choice(plates)
        when = bound[plate] + (now - bound[plate]) * rng.uniform(0.01, 0.99)
        when += china
        answer = when + dt.timedelta(seconds=rng.randint(3, 20))
        connected = rng.random() < 0.75
        seconds = rng.randint(8, 300) if connected else 0
        record = {
            'call_id': f'DEMO{i + 1:07d}',
            'sub_id': f'SUB{plate.id:07d}',
            'out_id': plate.serial,
            'phone_no': f'138{rng.randrange(10 ** 8):08d}',
            'secret_no': f'170{rng.randrange(10 ** 8):08d}',
            'peer_no': f'139{rng.randrange(10 ** 8):08d}',
            'call_time': when.strftime('%Y-%m-%d %H:%M:%S'),
            'release_time': (answer + dt.timedelta(seconds=seconds)
                ).strftime('%Y-%m-%d %H:%M:%S'),
            'release_dir': rng.choice(['0', '1', '2']),
            'release_cause': '16' if connected else '19',
            'cost': f'{0.06 * (1 + seconds // 60):.2f}',
            }
        if connected:
            record['start_time'] = answer.strftime('%Y-%m-%d %H:%M:%S')
        else:
            record['unconnected_cause'] = rng.choice(['1', '2', '3'])
        yield i + 1, record


def receive_calls(bound, rng):
    "Import the demo call records of the bound plates, as a file is."
    Call = Pool().get('dualrec.plate.call')
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    return Call.receive(call_records(bound, rng, now), 'import',
        filename='demo-calls.csv')


def settle_last_month(company):
    "Settle the plates up to the end of the month before."
    from .plate_settle import settle
    Date = Pool().get('ir.date')
    end = Date.today().replace(day=1) - dt.timedelta(days=1)
    return settle(company, end.replace(day=1), end)
