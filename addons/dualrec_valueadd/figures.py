# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The figures of the coupons and the targeted re-issue they lead to.

The figures count the coupons the user may read (``Coupon.search(...,
query=True)``): the coupons' record rules apply to them as to the list.
"""
from sql import Cast, Literal, Union
from sql.aggregate import Avg, Count, Min, Sum
from sql.conditionals import Case, Coalesce
from sql.functions import Function, Round

from trytond import backend
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import PYSONEncoder
from trytond.transaction import Transaction
from trytond.wizard import Button, StateAction, StateView, Wizard

from .exceptions import BatchError, CouponRefusal


class _ToChar(Function):
    __slots__ = ()
    _function = 'TO_CHAR'


class _StrFTime(Function):
    __slots__ = ()
    _function = 'STRFTIME'


def month_of(column):
    "Return the SQL text 'YYYY-MM' of the date column."
    if backend.name == 'postgresql':
        return _ToChar(column, 'YYYY-MM')
    return _StrFTime('%Y-%m', column)


class FigureContext(ModelView):
    "The filters of the coupon figures."
    __string__ = "Coupon Figures Context"
    __name__ = 'dualrec.coupon.figure.context'

    company = fields.Many2One('company.company', "Company",
        help="Only the coupons of this company; all of the user's "
        "companies when empty.")
    from_date = fields.Date("From Date",
        help="Only the coupons issued on this day or later.")
    to_date = fields.Date("To Date",
        help="Only the coupons issued on this day or earlier.")
    issuer = fields.Many2One('party.party', "Issuer",
        help="Only the coupons of this issuer.")
    service = fields.Many2One('dualrec.valueadd.service', "Service",
        help="Only the coupons of this service.")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')


class Figure(ModelSQL, ModelView):
    "Coupons issued, redeemed, expired per batch and month of issue."
    __string__ = "Coupon Figures"
    __name__ = 'dualrec.coupon.figure'

    company = fields.Many2One('company.company', "Company", readonly=True)
    batch = fields.Many2One('dualrec.coupon.batch', "Batch", readonly=True)
    issuer = fields.Many2One('party.party', "Issuer", readonly=True)
    service = fields.Many2One('dualrec.valueadd.service', "Service",
        readonly=True)
    month = fields.Char("Month", readonly=True,
        help="The month of issue (YYYY-MM).")
    issued = fields.Integer("Issued", readonly=True,
        help="The coupons issued.")
    redeemed = fields.Integer("Redeemed", readonly=True,
        help="The coupons used at least once.")
    expired = fields.Integer("Expired", readonly=True,
        help="The coupons that expired unused.")
    cancelled = fields.Integer("Cancelled", readonly=True)
    redemption_rate = fields.Float("Redemption Rate (%)", digits=(16, 2),
        readonly=True, help="The coupons redeemed per hundred issued.")
    rating = fields.Float("Average Rating", digits=(16, 2), readonly=True,
        help="The average rating of the rated redemptions.")
    issue_days = fields.Float("Days to Use", digits=(16, 2), readonly=True,
        help="The average days from issue to use.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('month', 'DESC'), ('batch', 'DESC'), ('id', 'ASC')]

    @classmethod
    def _coupon_domain(cls):
        context = Transaction().context
        domain = []
        if context.get('company') is not None:
            domain.append(('company', '=', context['company']))
        if context.get('from_date'):
            domain.append(('issue_day', '>=', context['from_date']))
        if context.get('to_date'):
            domain.append(('issue_day', '<=', context['to_date']))
        if context.get('issuer'):
            domain.append(('batch.issuer', '=', context['issuer']))
        if context.get('service'):
            domain.append(('batch.service', '=', context['service']))
        return domain

    @classmethod
    def table_query(cls):
        pool = Pool()
        Coupon = pool.get('dualrec.coupon')
        Batch = pool.get('dualrec.coupon.batch')
        Redemption = pool.get('dualrec.coupon.redemption')
        coupon = Coupon.__table__()
        batch = Batch.__table__()
        redemption = Redemption.__table__()
        ids = Coupon.search(cls._coupon_domain(), order=[], query=True)
        uses = redemption.select(redemption.coupon,
            Avg(redemption.issue_days).as_('days'),
            Avg(redemption.rating).as_('rating'),
            where=redemption.state == 'done',
            group_by=[redemption.coupon])
        query = coupon.join(batch, condition=coupon.batch == batch.id
            ).join(uses, 'LEFT', condition=uses.coupon == coupon.id)
        # the month is a column of a subquery: PostgreSQL groups by it only
        # if it is the same expression, and its format is a parameter
        rows = query.select(coupon.id, coupon.company, coupon.batch,
            batch.issuer, batch.service, coupon.uses, coupon.state,
            uses.rating, uses.days,
            month_of(coupon.issue_day).as_('month'),
            where=coupon.id.in_(ids))

        def count(condition):
            return Sum(Case((condition, 1), else_=0))
        issued = Count()
        redeemed = count(rows.uses > 0)
        keys = [rows.company, rows.batch, rows.issuer, rows.service,
            rows.month]
        return rows.select(
            Min(rows.id).as_('id'),
            *(k.as_(k.name) for k in keys),
            issued.as_('issued'),
            redeemed.as_('redeemed'),
            count(rows.state == 'expired').as_('expired'),
            count(rows.state == 'cancelled').as_('cancelled'),
            cls.redemption_rate.sql_cast(Round(
                    Cast(Cast(redeemed, 'FLOAT') * 100 / issued, 'NUMERIC'),
                    2)).as_('redemption_rate'),
            cls.rating.sql_cast(Round(Cast(Avg(rows.rating), 'NUMERIC'),
                    2)).as_('rating'),
            cls.issue_days.sql_cast(Round(Cast(Avg(rows.days), 'NUMERIC'),
                    2)).as_('issue_days'),
            group_by=keys)


class ReissueStart(ModelView):
    "Choose the owners of earlier redemptions and the batch to issue from."
    __string__ = "Targeted Re-issue"
    __name__ = 'dualrec.coupon.reissue.start'

    service = fields.Many2One('dualrec.valueadd.service', "Used Service",
        required=True,
        help="The owners who redeemed a coupon of this service.")
    min_rating = fields.Integer("Rated at Least",
        domain=['OR', ('min_rating', '=', None),
            [('min_rating', '>=', 1), ('min_rating', '<=', 5)]],
        help="Only the owners who rated the service this much or more.")
    from_date = fields.Date("Used From",
        help="Only the redemptions of this day or later.")
    to_date = fields.Date("Used To",
        help="Only the redemptions of this day or earlier.")
    batch = fields.Many2One('dualrec.coupon.batch', "Issue From",
        required=True,
        domain=[('state', '=', 'active'), ('binding', '=', 'bound')],
        help="The active batch, bound to owners, that issues the new "
        "coupons; an owner who already holds one of it is skipped.")


class Reissue(Wizard):
    "Issue a new batch's coupons to the owners chosen by their redemptions."
    __name__ = 'dualrec.coupon.reissue'
    start = StateView('dualrec.coupon.reissue.start',
        'dualrec_valueadd.coupon_reissue_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Issue", 'issue', 'tryton-ok', default=True),
            ])
    issue = StateAction('dualrec_valueadd.act_coupon_form')

    def do_issue(self, action):
        pool = Pool()
        Coupon = pool.get('dualrec.coupon')
        start = self.start
        owners = Coupon.owners_of(start.service, min_rating=start.min_rating,
            from_date=start.from_date, to_date=start.to_date,
            exclude_batch=start.batch)
        if not owners:
            raise BatchError(gettext('dualrec_valueadd.msg_reissue_none'))
        try:
            coupons = start.batch.issue(owners)
        except CouponRefusal as error:
            raise BatchError(error.message) from error
        action['pyson_domain'] = PYSONEncoder().encode(
            [('id', 'in', [c.id for c in coupons])])
        action['name'] += f' ({start.batch.number}, {len(coupons)})'
        return action, {}



class PlateFigureContext(ModelView):
    "The filters of the plate figures."
    __string__ = "Plate Figures Context"
    __name__ = 'dualrec.plate.figure.context'

    company = fields.Many2One('company.company', "Company",
        help="Only the plates of this company; all of the user's "
        "companies when empty.")
    insurer = fields.Many2One('party.party', "Insurer",
        help="Only the plates bought by this insurer.")
    agent = fields.Many2One('party.party', "Agent",
        help="Only the plates of this agent.")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')


class PlateFigure(ModelSQL, ModelView):
    "Plates per state, per agent and insurer, with their binding rate."
    __string__ = "Plate Figures"
    __name__ = 'dualrec.plate.figure'

    company = fields.Many2One('company.company', "Company", readonly=True)
    agent = fields.Many2One('party.party', "Agent", readonly=True)
    insurer = fields.Many2One('party.party', "Insurer", readonly=True)
    plates = fields.Integer("Plates", readonly=True)
    in_stock = fields.Integer("In Stock", readonly=True)
    assigned = fields.Integer("Assigned", readonly=True)
    sold = fields.Integer("Sold, Unbound", readonly=True)
    bound = fields.Integer("Bound", readonly=True)
    deactivated = fields.Integer("Deactivated", readonly=True)
    binding_rate = fields.Float("Binding Rate (%)", digits=(16, 2),
        readonly=True,
        help="The plates bound per hundred sold to insurers.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('insurer', 'ASC'), ('agent', 'ASC'), ('id', 'ASC')]

    @classmethod
    def _plate_domain(cls):
        context = Transaction().context
        domain = []
        for name in ('company', 'insurer', 'agent'):
            if context.get(name) is not None:
                domain.append((name, '=', context[name]))
        return domain

    @classmethod
    def table_query(cls):
        Plate = Pool().get('dualrec.plate')
        plate = Plate.__table__()
        ids = Plate.search(cls._plate_domain(), order=[], query=True)

        def count(*states):
            return Sum(Case((plate.state.in_(list(states)), 1), else_=0))
        in_use = count('sold', 'bound')
        keys = [plate.company, plate.agent, plate.insurer]
        return plate.select(
            Min(plate.id).as_('id'),
            *(k.as_(k.name) for k in keys),
            Count().as_('plates'),
            count('in_stock').as_('in_stock'),
            count('assigned').as_('assigned'),
            count('sold').as_('sold'),
            count('bound').as_('bound'),
            count('deactivated').as_('deactivated'),
            cls.binding_rate.sql_cast(Round(Cast(
                        Cast(count('bound'), 'FLOAT') * 100
                        / Case((in_use > 0, in_use), else_=None),
                        'NUMERIC'), 2)).as_('binding_rate'),
            where=plate.id.in_(ids),
            group_by=keys)


def local_month_of(column, offset):
    """Return the SQL text 'YYYY-MM' of the naive UTC timestamp column in
    the time zone offset (a timedelta) from UTC."""
    seconds = int(offset.total_seconds())
    if backend.name == 'postgresql':
        return _ToChar(column + Cast(f'{seconds} seconds', 'INTERVAL'),
            'YYYY-MM')
    return _StrFTime('%Y-%m', column, f'{seconds:+d} seconds')


class CallFigureContext(ModelView):
    "The filters of the scan and call figures."
    __string__ = "Call Figures Context"
    __name__ = 'dualrec.plate.call.figure.context'

    company = fields.Many2One('company.company', "Company",
        help="Only the plates of this company; all of the user's "
        "companies when empty.")
    insurer = fields.Many2One('party.party', "Insurer",
        help="Only the plates bought by this insurer.")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')


class CallFigure(ModelSQL, ModelView):
    """Scans of the plates' page, calls asked, call records, connected
    calls, their minutes and the provider's cost per month and insurer."""
    __string__ = "Call Figures"
    __name__ = 'dualrec.plate.call.figure'

    company = fields.Many2One('company.company', "Company", readonly=True)
    insurer = fields.Many2One('party.party', "Insurer", readonly=True)
    month = fields.Char("Month", readonly=True,
        help="The month, in the company's time zone (YYYY-MM).")
    scans = fields.Integer("Scans", readonly=True,
        help="The scan pages shown.")
    call_requests = fields.Integer("Calls Asked", readonly=True,
        help="The privacy numbers given to passers-by on the scan page.")
    calls = fields.Integer("Calls", readonly=True,
        help="The call records of the provider.")
    connected = fields.Integer("Connected", readonly=True,
        help="The calls answered by the owner.")
    minutes = fields.Integer("Minutes", readonly=True,
        help="The minutes started of the connected calls.")
    cost = fields.Numeric("Provider Cost", digits=(16, 2), readonly=True,
        help="What the provider charges for the calls.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('month', 'DESC'), ('insurer', 'ASC'), ('id', 'ASC')]

    @classmethod
    def _offset(cls):
        import datetime as dt

        from trytond.tools import timezone as tz
        Company = Pool().get('company.company')
        company_id = Transaction().context.get('company')
        name = None
        if company_id is not None and company_id >= 0:
            name = Company(company_id).timezone
        if not name:
            return dt.timedelta(0)
        return dt.datetime.now(tz.get_tzinfo(name)).utcoffset()

    @classmethod
    def table_query(cls):
        pool = Pool()
        Plate = pool.get('dualrec.plate')
        Scan = pool.get('dualrec.plate.scan')
        Call = pool.get('dualrec.plate.call')
        context = Transaction().context
        plate = Plate.__table__()
        scan = Scan.__table__()
        call = Call.__table__()
        domain = []
        for name in ('company', 'insurer'):
            if context.get(name) is not None:
                domain.append((name, '=', context[name]))
        plates = Plate.search(domain, order=[], query=True)
        offset = cls._offset()
        zero = Literal(0)
        scans = scan.join(plate, condition=scan.plate == plate.id).select(
            (scan.id * 2).as_('row'),
            scan.company.as_('company'),
            plate.insurer.as_('insurer'),
            local_month_of(scan.at, offset).as_('month'),
            Case((scan.kind == 'view', 1), else_=0).as_('scans'),
            Case(((scan.kind == 'call') & (scan.outcome == 'ok'), 1),
                else_=0).as_('call_requests'),
            zero.as_('calls'), zero.as_('connected'), zero.as_('minutes'),
            Cast(zero, cls.cost.sql_type().base).as_('cost'),
            where=scan.plate.in_(plates))
        calls = call.select(
            (call.id * 2 + 1).as_('row'),
            call.company.as_('company'),
            call.insurer.as_('insurer'),
            local_month_of(call.call_time, offset).as_('month'),
            zero.as_('scans'), zero.as_('call_requests'),
            Literal(1).as_('calls'),
            Case((call.connected == Literal(True), 1),
                else_=0).as_('connected'),
            ((call.duration + 59) / 60).as_('minutes'),
            Coalesce(call.cost, 0).as_('cost'),
            where=call.plate.in_(plates))
        rows = Union(scans, calls, all_=True)
        keys = [rows.company, rows.insurer, rows.month]
        return rows.select(
            Min(rows.row).as_('id'),
            *(k.as_(k.name) for k in keys),
            Sum(rows.scans).as_('scans'),
            Sum(rows.call_requests).as_('call_requests'),
            Sum(rows.calls).as_('calls'),
            Sum(rows.connected).as_('connected'),
            Sum(rows.minutes).as_('minutes'),
            cls.cost.sql_cast(Sum(rows.cost)).as_('cost'),
            group_by=keys)
