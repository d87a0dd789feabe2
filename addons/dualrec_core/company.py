# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Business dates are the company's day, not the server's (UTC) one."""
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction, without_check_access


def company_today(company=None):
    """Return today's date in the timezone of company (a record or an id).

    Without company: the company of the context (set for users by their
    preferences, for ir.cron jobs by their companies), else the only company
    of the database (ir.Date.today); UTC when none has a timezone.
    """
    Date = Pool().get('ir.date')
    if company is None:
        return Date.today()
    with Transaction().set_context(company=int(company)):
        return Date.today()


class Company(metaclass=PoolMeta):
    __name__ = 'company.company'

    def business_today(self):
        "Return today's date in the company's timezone."
        return company_today(self)


class Date(metaclass=PoolMeta):
    __name__ = 'ir.date'

    @classmethod
    def today(cls, timezone=None):
        """Return today in the context company's timezone, or, for a job or
        a user without a company in the context, in the timezone of the
        only company of the database."""
        context = Transaction().context
        company = context.get('company')
        if timezone is None and (company is None or company < 0):
            Company = Pool().get('company.company')
            with without_check_access():
                companies = Company.search([], limit=2)
            if len(companies) == 1:
                with Transaction().set_context(company=companies[0].id):
                    return super().today()
        return super().today(timezone=timezone)
