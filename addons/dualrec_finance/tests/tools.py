# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Fixtures of the finance tests (inside a ``with_transaction`` test).

``set_up_finance`` gives a company in CNY with its chart of accounts, taxes,
fiscal year, monthly periods and invoice sequences, the users of every role
and two counterparties of each direction; ``confirm_orders`` creates orders
through the order center's entry point, as the lines of business do."""
import datetime as dt
import itertools
from decimal import Decimal

from trytond.modules.company.tests import set_company
from trytond.modules.dualrec_core.tests.tools import (
    as_user, create_branches, create_user)
from trytond.modules.dualrec_orders.tests.tools import (
    add_group, create_party, create_service)
from trytond.pool import Pool
from trytond.transaction import Transaction

__all__ = ['as_user', 'set_company', 'set_up_finance', 'confirm_orders',
    'add_group', 'TODAY']

TODAY = dt.date(2026, 11, 30)


def create_cny_company(name="示范保险科技有限公司"):
    pool = Pool()
    Currency = pool.get('currency.currency')
    Party = pool.get('party.party')
    Company = pool.get('company.company')
    currencies = Currency.search([('code', '=', 'CNY')])
    if currencies:
        currency, = currencies
    else:
        currency, = Currency.create([{
                    'name': "Chinese Yuan", 'symbol': '¥', 'code': 'CNY',
                    'rounding': Decimal('0.01'), 'digits': 2}])
    party, = Party.create([{'name': name, 'addresses': [('create', [{}])]}])
    company = Company(party=party, currency=currency,
        timezone='Asia/Shanghai')
    company.save()
    return company


def set_up_accounting(company, today=TODAY):
    "Set company up with the Chinese chart, fiscal year and periods."
    from trytond.modules.dualrec_finance.accounting import (
        set_up_company_accounting)
    with Transaction().set_user(0), set_company(company):
        return set_up_company_accounting(company, today)


def set_up_finance(today=TODAY):
    """Return (company, branches, users by role, parties by code, products by
    code).  Parties: INS1, INS2 (insurers, receivable), MER1, MER2
    (merchants, payable)."""
    company = create_cny_company()
    branches = create_branches(company)
    users = {
        'orders': create_user('orders', company),
        'finance': create_user('finance', company, 'group_dualrec_finance',
            branches['P1']),
        'manager': create_user('manager', company, 'group_dualrec_manager',
            branches['P1-C1']),
        'sales': create_user('sales', company, 'group_dualrec_sales',
            branches['P1-C1-O1']),
        'reviewer': create_user('reviewer', company,
            'group_dualrec_reviewer', branches['P1']),
        }
    add_group(users['orders'], 'group_order_center')
    parties = {code: create_party(name, code) for name, code in [
            ("示范财产保险股份有限公司", 'INS1'),
            ("安心人寿保险股份有限公司", 'INS2'),
            ("洁净洗车服务部", 'MER1'),
            ("畅行代驾服务有限公司", 'MER2'),
            ]}
    with set_company(company):
        set_up_accounting(company, today)
        products = {code: create_service(code) for code in ['WASH', 'TPA']}
    return company, branches, users, parties, products


_refs = itertools.count(1)


def confirm_orders(company, party, product, count=1, date=TODAY,
        type_='valueadd', unit_price='106.00', tax_rate='0.06',
        quantity=1, source='test', **values):
    """Create count confirmed orders of one line through Order.create_from,
    as the lines of business do."""
    Order = Pool().get('dualrec.order')
    vlist = [dict({
                'company': company.id,
                'type_': type_,
                'counterparty': party.id,
                'date': date,
                'source': source,
                'external_ref': f'T{next(_refs):07d}',
                'lines': [{'product': product.id,
                        'quantity': Decimal(quantity),
                        'unit_price': Decimal(unit_price),
                        'tax_rate': tax_rate}],
                }, **values)
        for _ in range(count)]
    with Transaction().set_user(0), set_company(company):
        return Order.create_from(vlist)
