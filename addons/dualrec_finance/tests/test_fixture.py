# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from decimal import Decimal

from trytond.pool import Pool
from trytond.tests.test_tryton import _DBTestCase, with_transaction

from .tools import confirm_orders, set_up_finance


class FixtureTestCase(_DBTestCase):
    "Test the finance fixtures"
    module = 'dualrec_finance'

    @with_transaction()
    def test_set_up_finance(self):
        "The company has a chart, twelve periods and confirmed orders"
        pool = Pool()
        Period = pool.get('account.period')
        Account = pool.get('account.account')
        company, _, _, parties, products = set_up_finance()
        self.assertEqual(company.currency.code, 'CNY')
        self.assertEqual(len(Period.search(
                    [('company', '=', company.id),
                        ('type', '=', 'standard')])), 12)
        self.assertTrue(Account.search([('type.receivable', '=', True)]))
        orders = confirm_orders(company, parties['INS1'], products['WASH'],
            count=3)
        self.assertEqual({o.state for o in orders}, {'confirmed'})
        self.assertEqual(sum(o.total_amount for o in orders),
            Decimal('318.00'))
