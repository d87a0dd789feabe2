# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Demo data of the order center: a dozen service products, three insurers
and four merchants, the order center's demo user and 200 orders of the last
three months in every state, with their back-dated trace and extension data.

Loaded by ``./run.sh`` (scripts/setup_db.py) after the demo data of
dualrec_core, whose company and branch tree it uses.  The orders go through
the real workflow (create, confirm, cancel_with_reason, invoice, settle)
with ``Order.now()`` back-dated by the ``_dualrec_now`` context key, which
RPC (and so proteus) drops: ``load`` opens a trytond transaction itself.
Deterministic: the same seed gives the same orders.
"""
import datetime as dt
import random
from decimal import Decimal
from zoneinfo import ZoneInfo

from trytond.pool import Pool
from trytond.transaction import Transaction

SOURCE = 'demo'
COMPANY = "示范保险股份有限公司"
USER = ('orders', "订单专员 赵磊", 'E6001')
# code, name, order type code, unit price (VAT incl.), VAT rate, quantities
SERVICES = [
    ('SV-WASH', "洗车", 'valueadd', '35.00', '0.06', (1, 1)),
    ('SV-DRIVE', "代驾", 'valueadd', '98.00', '0.06', (1, 1)),
    ('SV-MAINT', "保养", 'valueadd', '388.00', '0.06', (1, 1)),
    ('SV-RESCUE', "道路救援", 'valueadd', '260.00', '0.06', (1, 1)),
    ('SV-INSPECT', "年检代办", 'valueadd', '150.00', '0.06', (1, 1)),
    ('SV-RISK', "车辆风险评估", 'risk', '180.00', '0.06', (1, 1)),
    ('SV-PLATE', "挪车牌", 'plate', '25.00', '0.13', (50, 500)),
    ('SV-CALL', "隐私号通话", 'call', '0.12', '0.06', (200, 5000)),
    ('SV-TPA', "TPA技术服务", 'technical', '12000.00', '0.06', (1, 1)),
    ('SV-ADV', "广告投放", 'technical', '6800.00', '0.06', (1, 1)),
    ('SV-PROMO', "渠道推广服务", 'promotion', '30.00', '0.06', (20, 200)),
    ('SV-FEE', "推广费", 'payout', '50.00', '0.01', (5, 60)),
    ]
INSURERS = [
    ('INS01', "鼎安财产保险股份有限公司"),
    ('INS02', "瑞丰财产保险股份有限公司"),
    ('INS03', "嘉禾人寿保险股份有限公司"),
    ]
# code, name, store name, services it delivers
MERCHANTS = [
    ('MER01', "洁净汽车美容服务部", "洁净汽车美容", ['SV-WASH']),
    ('MER02', "安途代驾服务有限公司", "安途代驾", ['SV-DRIVE']),
    ('MER03', "车之家汽车维修保养有限公司", "车之家",
        ['SV-MAINT', 'SV-INSPECT']),
    ('MER04', "速援道路救援服务有限公司", "速援救援", ['SV-RESCUE']),
    ]
# order type code, weight
TYPES = [('valueadd', 90), ('risk', 30), ('promotion', 20), ('plate', 15),
    ('call', 15), ('technical', 15), ('payout', 15)]
# branch code: region code, district, street addresses
REGIONS = {
    'GD-GZ-01': ('440106', "广州市天河区", ["天河路385号", "体育西路191号",
            "珠江新城华夏路10号"]),
    'GD-GZ-02': ('440104', "广州市越秀区", ["北京路168号", "环市东路339号"]),
    'GD-SZ-01': ('440304', "深圳市福田区", ["深南大道6008号", "福华三路88号"]),
    'GD-SZ-02': ('440305', "深圳市南山区", ["科技园南区高新南一道",
            "南海大道2163号"]),
    'ZJ-HZ-01': ('330106', "杭州市西湖区", ["文三路259号", "曙光路122号"]),
    'ZJ-HZ-02': ('330108', "杭州市滨江区", ["江南大道3850号", "网商路599号"]),
    'ZJ-NB-01': ('330203', "宁波市海曙区", ["中山西路138号", "药行街56号"]),
    'ZJ-NB-02': ('330212', "宁波市鄞州区", ["天童南路588号", "四明中路999号"]),
    }
# GD writes more business than ZJ
BRANCH_WEIGHTS = {'GD-GZ-01': 6, 'GD-GZ-02': 4, 'GD-SZ-01': 5, 'GD-SZ-02': 4,
    'ZJ-HZ-01': 3, 'ZJ-HZ-02': 2, 'ZJ-NB-01': 2, 'ZJ-NB-02': 2}
VEHICLES = ["丰田凯美瑞", "本田雅阁", "大众帕萨特", "比亚迪汉EV", "特斯拉Model 3",
    "日产轩逸", "别克GL8", "吉利星越L", "宝马3系", "理想L7"]
# hours of use (local time) and their weights, per service
HOURS = {
    'SV-DRIVE': [(19, 2), (20, 4), (21, 6), (22, 6), (23, 4), (0, 2)],
    'SV-RESCUE': [(h, 1) for h in range(24)] + [(8, 3), (18, 3)],
    }
DAY_HOURS = [(8, 1), (9, 3), (10, 5), (11, 5), (12, 2), (13, 2), (14, 4),
    (15, 5), (16, 5), (17, 3), (18, 2), (19, 1)]
RATINGS = [(1, 3), (2, 5), (3, 12), (4, 35), (5, 45)]
COMMENTS = {
    1: ["等了一个多小时，体验很差", "服务态度不好"],
    2: ["服务一般，有待改进", "预约时间没有按时到"],
    3: ["还可以", "中规中矩"],
    4: ["服务不错", "师傅很专业", "整体满意"],
    5: ["非常满意，下次还来", "服务很好，速度快", "师傅很耐心，点赞"],
    }
CANCEL_REASONS = ["客户取消服务预约", "重复下单，以先前订单为准", "保险公司撤回委托",
    "服务商无法履约", "价格有误，重新下单"]
DESCRIPTIONS = {
    'technical': "{month}月{service}费",
    'promotion': "{month}月续保线索推广",
    'payout': "{month}月推广费结算",
    'plate': "智能挪车牌采购",
    'call': "{month}月挪车隐私号通话费",
    }


def loaded():
    "Tell whether the demo orders exist already (through proteus)."
    from proteus import Model
    Order = Model.get('dualrec.order')
    return bool(Order.find([('source', '=', SOURCE)], limit=1))


def load(password, count=200, seed=2026):
    """Load the demo data of the order center into the database proteus is
    connected to, in a transaction of its own."""
    from proteus.config import get_config
    database = get_config().database_name
    with Transaction().start(database, 0) as transaction:
        Company = Pool().get('company.company')
        company, = Company.search([('party.name', '=', COMPANY)])
        load_data(company, password, count=count, seed=seed)
        transaction.commit()


def load_data(company, password, count=200, seed=2026):
    """Create the services, parties, the order center's user and count
    orders of company in the current transaction; return the orders."""
    pool = Pool()
    User = pool.get('res.user')
    with Transaction().set_context(company=company.id,
            companies=[company.id]):
        products = create_services()
        insurers, merchants = create_parties()
        user = create_user(company, password)
        finance = User.search([('login', '=', 'finance')], limit=1)
        return create_orders(company, products, insurers, merchants,
            user, finance[0] if finance else user, count=count, seed=seed)


def create_services():
    "Create the service products; return them by code."
    pool = Pool()
    Template = pool.get('product.template')
    ModelData = pool.get('ir.model.data')
    unit = ModelData.get_id('product', 'uom_unit')
    templates = Template.create([{
                'name': name,
                'code': code,
                'type': 'service',
                'default_uom': unit,
                'list_price': Decimal(price),
                'products': [('create', [{}])],
                } for code, name, _, price, _, _ in SERVICES])
    return {t.code: t.products[0] for t in templates}


def create_parties():
    "Create the insurers and merchants; return them by code."
    Party = Pool().get('party.party')
    insurers = Party.create([{'code': c, 'name': n} for c, n in INSURERS])
    merchants = Party.create([{'code': c, 'name': n}
            for c, n, _, _ in MERCHANTS])
    return ({p.code: p for p in insurers}, {p.code: p for p in merchants})


def create_user(company, password):
    "Create the demo user of the order center."
    pool = Pool()
    User = pool.get('res.user')
    Lang = pool.get('ir.lang')
    ModelData = pool.get('ir.model.data')
    login, name, number = USER
    langs = Lang.search([('code', '=', 'zh_CN'), ('translatable', '=', True)],
        limit=1)
    user, = User.create([{
                'login': login,
                'name': name,
                'password': password,
                'employee_number': number,
                'language': langs[0].id if langs else None,
                'companies': [('add', [company.id])],
                'company': company.id,
                'groups': [('add', [ModelData.get_id(
                                'dualrec_orders', 'group_order_center')])],
                }])
    return user


def _weighted(rng, pairs):
    values, weights = zip(*pairs)
    return rng.choices(values, weights)[0]


def plan(rng, count, today, now, tz, branches, insurers, merchants):
    """Return the plans of count orders: their values (without the ids of
    the records) and their steps as (UTC time, action, argument), in
    business date order.  Pure: the same rng gives the same plans."""
    services = {}
    for code, name, type_, price, rate, quantities in SERVICES:
        services.setdefault(type_, []).append(
            (code, name, Decimal(price), Decimal(rate), quantities))
    store_of = {s: (code, store) for code, _, store, codes in MERCHANTS
        for s in codes}
    branch_pairs = [(b, BRANCH_WEIGHTS.get(b, 1)) for b in branches]

    def utc(date, hour, minute):
        local = dt.datetime.combine(date, dt.time(hour, minute), tzinfo=tz)
        return local.astimezone(dt.timezone.utc).replace(tzinfo=None)

    dates = sorted(today - dt.timedelta(days=rng.randrange(90))
        for _ in range(count))
    plans = []
    for i, date in enumerate(dates, 1):
        type_ = _weighted(rng, TYPES)
        code, name, price, rate, (q_min, q_max) = rng.choice(services[type_])
        branch = _weighted(rng, branch_pairs)
        region, district, streets = REGIONS.get(
            branch, ('440106', "广州市天河区", ["天河路385号"]))
        location = district + rng.choice(streets)
        extension = {}
        direction = None
        if type_ == 'valueadd':
            hour = _weighted(rng, HOURS.get(code, DAY_HOURS))
            use_time = utc(date, hour, rng.randrange(60))
            created = use_time + dt.timedelta(minutes=rng.randint(20, 240))
            merchant, store = store_of[code]
            extension = {
                'use_time': use_time,
                'vehicle_model': rng.choice(VEHICLES),
                'region_code': region,
                'location': location,
                'merchant_store': f"{store}{district[3:]}店",
                }
            # merchants are rated the better the lower their number
            if rng.random() < 0.85:
                rating = _weighted(rng, RATINGS)
                if merchant == 'MER04' and rating > 2 and rng.random() < 0.3:
                    rating -= 1
                extension['service_rating'] = rating
                if rng.random() < 0.6:
                    extension['comment'] = rng.choice(COMMENTS[rating])
            # the coupon's service is billed to the insurer, the merchant's
            # redemption fee is owed to it
            if rng.random() < 0.3:
                counterparty, direction = merchant, 'payable'
                price = (price * Decimal('0.7')).quantize(Decimal('0.01'))
            else:
                counterparty = rng.choice(list(insurers))
        else:
            created = utc(date, _weighted(rng, DAY_HOURS), rng.randrange(60))
            if type_ == 'payout':
                counterparty = rng.choice(list(merchants))
            else:
                counterparty = rng.choice(list(insurers))
            if type_ in {'risk', 'call'}:
                extension['use_time'] = created - dt.timedelta(
                    hours=rng.randint(1, 20))
            if type_ in {'risk', 'promotion'}:
                extension['vehicle_model'] = rng.choice(VEHICLES)
            if type_ in {'risk', 'promotion'}:
                extension['location'] = location
            extension['region_code'] = region
        if created >= now:
            created = now - dt.timedelta(minutes=rng.randint(5, 60))
        quantity = Decimal(rng.randint(q_min, q_max))
        if type_ == 'technical':
            price = (price * Decimal(rng.randint(5, 30)) / 10).quantize(
                Decimal('0.01'))
        lines = [{'product': code, 'quantity': quantity,
                'unit_price': price, 'tax_rate': rate}]
        if code == 'SV-MAINT' and rng.random() < 0.3:
            lines.append({'product': code, 'description': "会员折扣",
                    'quantity': Decimal(-1),
                    'unit_price': (price / 10).quantize(Decimal('0.01')),
                    'tax_rate': rate})
        description = DESCRIPTIONS.get(type_)
        values = {
            'date': date,
            'type_': type_,
            'direction': direction,
            'branch': branch,
            'counterparty': counterparty,
            'external_ref': f'DEMO-{i:04d}',
            'description': (description.format(
                    month=date.month, service=name) if description else None),
            'extension': extension,
            'lines': lines,
            }
        steps = [(created, 'create', None)]
        roll = rng.random()
        confirmed = created + dt.timedelta(hours=rng.uniform(0.5, 72))
        invoiced = confirmed + dt.timedelta(days=rng.uniform(5, 25))
        settled = invoiced + dt.timedelta(days=rng.uniform(5, 30))
        if roll < 0.08:
            pass
        elif roll < 0.12:
            steps.append((created + dt.timedelta(hours=rng.uniform(1, 48)),
                    'cancel', rng.choice(CANCEL_REASONS)))
        elif confirmed < now:
            steps.append((confirmed, 'confirm', None))
            if roll < 0.16:
                cancelled = confirmed + dt.timedelta(days=rng.uniform(1, 5))
                if cancelled < now:
                    steps.append((cancelled, 'cancel',
                            rng.choice(CANCEL_REASONS)))
            elif roll >= 0.26 and invoiced < now:
                steps.append((invoiced, 'invoice', None))
                if roll >= 0.36 and settled < now:
                    steps.append((settled, 'settle', None))
        steps = [s for s in steps if s[0] < now]
        plans.append((values, steps))
    return plans


def create_orders(company, products, insurers, merchants, user, finance,
        count=200, seed=2026):
    """Create count orders of company planned with seed, run through their
    workflow at their back-dated times by user (finance invoices and
    settles them); return the orders."""
    pool = Pool()
    Order = pool.get('dualrec.order')
    OrderType = pool.get('dualrec.order.type')
    Branch = pool.get('dualrec.branch')
    Date = pool.get('ir.date')
    transaction = Transaction()
    types = {t.code: t for t in OrderType.search([])}
    branches = {b.code: b for b in Branch.search(
            [('company', '=', company.id)])}
    # the outlets of the demo tree, or any branch of another company
    branches = {c: b for c, b in branches.items() if c in REGIONS} or branches
    parties = {**insurers, **merchants}
    tz = ZoneInfo(company.timezone) if company.timezone else dt.timezone.utc
    rng = random.Random(seed)
    with transaction.set_context(company=company.id):
        today = Date.today()
    plans = plan(rng, count, today, dt.datetime.now(), tz, sorted(branches),
        insurers, merchants)
    steps = []
    for index, (values, order_steps) in enumerate(plans):
        for time, action, argument in order_steps:
            steps.append((time, index, action, argument))
    steps.sort(key=lambda s: (s[0], s[1]))
    orders = [None] * len(plans)
    users = {'create': user, 'confirm': user, 'cancel': user,
        'invoice': finance, 'settle': finance}
    contexts = {u.id: _preferences(u) for u in {user, finance}}
    for time, index, action, argument in steps:
        with transaction.set_user(users[action].id), \
                transaction.set_context(contexts[users[action].id]), \
                transaction.set_context(_dualrec_now=time):
            if action == 'create':
                values = plans[index][0]
                type_ = types[values['type_']]
                keys = {k.name for k in type_.extension_keys}
                extension = {k: v for k, v in values['extension'].items()
                    if k in keys}
                with transaction.set_context(date=values['date']):
                    orders[index], = Order.create([{
                                'company': company.id,
                                'branch': branches[values['branch']].id,
                                'type_': type_.id,
                                'direction': (values['direction']
                                    or type_.direction),
                                'counterparty': parties[
                                    values['counterparty']].id,
                                'date': values['date'],
                                'source': SOURCE,
                                'external_ref': values['external_ref'],
                                'description': values['description'],
                                'extension': extension or None,
                                'lines': [('create', [{
                                                **l, 'product': products[
                                                    l['product']].id}
                                            for l in values['lines']])],
                                }])
            else:
                order = Order(orders[index].id)
                if action == 'confirm':
                    Order.confirm([order])
                elif action == 'cancel':
                    Order.cancel_with_reason([order], argument)
                elif action == 'invoice':
                    Order.invoice([order])
                elif action == 'settle':
                    Order.settle([order])
    return Order.browse([o.id for o in orders])


def _preferences(user):
    "Return the context of user's preferences."
    User = Pool().get('res.user')
    with Transaction().set_user(user.id):
        return User.get_preferences(context_only=True)
