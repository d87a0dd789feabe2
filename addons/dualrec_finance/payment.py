# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Payouts (付款) to merchants and agents.

The posted supplier invoice of a payable statement is paid with Tryton's
own flow (Pay on its payable line → submit → approve → process into a
payment group → succeed or fail) through the company's manual CNY payment
journal with clearing (``create_payment_journal``).  Ours are the payment
file that finance uploads to the bank portal for a payment group
(``PaymentFile``) and the audit of each payment's success or failure."""
import csv
import datetime as dt
import io
from decimal import Decimal

from sql import Null

from trytond.i18n import gettext
from trytond.pool import Pool, PoolMeta
from trytond.report import Report

from .accounting import account_by_code
from .exceptions import PaymentFileError

#: Chinese bank portals (ICBC, CCB, ABC, BOC enterprise banking) read batch
#: payment files in GBK, as Excel on a Chinese Windows writes them
PAYMENT_FILE_ENCODING = 'gbk'
#: the header of the payment file, in the bank's own words
PAYMENT_FILE_HEADER = [
    '收款人户名', '收款账号', '开户行', '金额', '用途', '付款编号']
#: clearing account (其他货币资金: funds sent to the bank, not yet debited)
CLEARING_ACCOUNT = '1012'
#: the bank debits the account by the next day; a payment that fails later
#: gets its clearing move cancelled instead of deleted
CLEARING_POSTING_DELAY = dt.timedelta(days=1)
CENT = Decimal('0.01')


def create_payment_journal(company):
    """Return the manual payment journal of company in its currency with
    clearing through account 1012 (其他货币资金) and the cash journal;
    create it when it does not exist.  Run as root inside
    set_company(company), after the chart of accounts was created."""
    pool = Pool()
    PaymentJournal = pool.get('account.payment.journal')
    Journal = pool.get('account.journal')
    journals = PaymentJournal.search([
            ('company', '=', company.id),
            ('currency', '=', company.currency.id),
            ('process_method', '=', 'manual'),
            ('clearing_account', '!=', None),
            ], limit=1)
    if journals:
        return journals[0]
    clearing_journal, = Journal.search([('type', '=', 'cash')],
        order=[('id', 'ASC')], limit=1)
    journal = PaymentJournal(
        name=f"银行付款 {company.currency.code}",
        company=company, currency=company.currency,
        process_method='manual',
        clearing_account=account_by_code(company, CLEARING_ACCOUNT),
        clearing_journal=clearing_journal,
        clearing_posting_delay=CLEARING_POSTING_DELAY)
    journal.save()
    return journal


def payment_file(rows, encoding=PAYMENT_FILE_ENCODING):
    """Return the bytes of the CSV payment file of rows: (payee name,
    account number, bank, amount, purpose, payment number), amount a
    Decimal written with 2 places; the header first, CRLF line ends.
    Raise UnicodeEncodeError when a text cannot be written in encoding."""
    out = io.StringIO(newline='')
    writer = csv.writer(out, lineterminator='\r\n')
    writer.writerow(PAYMENT_FILE_HEADER)
    for name, number, bank, amount, purpose, payment in rows:
        writer.writerow([name, number, bank,
                str(Decimal(amount).quantize(CENT)), purpose, payment])
    return out.getvalue().encode(encoding)


