# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.modules.dualrec_core.tests.tools import create_branches
from trytond.modules.dualrec_finance import demo
from trytond.modules.dualrec_orders import demo as orders_demo
from trytond.pool import Pool
from trytond.tests.test_tryton import _DBTestCase, with_transaction

from .tools import create_cny_company, set_company


class DemoTestCase(_DBTestCase):
    "Test the finance demo"
    module = 'dualrec_finance'

    @with_transaction()
    def test_demo_statements(self):
        "The demo company gets its chart and statements in every state"
        pool = Pool()
        Account = pool.get('account.account')
        company = create_cny_company(orders_demo.COMPANY)
        create_branches(company)
        with set_company(company):
            orders_demo.load_data(company, 'dualrec2026', count=200)
            statements = demo.load_data(company)
            self.assertTrue(Account.search([('code', '=', '22210101')]))
            journal, = pool.get('account.payment.journal').search([])
            self.assertEqual(journal.clearing_account.code, '1012')
        states = {s.direction: [] for s in statements}
        for statement in statements:
            states[statement.direction].append(statement.state)
        self.assertEqual(states['receivable'], ['settled', 'invoiced'])
        self.assertEqual(states['payable'], ['confirmed', 'sent'])
        settled = statements[0]
        self.assertEqual(settled.invoice.state, 'paid')
        self.assertEqual({l.order.state for l in settled.lines}, {'settled'})
        self.assertEqual(statements[3].disputed, 1)
        # the paid one's fapiao is issued, the other waits to be requested
        Fapiao = pool.get('dualrec.fapiao')
        self.assertEqual([(f.state, len(f.number)) for f in Fapiao.search(
                        [('statement', '=', settled.id)])], [('issued', 20)])
        self.assertEqual([f.state for f in Fapiao.search(
                        [('statement', '=', statements[1].id)])], ['draft'])
