# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The value-added services demo: five service types with their products,
four merchants of Guangzhou and Shenzhen with their stores and agreements,
the users of the back office, of two merchants' staff and of an insurer's
policy system, and 500 coupons of three batches in every state.

Loaded by ``./run.sh`` (scripts/setup_db.py) after the finance demo, on the
order center's demo company; the insurers and merchants of the order
center's demo are reused when they exist.  The coupons go through the real
code: issued by ``Batch.issue``, redeemed by the merchants' staff users
through ``Redemption.redeem`` (which creates the merchant and insurer
orders), returned by ``Redemption.return_``, rated by ``Redemption.rate``,
cancelled by ``Coupon.cancel`` and expired by ``Coupon.expire``.  Only the
issue dates are back-dated (by SQL, on the demo only): the coupons were
issued over the last months, and some of them have expired since.  The
redemptions are of today, as the merchant API accepts them.
Deterministic but for the codes: the same seed gives the same coupons.
"""
import datetime as dt
import random
from decimal import Decimal

from trytond.pool import Pool
from trytond.transaction import Transaction

from . import demo_plates

# code, product code, name, merchant price, insurer price (VAT incl., 6 %)
SERVICES = [
    ('wash', 'VAS-WASH', "洗车", '25.00', '35.00'),
    ('driver', 'VAS-DRIVE', "代驾", '68.00', '98.00'),
    ('maintenance', 'VAS-MAINT', "保养", '298.00', '388.00'),
    ('inspection', 'VAS-INSPECT', "年检代办", '110.00', '150.00'),
    ('rescue', 'VAS-RESCUE', "道路救援", '200.00', '260.00'),
    ]
TAX_RATE = Decimal('0.06')
# the codes and names of the order center's demo parties
INSURERS = [
    ('INS01', "鼎安财产保险股份有限公司"),
    ('INS02', "瑞丰财产保险股份有限公司"),
    ]
# code, name, services, stores: code, name, address, region code,
# latitude, longitude (GCJ-02), phone, opening hours
MERCHANTS = [
    ('MER01', "洁净汽车美容服务部", ['wash'], [
            ('TH01', "洁净汽车美容 天河店", "广州市天河区天河路385号",
                '440106', 23.132410, 113.327620, '020-38881234',
                '08:30-20:00'),
            ('FT01', "洁净汽车美容 福田店", "深圳市福田区福华三路88号",
                '440304', 22.538120, 114.058860, '0755-83451234',
                '08:00-21:00'),
            ('NS01', "洁净汽车美容 南山店", "深圳市南山区南海大道2163号",
                '440305', 22.520370, 113.925150, '0755-26661234',
                '08:30-20:30'),
            ]),
    ('MER02', "安途代驾服务有限公司", ['driver'], [
            ('SZ01', "安途代驾 深圳服务中心", "深圳市福田区深南大道6008号",
                '440304', 22.541260, 114.030540, '0755-82001234',
                '18:00-02:00'),
            ]),
    ('MER03', "车之家汽车维修保养有限公司",
        ['maintenance', 'inspection', 'wash'], [
            ('YX01', "车之家 越秀店", "广州市越秀区环市东路339号", '440104',
                23.137560, 113.288120, '020-83331234', '09:00-18:00'),
            ('TH02', "车之家 天河店", "广州市天河区体育西路191号", '440106',
                23.139180, 113.322050, '020-38001234', '09:00-18:30'),
            ('BA01', "车之家 宝安店", "深圳市宝安区新安街道创业一路1001号",
                '440306', 22.556340, 113.884020, '0755-27771234',
                '08:30-18:00'),
            ]),
    ('MER04', "速援道路救援服务有限公司", ['rescue'], [
            ('GZ01', "速援 广州调度中心", "广州市白云区机场路1288号",
                '440111', 23.187320, 113.269450, '020-36001234',
                '00:00-24:00'),
            ('SZ01', "速援 深圳调度中心", "深圳市龙岗区龙岗大道8288号",
                '440307', 22.720150, 114.247380, '0755-28881234',
                '00:00-24:00'),
            ]),
    ]
# login, name, employee number, group, partner code (stores)
USERS = [
    ('valueadd', "增值服务专员 孙悦", 'E7001', 'group_valueadd', None),
    ('merchant1', "洁净汽车美容 核销员 周强", None,
        'group_valueadd_merchant', 'MER01'),
    ('merchant2', "车之家 核销员 吴婷", None, 'group_valueadd_merchant',
        'MER03'),
    ('insurer_api', "鼎安财产 出单系统", None, 'group_valueadd_issuer',
        'INS01'),
    ('plates', "挪车牌专员 郑凯", 'E7002', 'group_plate', None),
    ('agent1', "业务员 陈志明", None, 'group_plate_agent', 'AGT01'),
    ('agent2', "业务员 林晓燕", None, 'group_plate_agent', 'AGT02'),
    ('agent3', "业务员 黄俊杰", None, 'group_plate_agent', 'AGT03'),
    ]
# the public address of the scan page printed on the demo plates
PLATE_URL = 'https://nc.example.cn/m'
# serials of the demo plate batch: NC<year>000001 to NC<year>001000
PLATE_COUNT = 1000
# key, issuer (an insurer code or None: the company), values, count,
# counts of the coupons redeemed, returned (redeemed, then returned) and
# cancelled, and the days back over which they were issued
BATCHES = [
    ('wash', 'INS01', {
            'name': "鼎安车险客户免费洗车券",
            'service': 'wash',
            'face': "免费精致洗车一次",
            'validity': 'days',
            'valid_days': 365,
            'binding': 'bound',
            'scope': 'all',
            }, 220, 100, 8, 6, 120),
    ('maintenance', 'INS02', {
            'name': "瑞丰车险广东客户小保养券",
            'service': 'maintenance',
            'face': "免费小保养一次（机油、机滤、工时）",
            'validity': 'days',
            'valid_days': 90,
            'binding': 'bound',
            'scope': 'regions',
            'regions': '440000',
            }, 140, 40, 3, 4, 150),
    ('inspection', None, {
            'name': "车之家年检代办体验券",
            'service': 'inspection',
            'face': "年检代办服务一次",
            'validity': 'fixed',
            'binding': 'bearer',
            'scope': 'merchants',
            'quantity': 200,
            }, 140, 40, 4, 5, 90),
    ]
# where each batch is redeemed: staff login, store codes
REDEEMED_AT = {
    'wash': [('merchant1', ['TH01', 'FT01', 'NS01']),
        ('merchant2', ['TH02'])],
    'maintenance': [('merchant2', ['YX01', 'TH02', 'BA01'])],
    'inspection': [('merchant2', ['YX01', 'TH02', 'BA01'])],
    }
OPERATORS = {
    'merchant1': ["周强", "黄丽", "梁志明"],
    'merchant2': ["吴婷", "何家豪", "罗小红"],
    }
SURNAMES = "陈林黄张李王吴刘蔡杨许郑谢郭洪曾邱廖赖周徐苏叶庄吕江何萧罗"
GIVEN_NAMES = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳",
    "勇", "军", "杰", "娟", "涛", "明", "超", "秀英", "志强", "嘉欣",
    "俊杰", "晓东", "美玲", "家豪", "子轩"]
VEHICLES = ["丰田凯美瑞", "本田雅阁", "大众帕萨特", "比亚迪汉EV", "特斯拉Model 3",
    "日产轩逸", "别克GL8", "吉利星越L", "宝马3系", "理想L7", "广汽埃安S",
    "小鹏P7"]
# Guangdong's plate letters: 广州 A, 深圳 B, 佛山 E, 东莞 S
PLATE_CITIES = [('A', 5), ('B', 5), ('E', 1), ('S', 1)]
PLATE_SYMBOLS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
PHONE_PREFIXES = ['138', '139', '136', '137', '135', '150', '151', '158',
    '159', '186', '187', '188', '189', '177', '199']
RATINGS = [(1, 3), (2, 5), (3, 12), (4, 35), (5, 45)]
COMMENTS = {
    1: ["等了一个多小时，体验很差", "服务态度不好"],
    2: ["服务一般，有待改进", "预约时间没有按时到"],
    3: ["还可以", "中规中矩"],
    4: ["服务不错", "师傅很专业", "整体满意"],
    5: ["非常满意，下次还来", "服务很好，速度快", "师傅很耐心，点赞"],
    }
RETURN_REASONS = ["车主临时取消服务", "误核销，车主未到店",
    "重复核销，已与车主确认"]
RATED = 0.6


def loaded():
    "Tell whether the demo coupons exist already (through proteus)."
    from proteus import Model
    Batch = Model.get('dualrec.coupon.batch')
    return bool(Batch.find([('name', '=', BATCHES[0][2]['name'])], limit=1))


def load(password=None, seed=2026):
    """Load the value-added services demo into the database proteus is
    connected to, in a transaction of its own, on the order center's demo
    company."""
    from proteus.config import get_config

    from trytond.modules.dualrec_orders.demo import COMPANY
    database = get_config().database_name
    # the configuration singleton is created under a lock of its table,
    # which a transaction takes when it starts
    with Transaction().start(database, 0, _lock_tables=[
                'dualrec_valueadd_configuration']) as transaction:
        Company = Pool().get('company.company')
        company, = Company.search([('party.name', '=', COMPANY)])
        load_data(company, password=password, seed=seed)
        transaction.commit()


def load_data(company, password=None, seed=2026):
    """Create the services, merchants, users, batches and coupons of
    company in the current transaction; return the batches."""
    rng = random.Random(seed)
    with Transaction().set_context(company=company.id,
            companies=[company.id]):
        services = create_services()
        insurers = get_insurers()
        merchants = create_merchants(company, services)
        agents = demo_plates.create_agents()
        users = create_users(company, password,
            {**insurers, **merchants, **agents})
        batches = create_batches(company, services, insurers, merchants)
        work_coupons(company, batches, users, rng)
        plate_batch = create_plates(company, users['plates'])
        demo_plates.load_data(company, plate_batch, users, insurers, agents,
            rng)
        return batches


def create_plates(company, user):
    """Set the scan URL of the plates and produce, as the plate staff
    user, one batch of PLATE_COUNT plates of the plate product; return
    the batch."""
    pool = Pool()
    Template = pool.get('product.template')
    Batch = pool.get('dualrec.plate.batch')
    Configuration = pool.get('dualrec.valueadd.configuration')
    ModelData = pool.get('ir.model.data')
    Date = pool.get('ir.date')
    config = Configuration(1)
    config.plate_url = PLATE_URL
    # the demo calls and texts through the in-process simulators
    config.privacy_provider = 'simulator'
    config.sms_provider = 'simulator'
    config.save()
    template, = Template.create([{
                'name': "智能挪车牌（标准款）",
                # sold through the order center, whose lines are services
                # (the plates' stock is the plate register, not stock moves)
                'type': 'service',
                'default_uom': ModelData.get_id('product', 'uom_unit'),
                'list_price': Decimal('9.90'),
                'products': [('create', [{'suffix_code': 'NC-STD'}])],
                }])
    with Transaction().set_user(user.id):
        batch, = Batch.create([{
                    'company': company.id,
                    'product': template.products[0].id,
                    'prefix': 'NC',
                    'year': Date.today().year,
                    'first': 1,
                    'last': PLATE_COUNT,
                    }])
        Batch.produce([batch])
    return batch


def create_services():
    "Create the service types and their products; return them by code."
    pool = Pool()
    Template = pool.get('product.template')
    Service = pool.get('dualrec.valueadd.service')
    ModelData = pool.get('ir.model.data')
    unit = ModelData.get_id('product', 'uom_unit')
    templates = Template.create([{
                'name': name,
                'type': 'service',
                'default_uom': unit,
                'list_price': Decimal(price),
                'products': [('create', [{'suffix_code': product}])],
                } for _, product, name, _, price in SERVICES])
    services = Service.create([{
                'code': code,
                'name': name,
                'product': template.products[0].id,
                } for (code, _, name, _, _), template in zip(
                SERVICES, templates)])
    return {s.code: s for s in services}


def _parties(specs):
    "Return the parties of specs (code, name) by code, created if missing."
    Party = Pool().get('party.party')
    parties = {p.code: p for p in Party.search(
            [('code', 'in', [c for c, _ in specs])])}
    missing = [{'code': c, 'name': n} for c, n in specs if c not in parties]
    parties.update({p.code: p for p in Party.create(missing)})
    return parties


def get_insurers():
    "Return the insurers of the batches by code (the order center's)."
    return _parties(INSURERS)


def create_merchants(company, services):
    """Mark the merchants (the order center's, or new ones), create their
    stores and their agreements from January 1st; return them by code."""
    pool = Pool()
    Party = pool.get('party.party')
    Store = pool.get('dualrec.merchant.store')
    Agreement = pool.get('dualrec.merchant.agreement')
    Date = pool.get('ir.date')
    merchants = _parties([(c, n) for c, n, _, _ in MERCHANTS])
    Party.write(list(merchants.values()), {'merchant': True})
    Store.create([{
                'merchant': merchants[code].id,
                'code': store,
                'name': name,
                'address': address,
                'region_code': region,
                'latitude': latitude,
                'longitude': longitude,
                'phone': phone,
                'opening_hours': hours,
                } for code, _, _, stores in MERCHANTS
            for (store, name, address, region, latitude, longitude, phone,
                hours) in stores])
    start = Date.today().replace(month=1, day=1)
    prices = {code: (Decimal(m), Decimal(i))
        for code, _, _, m, i in SERVICES}
    Agreement.create([{
                'company': company.id,
                'merchant': merchants[code].id,
                'service': services[service].id,
                'start_date': start,
                'merchant_price': prices[service][0],
                'merchant_tax_rate': TAX_RATE,
                'insurer_price': prices[service][1],
                'insurer_tax_rate': TAX_RATE,
                } for code, _, codes, _ in MERCHANTS for service in codes])
    return merchants


def create_users(company, password, partners):
    """Create the demo users of the value-added services, bound to their
    partner; return them by login."""
    pool = Pool()
    User = pool.get('res.user')
    Lang = pool.get('ir.lang')
    ModelData = pool.get('ir.model.data')
    PartnerUser = pool.get('dualrec.valueadd.user')
    langs = Lang.search([('code', '=', 'zh_CN'), ('translatable', '=', True)],
        limit=1)
    vlist = []
    for login, name, number, group, _ in USERS:
        values = {
            'login': login,
            'name': name,
            'employee_number': number,
            'language': langs[0].id if langs else None,
            'companies': [('add', [company.id])],
            'company': company.id,
            'groups': [('add', [ModelData.get_id(
                                'dualrec_valueadd', group)])],
            }
        if password:
            values['password'] = password
        vlist.append(values)
    users = {u.login: u for u in User.create(vlist)}
    PartnerUser.create([{
                'user': users[login].id,
                'party': partners[partner].id,
                } for login, _, _, _, partner in USERS if partner])
    return users


def create_batches(company, services, insurers, merchants):
    "Create and activate the demo batches; return them by key."
    pool = Pool()
    Batch = pool.get('dualrec.coupon.batch')
    Date = pool.get('ir.date')
    today = Date.today()
    vlist = []
    for key, issuer, values, *_ in BATCHES:
        party = insurers[issuer] if issuer else company.party
        values = dict(values, company=company.id, issuer=party.id,
            funding=party.id, service=services[values['service']].id)
        if values['validity'] == 'fixed':
            values['start_date'] = today.replace(month=1, day=1)
            values['end_date'] = today.replace(month=12, day=31)
        if values['scope'] == 'merchants':
            values['merchants'] = [('add', [merchants['MER03'].id])]
        vlist.append(values)
    batches = Batch.create(vlist)
    Batch.activate(batches)
    return {key: batch for (key, *_), batch in zip(BATCHES, batches)}


def _owner(rng, number, year):
    "Return the owner values of a bound coupon."
    city = _weighted(rng, PLATE_CITIES)
    # a letter or a digit, then four digits (粤B 7K352: 粤B7K352)
    plate = ('粤' + city + rng.choice(PLATE_SYMBOLS)
        + f'{rng.randrange(10 ** 4):04d}')
    return {
        'name': rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES),
        'phone': rng.choice(PHONE_PREFIXES) + f'{rng.randrange(10 ** 8):08d}',
        'plate': plate,
        'vehicle_model': rng.choice(VEHICLES),
        'policy': f'PDAA{year}4403{number:08d}',
        }


def _back_date(batch, coupons, rng, today, days):
    """Date the issue of coupons back over the last days (their validity
    follows): the demo only.  Return the coupons read again."""
    Coupon = Pool().get('dualrec.coupon')
    start = today.replace(month=1, day=1)
    args = []
    for coupon in coupons:
        # a day ago at least: the coupons redeemed today were issued before
        back = rng.randrange(1, days)
        day = today - dt.timedelta(days=back)
        values = {'issued_at': coupon.issued_at - dt.timedelta(days=back),
            'issue_day': day}
        if batch.validity == 'days':
            values['first_day'] = day
            values['last_day'] = day + dt.timedelta(
                days=batch.valid_days - 1)
        elif day < start:
            # a fixed window: issued in it, from its start
            values['issued_at'] = dt.datetime.combine(start, dt.time(1))
            values['issue_day'] = start
        args.extend(([coupon], values))
    # the server writes what the clients may not
    Coupon.write(*args)
    return Coupon.browse([c.id for c in coupons])


def _preferences(user):
    "Return the context of user's preferences."
    User = Pool().get('res.user')
    with Transaction().set_user(user.id):
        return User.get_preferences(context_only=True)


def work_coupons(company, batches, users, rng):
    """Issue the coupons of batches, then redeem, return, rate, cancel and
    expire some of them as the users would."""
    pool = Pool()
    Coupon = pool.get('dualrec.coupon')
    Redemption = pool.get('dualrec.coupon.redemption')
    Date = pool.get('ir.date')
    Store = pool.get('dualrec.merchant.store')
    transaction = Transaction()
    today = Date.today()
    contexts = {login: _preferences(user) for login, user in users.items()}
    number = 0
    redemptions = []
    to_cancel = []
    for key, issuer, values, count, redeemed, returned, cancelled, days in (
            BATCHES):
        batch = batches[key]
        if batch.binding == 'bound':
            owners = []
            for _ in range(count):
                number += 1
                owners.append(_owner(rng, number, today.year))
        else:
            owners = [{} for _ in range(count)]
        coupons = batch.issue(owners)
        phones = {c.id: o.get('phone') for c, o in zip(coupons, owners)}
        coupons = _back_date(batch, coupons, rng, today, days)
        usable = [c for c in coupons if c.last_day >= today]
        rng.shuffle(usable)
        chosen = usable[:redeemed]
        to_cancel += usable[redeemed:redeemed + cancelled]
        places = REDEEMED_AT[key]
        for i, coupon in enumerate(chosen):
            login, stores = places[i % len(places)]
            redemptions.append((coupon, phones[coupon.id], login,
                    rng.choice(stores), i < returned))
    # the redemptions of today, the batches mixed, in the order of their
    # use time
    rng.shuffle(redemptions)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    midnight = _utc_midnight(company, now)
    start = max(midnight, now - dt.timedelta(hours=14))
    span = (now - dt.timedelta(minutes=5) - start).total_seconds()
    times = sorted(start + dt.timedelta(seconds=rng.uniform(0, max(span, 0)))
        for _ in redemptions)
    stores = {(s.merchant.code, s.code): s for s in Store.search([])}
    partners = {login: partner for login, _, _, _, partner in USERS}
    done = []
    for index, ((coupon, phone, login, store, to_return), use_time) in (
            enumerate(zip(redemptions, times), 1)):
        store = stores[(partners[login], store)]
        with transaction.set_user(users[login].id), \
                transaction.set_context(contexts[login]), \
                transaction.set_context(_dualrec_now=use_time
                    + dt.timedelta(minutes=rng.randint(1, 4))):
            redemption, _ = Redemption.redeem(coupon.code, store.code,
                f'{partners[login]}{use_time:%Y%m%d}{index:05d}',
                use_time=use_time, operator=rng.choice(OPERATORS[login]),
                plate=coupon.plate, location=store.address)
            # at once, at the demo's time (not by the worker, later)
            Redemption.create_pending_orders([redemption])
        done.append((redemption, coupon, phone, login, to_return))
    for redemption, coupon, phone, login, to_return in done:
        if to_return:
            with transaction.set_user(users[login].id), \
                    transaction.set_context(contexts[login]):
                Redemption.return_(coupon.code, redemption.request_no,
                    f'R{redemption.request_no}', rng.choice(RETURN_REASONS))
        elif rng.random() < RATED:
            rating = _weighted(rng, RATINGS)
            comment = (rng.choice(COMMENTS[rating])
                if rng.random() < 0.6 else None)
            Redemption.rate(coupon.code, rating, comment=comment,
                phone=phone)
    with transaction.set_user(users['valueadd'].id), \
            transaction.set_context(contexts['valueadd']):
        Coupon.cancel(Coupon.browse([c.id for c in to_cancel]))
    Coupon.expire()


def _utc_midnight(company, now):
    "Return the start of company's day of now (naive UTC)."
    from zoneinfo import ZoneInfo
    tz = ZoneInfo(company.timezone) if company.timezone else dt.timezone.utc
    local = now.replace(tzinfo=dt.timezone.utc).astimezone(tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.astimezone(dt.timezone.utc).replace(tzinfo=None)


def _weighted(rng, pairs):
    values, weights = zip(*pairs)
    return rng.choices(values, weights)[0]