class Payment(metaclass=PoolMeta):
    __name__ = 'account.payment'

    @classmethod
    def _log_transition(cls, action, payments, state):
        AuditLog = Pool().get('dualrec.audit.log')
        done = [p for p in cls.browse(payments) if p.state == state]
        if done:
            AuditLog.log(action, done, model=cls.__name__,
                details=', '.join(
                    f'{p.party.rec_name} {p.amount}' for p in done))

    @classmethod
    def succeed(cls, payments):
        "Log the payments that succeed in the audit log."
        before = {p.id for p in payments if p.state != 'succeeded'}
        super().succeed(payments)
        cls._log_transition('payment_succeed',
            [p for p in payments if p.id in before], 'succeeded')

    @classmethod
    def fail(cls, payments):
        "Log the payments that fail in the audit log."
        before = {p.id for p in payments if p.state != 'failed'}
        super().fail(payments)
        cls._log_transition('payment_fail',
            [p for p in payments if p.id in before], 'failed')

    @property
    def dualrec_payee_account(self):
        """The bank account the payee is paid to: the first active account
        of the party in the payment's currency (or in none)."""
        for account in self.party.bank_accounts_used:
            if account.currency in {None, self.currency} and account.numbers:
                return account

    @property
    def dualrec_purpose(self):
        "The purpose (用途) of the transfer: what it pays."
        Invoice = Pool().get('account.invoice')
        origin = self.line.move_origin if self.line else None
        if isinstance(origin, Invoice):
            return ' '.join(filter(None, [origin.reference, origin.number]))
        return self.reference or self.number


class Group(metaclass=PoolMeta):
    __name__ = 'account.payment.group'

    @classmethod
    def search_complete(cls, name, clause):
        """Search the groups whose payments are all complete or not.

        Tryton's searcher tests the group "not in" the groups of the
        payments not complete, a draft payment's empty group among them:
        "NOT IN" a list with NULL is never true, so no group would be
        complete while a payment waits to be processed."""
        Payment = Pool().get('account.payment')
        payment = Payment.__table__()
        _, operator, value = clause
        if operator not in {'=', '!='}:
            return []
        not_complete = payment.select(payment.group,
            where=~payment.state.in_(cls._get_complete_states())
            & (payment.group != Null),
            group_by=payment.group)
        complete = bool(value) == (operator == '=')
        return [('id', 'not in' if complete else 'in', not_complete)]


class PaymentFile(Report):
    """The bank upload file (CSV) of a payable payment group: a row per
    payment still being processed."""
    __name__ = 'dualrec.payment.file'

    @classmethod
    def _execute(cls, records, header, data, action):
        group, = records
        return 'csv', cls.render(group)

    @classmethod
    def rows(cls, group):
        """Return the rows of the payments of group that are processing;
        refuse a group that is not payable, without such payment, or with
        a payee without a bank account, before any row is written."""
        if group.kind != 'payable':
            raise PaymentFileError(gettext(
                    'dualrec_finance.msg_payment_file_kind',
                    group=group.rec_name))
        payments = [p for p in group.payments if p.state == 'processing']
        if not payments:
            raise PaymentFileError(gettext(
                    'dualrec_finance.msg_payment_file_empty',
                    group=group.rec_name))
        missing = sorted({p.party.rec_name for p in payments
                if not p.dualrec_payee_account})
        if missing:
            raise PaymentFileError(gettext(
                    'dualrec_finance.msg_payment_no_bank_account',
                    group=group.rec_name, parties='、'.join(missing)))
        no_bank = sorted({p.party.rec_name for p in payments
                if not p.dualrec_payee_account.bank})
        if no_bank:
            raise PaymentFileError(gettext(
                    'dualrec_finance.msg_payment_no_bank',
                    group=group.rec_name, parties='、'.join(no_bank)))
        rows = []
        for payment in payments:
            account = payment.dualrec_payee_account
            rows.append((payment.party.name, account.numbers[0].number,
                    account.bank.rec_name, payment.amount,
                    payment.dualrec_purpose, payment.number))
        return rows

    @classmethod
    def render(cls, group):
        "Return the bytes of the payment file of group."
        rows = cls.rows(group)
        try:
            return payment_file(rows)
        except UnicodeEncodeError as error:
            raise PaymentFileError(gettext(
                    'dualrec_finance.msg_payment_file_encoding',
                    group=group.rec_name, encoding=PAYMENT_FILE_ENCODING,
                    text=error.object[error.start:error.end])) from error
