# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Fixtures of the value-added services tests (inside a transaction)."""
import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

from trytond.modules.company.tests import create_company, set_company
from trytond.modules.dualrec_core.tests.tools import create_branches, create_user
from trytond.modules.dualrec_orders.tests.tools import (
    add_group, create_party, create_service)
from trytond.pool import Pool

__all__ = ['set_up_valueadd', 'create_batch', 'partner_user', 'set_company']


def create_batch(company, issuer, service, funding=None, **values):
    "Create an active batch of service issued by issuer."
    Batch = Pool().get('dualrec.coupon.batch')
    batch = Batch(name=values.pop('name', f"Batch {service.code}"),
        company=company, issuer=issuer, funding=funding or issuer,
        service=service, face=values.pop('face', "免费洗车一次"), **values)
    batch.save()
    Batch.activate([batch])
    return batch


def partner_user(user, party, stores=()):
    PartnerUser = Pool().get('dualrec.valueadd.user')
    record = PartnerUser(user=user, party=party, stores=list(stores))
    record.save()
    return record


def set_up_valueadd(prefix=''):
    """Return the company, users, parties, stores, services and batches of
    the value-added services tests; logins and codes start with prefix."""
    pool = Pool()
    Currency = pool.get('currency.currency')
    Store = pool.get('dualrec.merchant.store')
    Service = pool.get('dualrec.valueadd.service')
    Agreement = pool.get('dualrec.merchant.agreement')
    Date = pool.get('ir.date')
    p = prefix
    currencies = Currency.search([('code', '=', 'CNY')])
    cny = currencies[0] if currencies else Currency(name="Yuan", code='CNY',
        symbol='¥')
    cny.save()
    company = create_company("示范科技", currency=cny)
    company.timezone = 'Asia/Shanghai'
    company.save()
    branches = create_branches(company)
    users = {
        'valueadd': create_user(f'{p}valueadd', company, None,
            branches['P1']),
        'merchant': create_user(f'{p}merchant', company),
        'merchant_b': create_user(f'{p}merchantb', company),
        'issuer': create_user(f'{p}issuer', company),
        'issuer_b': create_user(f'{p}issuerb', company),
        'app': create_user(f'{p}app', company),
        'finance': create_user(f'{p}finance', company,
            'group_dualrec_finance', branches['P1']),
        'sales': create_user(f'{p}sales', company, 'group_dualrec_sales',
            branches['P1-C1-O1']),
        }
    for name, group in [('valueadd', 'group_valueadd'),
            ('merchant', 'group_valueadd_merchant'),
            ('merchant_b', 'group_valueadd_merchant'),
            ('issuer', 'group_valueadd_issuer'),
            ('issuer_b', 'group_valueadd_issuer'),
            ('app', 'group_valueadd_app')]:
        add_group(users[name], group, module='dualrec_valueadd')
    parties = {
        'insurer': create_party("示范财产保险股份有限公司", f'{p}INS'),
        'insurer_b': create_party("另一家保险公司", f'{p}INSB'),
        'merchant': create_party("洁净洗车服务部", f'{p}MER'),
        'merchant_b': create_party("快修保养中心", f'{p}MERB'),
        }
    for name in ['merchant', 'merchant_b']:
        parties[name].merchant = True
        parties[name].save()
    stores = {
        'tianhe': Store(merchant=parties['merchant'], code='TH',
            name="天河店", region_code='440106'),
        'futian': Store(merchant=parties['merchant'], code='FT',
            name="福田店", region_code='440304'),
        'b': Store(merchant=parties['merchant_b'], code='B1',
            name="番禺店", region_code='440113'),
        }
    Store.save(list(stores.values()))
    partner_user(users['merchant'], parties['merchant'])
    partner_user(users['merchant_b'], parties['merchant_b'])
    partner_user(users['issuer'], parties['insurer'])
    partner_user(users['issuer_b'], parties['insurer_b'])
    with set_company(company):
        product = create_service(f'{p}WASH', name="洗车")
        today = Date.today()
        wash = Service(code=f'{p}wash', name="洗车", product=product)
        wash.save()
        Agreement.save([Agreement(company=company, merchant=m,
                    service=wash, start_date=today - dt.timedelta(days=30),
                    merchant_price=Decimal('25.00'),
                    merchant_tax_rate=Decimal('0.06'),
                    insurer_price=Decimal('35.00'),
                    insurer_tax_rate=Decimal('0.06'))
                for m in [parties['merchant'], parties['merchant_b']]])
        batches = {
            'insurer': create_batch(company, parties['insurer'], wash,
                name="保司洗车券", valid_days=30),
            'own': create_batch(company, company.party, wash,
                name="自营洗车券", binding='bearer', validity='fixed',
                start_date=today - dt.timedelta(days=1),
                end_date=today + dt.timedelta(days=60)),
            'later': create_batch(company, company.party, wash,
                name="下月洗车券", binding='bearer', validity='fixed',
                start_date=today + dt.timedelta(days=10),
                end_date=today + dt.timedelta(days=60)),
            'region': create_batch(company, company.party, wash,
                name="深圳洗车券", binding='bearer', scope='regions',
                regions='440300'),
            'merchant_b': create_batch(company, company.party, wash,
                name="快修专享券", binding='bearer', scope='merchants',
                merchants=[parties['merchant_b']]),
            'twice': create_batch(company, company.party, wash,
                name="两次洗车券", binding='bearer', usage_limit=2),
            }
    return SimpleNamespace(company=company, branches=branches, users=users,
        parties=parties, stores=stores, service=wash, product=product,
        batches=batches)
