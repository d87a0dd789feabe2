# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from decimal import Decimal

from trytond.modules.dualrec_finance.accounting import (
    ChartLookupError, account_by_code, tax_for_rate)
from trytond.pool import Pool
from trytond.tests.test_tryton import _DBTestCase, with_transaction
from trytond.transaction import Transaction

from .tools import set_company, set_up_finance


class ChartTestCase(_DBTestCase):
    "Test the ASBE chart of accounts and its VAT"
    module = 'dualrec_finance'

    @with_transaction()
    def test_accounts(self):
        "The company gets the ASBE accounts with their types and flags"
        company, *_ = set_up_finance()
        with Transaction().set_user(0), set_company(company):
            receivable = account_by_code(company, '1122')
            self.assertTrue(receivable.type.receivable)
            self.assertTrue(receivable.reconcile)
            self.assertTrue(receivable.party_required)
            self.assertFalse(receivable.closed)

            payable = account_by_code(company, '2202')
            self.assertTrue(payable.type.payable)
            self.assertTrue(payable.reconcile)
            self.assertTrue(payable.party_required)

            output_vat = account_by_code(company, '22210101')
            self.assertEqual(output_vat.parent.code, '222101')
            self.assertEqual(output_vat.parent.parent.code, '2221')
            self.assertEqual(output_vat.parent.parent.parent.code, '2')
            self.assertTrue(output_vat.parent.parent.closed)
            self.assertEqual(account_by_code(company, '22210102').parent,
                output_vat.parent)

            revenue = account_by_code(company, '6001')
            self.assertTrue(revenue.type.revenue)
            self.assertEqual(revenue.type.statement, 'income')
            for code in ['6401', '6403', '6601', '6602', '6603', '6711']:
                with self.subTest(code=code):
                    self.assertTrue(account_by_code(company, code)
                        .type.expense)
            for code in ['1001', '1002', '1012', '1123', '1221', '1405',
                    '1601', '2203', '2211', '222102', '2241', '4001',
                    '4103', '4104', '6051', '6402']:
                with self.subTest(code=code):
                    account_by_code(company, code)
            self.assertEqual(
                account_by_code(company, '1002').type.statement, 'balance')
            # one receivable and one payable account only
            Account = Pool().get('account.account')
            self.assertEqual(Account.search([
                        ('company', '=', company.id),
                        ('type.receivable', '=', True)]), [receivable])
            self.assertEqual(Account.search([
                        ('company', '=', company.id),
                        ('type.payable', '=', True)]), [payable])

    @with_transaction()
    def test_unknown_account(self):
        "An unknown code raises"
        company, *_ = set_up_finance()
        with Transaction().set_user(0), set_company(company):
            with self.assertRaises(ChartLookupError):
                account_by_code(company, '9999')

    @with_transaction()
    def test_taxes(self):
        "The VAT of each rate and kind posts to output or input VAT"
        company, *_ = set_up_finance()
        with Transaction().set_user(0), set_company(company):
            output_vat = account_by_code(company, '22210101')
            input_vat = account_by_code(company, '22210102')

            sale = tax_for_rate(company, '0.06', 'sale')
            self.assertEqual(sale.type, 'percentage')
            self.assertEqual(sale.rate, Decimal('0.06'))
            self.assertEqual(sale.group.kind, 'sale')
            self.assertEqual(sale.invoice_account, output_vat)
            self.assertEqual(sale.credit_note_account, output_vat)
            self.assertEqual(sale.company, company)

            purchase = tax_for_rate(company, Decimal('0.06'), 'purchase')
            self.assertNotEqual(purchase, sale)
            self.assertEqual(purchase.rate, Decimal('0.06'))
            self.assertEqual(purchase.group.kind, 'purchase')
            self.assertEqual(purchase.invoice_account, input_vat)
            self.assertEqual(purchase.credit_note_account, input_vat)

            for rate, kinds in [
                    ('0.13', ['sale', 'purchase']),
                    ('0.09', ['sale', 'purchase']),
                    ('0.03', ['sale']),
                    ('0.01', ['sale']),
                    ('0', ['sale']),
                    (Decimal('0.00'), ['sale']),
                    ]:
                for kind in kinds:
                    with self.subTest(rate=rate, kind=kind):
                        tax = tax_for_rate(company, rate, kind)
                        self.assertEqual(tax.rate, Decimal(rate))
                        self.assertEqual(tax.invoice_account,
                            output_vat if kind == 'sale' else input_vat)
            self.assertEqual(tax_for_rate(company, '0.13').group.kind,
                'sale')

    @with_transaction()
    def test_unknown_tax(self):
        "An unknown rate or a rate of the other kind raises"
        company, *_ = set_up_finance()
        with Transaction().set_user(0), set_company(company):
            for rate, kind in [('0.17', 'sale'), ('0.05', 'purchase'),
                    ('0.03', 'purchase'), ('0', 'purchase')]:
                with self.subTest(rate=rate, kind=kind):
                    with self.assertRaises(ChartLookupError):
                        tax_for_rate(company, rate, kind)
            with self.assertRaises(ValueError):
                tax_for_rate(company, '0.06', 'both')

    @with_transaction()
    def test_default_party_accounts(self):
        "Create Chart makes 1122 and 2202 the parties' default accounts"
        pool = Pool()
        Configuration = pool.get('account.configuration')
        Party = pool.get('party.party')
        company, *_ = set_up_finance()
        with Transaction().set_user(0), set_company(company):
            config = Configuration(1)
            self.assertEqual(config.default_account_receivable.code, '1122')
            self.assertEqual(config.default_account_payable.code, '2202')
            party, = Party.create([{'name': "新客户"}])
            self.assertEqual(party.account_receivable_used.code, '1122')
            self.assertEqual(party.account_payable_used.code, '2202')

