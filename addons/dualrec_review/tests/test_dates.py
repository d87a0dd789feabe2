# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Business dates are the company's day (Asia/Shanghai), not the server's."""
import datetime as dt
import types
from decimal import Decimal
from unittest import mock

from trytond.modules.company.tests import set_company
from trytond.modules.dualrec_core.tests.tools import as_user, valid_resident_id
from trytond.pool import Pool
from trytond.tests.test_tryton import _DBTestCase, with_transaction

from .test_review import ReviewFixtures

# 07:30 in Beijing is 23:30 UTC the day before; a month end, so that the
# monthly QC period differs too.
NOW_UTC = dt.datetime(2027, 3, 31, 23, 30, tzinfo=dt.timezone.utc)
BEIJING_TODAY = dt.date(2027, 4, 1)


class _FrozenDatetime(dt.datetime):
    @classmethod
    def now(cls, tz=None):
        if tz is None:
            # trytond runs with TZ=UTC
            return NOW_UTC.replace(tzinfo=None)
        return NOW_UTC.astimezone(tz)


def frozen_clock():
    "Freeze the clock ir.date reads (and only it: the server's date differs)."
    return mock.patch('trytond.ir.date.datetime',
        types.SimpleNamespace(datetime=_FrozenDatetime))


class BusinessDateTestCase(ReviewFixtures, _DBTestCase):
    "Test the business dates at 07:30 Beijing time"
    module = 'dualrec_review'

    def _company(self):
        company, branches, users, product = self._setup()
        company.timezone = 'Asia/Shanghai'
        company.save()
        return company, branches, users, product

    @with_transaction()
    def test_ir_date_is_the_company_day(self):
        "ir.date gives the company's date, the day after the UTC one"
        Date = Pool().get('ir.date')
        company, _, _, _ = self._company()
        with frozen_clock():
            self.assertEqual(Date.today(dt.timezone.utc), NOW_UTC.date())
            with set_company(company):
                self.assertEqual(Date.today(), BEIJING_TODAY)
            # a job or a user without a company: the only company's day
            self.assertEqual(Date.today(), BEIJING_TODAY)

    @with_transaction()
    def test_business_dates_at_0730_beijing(self):
        "Completed on, QC period and deadline, hold, age use Beijing's day"
        pool = Pool()
        Ticket = pool.get('dualrec.ticket')
        Rule = pool.get('dualrec.qc.rule')
        Hold = pool.get('dualrec.legal.hold')
        Recording = pool.get('dualrec.recording')
        company, _, users, product = self._company()
        with set_company(company), frozen_clock():
            # applicant age from the ID number: 40 on Beijing's day (the
            # birthday), 39 on the UTC one
            with as_user(users['sales']):
                ticket, = Ticket.create([{
                            'task_number': 'T-AGE', 'product': product.id,
                            'policyholder_name': "张三",
                            'id_type': 'resident_id',
                            'id_number': valid_resident_id(
                                birth='19870401'),
                            }])
            self.assertEqual(ticket.applicant_age, 40)

            ticket = self._ticket(users['sales'], product, 'pending')
            with as_user(users['reviewer2']):
                Ticket.decide([Ticket(ticket.id)], 'approve')
            ticket = Ticket(ticket.id)
            self.assertEqual(ticket.completed_on, BEIJING_TODAY)

            rule, = Rule.create([{
                        'name': "All", 'company': company.id,
                        'ratio': Decimal(1), 'period': 'monthly',
                        'cooling_off_days': 15}])
            Rule.sample([rule])
            sample, = Rule(rule.id).samples
            self.assertEqual((sample.period_start, sample.period_end),
                (BEIJING_TODAY, dt.date(2027, 4, 30)))
            task, = sample.tasks
            self.assertEqual(task.deadline, dt.date(2027, 4, 16))
            self.assertFalse(task.overdue)

            self.assertEqual(Hold.default_placed_on(), BEIJING_TODAY)

            # a retention that ended on the UTC day is over in Beijing
            Ticket.write([ticket], {'contract_end': dt.date(2017, 3, 31)})
            self.assertEqual(Ticket(ticket.id).retention_end,
                NOW_UTC.date())
            expired = Recording.list_expired()
            self.assertEqual([r.ticket.id for r in expired], [ticket.id])
