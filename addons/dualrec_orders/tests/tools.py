# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Fixtures of the order center tests (inside a ``with_transaction`` test)."""
from decimal import Decimal

from trytond.modules.company.tests import create_company, set_company
from trytond.modules.dualrec_core.tests.tools import (
    as_user, create_branches, create_user)
from trytond.pool import Pool

__all__ = ['as_user', 'create_company', 'set_company', 'set_up_orders',
    'create_service', 'create_party', 'order_values', 'add_group']


def create_party(name, code=None):
    Party = Pool().get('party.party')
    party = Party(name=name, code=code)
    party.save()
    return party


def create_service(code, name=None, price=Decimal('100')):
    "Create a service product of code."
    pool = Pool()
    Template = pool.get('product.template')
    Uom = pool.get('product.uom')
    unit, = Uom.search([('name', '=', 'Unit')], limit=1)
    template, = Template.create([{
                'name': name or f"Service {code}",
                'type': 'service',
                'default_uom': unit.id,
                'list_price': price,
                'products': [('create', [{'suffix_code': code}])],
                }])
    product, = template.products
    return product


def add_group(user, xml_id, module='dualrec_orders'):
    "Give user the group xml_id of module."
    pool = Pool()
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    User.write([user], {'groups': [
                ('add', [ModelData.get_id(module, xml_id)])]})


def set_up_orders():
    """Return (company, branches, users by role, parties by name, products
    by code) for the order center tests."""
    company = create_company()
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
        'qc': create_user('qc', company, 'group_dualrec_qc', branches['P1']),
        }
    add_group(users['orders'], 'group_order_center')
    parties = {name: create_party(name, code) for name, code in [
            ("示范财产保险股份有限公司", 'INS1'),
            ("洁净洗车服务部", 'MER1'),
            ]}
    with set_company(company):
        products = {code: create_service(code) for code in ['WASH', 'TPA']}
    return company, branches, users, parties, products


def order_values(company, party, product, branch=None, type_='valueadd',
        quantity=1, unit_price='106.00', tax_rate='0.06', **values):
    "Return the values of a one-line order (for create or create_from)."
    OrderType = Pool().get('dualrec.order.type')
    type_, = OrderType.search([('code', '=', type_)])
    result = {
        'company': company.id,
        'branch': branch.id if branch else None,
        'type_': type_.id,
        'direction': type_.direction,
        'counterparty': party.id,
        'lines': [('create', [{
                        'product': product.id,
                        'quantity': Decimal(quantity),
                        'unit_price': Decimal(unit_price),
                        'tax_rate': Decimal(tax_rate),
                        }])],
        }
    result.update(values)
    return result
