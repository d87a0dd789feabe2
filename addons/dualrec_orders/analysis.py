# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The analysis of the orders: read-only SQL views and the xlsx export.

Every view counts the orders the user may read: its query selects them
with ``Order.search(..., query=True)``, so the orders' record rules
(company, a manager's branch scope, later the portal's counterparty) apply
to the figures as they do to the list.  The filters come from the context
model ``dualrec.order.analysis.context`` (dates, company, direction,
states; cancelled orders are left out by default).
"""
import datetime as dt
from decimal import Decimal

from sql import Cast, Column as Column_, Null
from sql.aggregate import Avg, Count, Min, Sum
from sql.conditionals import Case, Coalesce
from sql.functions import CharLength, Function, Round

from trytond import backend
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.report import Report
from trytond.tools import grouped_slice, reduce_ids
from trytond.tools.timezone import get_tzinfo
from trytond.transaction import Transaction

from dualrec.sheets.export import Column, Sheet, write_workbook

from .common import DIRECTIONS, STATES, WEEKDAYS

COUNTED_STATES = ['draft', 'confirmed', 'invoiced', 'settled']


class _ToChar(Function):
    __slots__ = ()
    _function = 'TO_CHAR'


class _StrFTime(Function):
    __slots__ = ()
    _function = 'STRFTIME'


class _JSONBExtractPathText(Function):
    __slots__ = ()
    _function = 'JSONB_EXTRACT_PATH_TEXT'


class _JSONExtract(Function):
    __slots__ = ()
    _function = 'JSON_EXTRACT'


def month_of(column):
    "Return the SQL text 'YYYY-MM' of the date column."
    if backend.name == 'postgresql':
        return _ToChar(column, 'YYYY-MM')
    return _StrFTime('%Y-%m', column)


def json_text(column, key):
    """Return the SQL text of the scalar key of the JSON column (a Dict
    field): NULL when the key is missing."""
    if backend.name == 'postgresql':
        return _JSONBExtractPathText(Cast(column, 'jsonb'), key)
    return Cast(_JSONExtract(column, f'$.{key}'), 'TEXT')


def number(column):
    "Return the numeric column ready to aggregate (SQLite keeps bytes)."
    if backend.name == 'sqlite':
        return Cast(column, 'NUMERIC')
    return column


def blank_to_null(expression):
    "Return expression with the empty text as NULL."
    return Case((CharLength(Coalesce(expression, '')) == 0, Null),
        else_=expression)


class AnalysisContext(ModelView):
    "The filters of the order analysis."
    __string__ = "Order Analysis Context"
    __name__ = 'dualrec.order.analysis.context'

    company = fields.Many2One('company.company', "Company",
        help="Only the orders of this company; all of the user's companies "
        "when empty.")
    from_date = fields.Date("From Date",
        domain=['OR', ('from_date', '<=', Eval('to_date', None)),
            ('from_date', '=', None), ('to_date', '=', None)],
        help="Only the orders of this business date or later.")
    to_date = fields.Date("To Date",
        domain=['OR', ('to_date', '>=', Eval('from_date', None)),
            ('to_date', '=', None), ('from_date', '=', None)],
        help="Only the orders of this business date or earlier.")
    direction = fields.Selection([(None, '')] + DIRECTIONS, "Direction",
        help="Only receivable or only payable orders; both when empty.")
    states = fields.MultiSelection(STATES, "States",
        help="The states of the orders counted; cancelled orders are left "
        "out unless chosen.")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_states(cls):
        return list(COUNTED_STATES)


class _Figures(ModelSQL, ModelView):
    "The orders counted by the analysis views."

    @classmethod
    def _order_domain(cls):
        "Return the domain of the orders counted, from the context."
        context = Transaction().context
        domain = []
        if context.get('company') is not None:
            domain.append(('company', '=', context['company']))
        if context.get('from_date'):
            domain.append(('date', '>=', context['from_date']))
        if context.get('to_date'):
            domain.append(('date', '<=', context['to_date']))
        if context.get('direction'):
            domain.append(('direction', '=', context['direction']))
        states = context.get('states')
        domain.append(('state', 'in',
                list(states) if states else COUNTED_STATES))
        return domain

    @classmethod
    def _orders(cls):
        """Return the order table and the condition that selects the orders
        counted: those of the context the user may read."""
        Order = Pool().get('dualrec.order')
        order = Order.__table__()
        ids = Order.search(cls._order_domain(), order=[], query=True)
        return order, order.id.in_(ids)


class OrderAnalysis(_Figures):
    "Amounts and counts of orders per type, counterparty, branch and month."
    __string__ = "Order Figures"
    __name__ = 'dualrec.order.analysis'

    company = fields.Many2One('company.company', "Company", readonly=True,
        help="The company of the orders.")
    branch = fields.Many2One('dualrec.branch', "Branch", readonly=True,
        help="The branch of the orders.")
    type_ = fields.Many2One('dualrec.order.type', "Type", readonly=True,
        help="The type of the orders.")
    counterparty = fields.Many2One('party.party', "Counterparty",
        readonly=True, help="The counterparty of the orders.")
    direction = fields.Selection(DIRECTIONS, "Direction", readonly=True,
        help="Receivable or payable.")
    month = fields.Char("Month", readonly=True,
        help="The month of the business date (YYYY-MM).")
    currency = fields.Many2One('currency.currency', "Currency",
        readonly=True, help="The currency of the amounts.")
    orders = fields.Integer("Orders", readonly=True,
        help="The number of orders.")
    untaxed_amount = fields.Numeric("Untaxed", digits=(16, 2),
        readonly=True, help="The sum of the amounts without VAT.")
    tax_amount = fields.Numeric("Tax", digits=(16, 2), readonly=True,
        help="The sum of the VAT.")
    total_amount = fields.Numeric("Total", digits=(16, 2), readonly=True,
        help="The sum of the amounts including VAT.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('month', 'DESC'), ('type_', 'ASC'), ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        order, where = cls._orders()
        rows = order.select(order.id, order.company, order.branch,
            order.type_, order.counterparty, order.direction, order.currency,
            month_of(order.date).as_('month'),
            number(order.untaxed_amount).as_('untaxed_amount'),
            number(order.tax_amount).as_('tax_amount'),
            number(order.total_amount).as_('total_amount'),
            where=where)
        keys = [rows.company, rows.branch, rows.type_, rows.counterparty,
            rows.direction, rows.currency, rows.month]
        return rows.select(Min(rows.id).as_('id'),
            *(k.as_(k.name) for k in keys),
            Count().as_('orders'),
            *(cls._fields[n].sql_cast(Round(Sum(getattr(rows, n)), 2)).as_(n)
                for n in ['untaxed_amount', 'tax_amount', 'total_amount']),
            group_by=keys)


class OrderLeadTime(_Figures):
    "The average days from creation to confirmation, invoice, settlement."
    __string__ = "Order Lead Times"
    __name__ = 'dualrec.order.analysis.lead_time'

    company = fields.Many2One('company.company', "Company", readonly=True,
        help="The company of the orders.")
    type_ = fields.Many2One('dualrec.order.type', "Type", readonly=True,
        help="The type of the orders.")
    orders = fields.Integer("Orders", readonly=True,
        help="The number of orders.")
    confirmed = fields.Integer("Confirmed", readonly=True,
        help="The orders confirmed.")
    confirm_days = fields.Float("Days to Confirm", digits=(16, 2),
        readonly=True, help="The average days from creation to "
        "confirmation.")
    invoiced = fields.Integer("Invoiced", readonly=True,
        help="The orders invoiced.")
    invoice_days = fields.Float("Days to Invoice", digits=(16, 2),
        readonly=True, help="The average days from confirmation to invoice.")
    settled = fields.Integer("Settled", readonly=True,
        help="The orders settled.")
    settle_days = fields.Float("Days to Settle", digits=(16, 2),
        readonly=True, help="The average days from invoice to settlement.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('type_', 'ASC'), ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        order, where = cls._orders()
        columns = [Min(order.id).as_('id'), order.company.as_('company'),
            order.type_.as_('type_'), Count().as_('orders')]
        for count, days in [('confirmed', 'confirm_days'),
                ('invoiced', 'invoice_days'), ('settled', 'settle_days')]:
            column = getattr(order, days)
            columns.append(Count(column).as_(count))
            columns.append(cls._fields[days].sql_cast(
                    Round(Avg(number(column)), 2)).as_(days))
        return order.select(*columns, where=where,
            group_by=[order.company, order.type_])


class _Ratings(_Figures):
    "The ratings of the orders that have one."

    ratings = fields.Integer("Ratings", readonly=True,
        help="The number of rated orders.")
    rating = fields.Float("Average Rating", digits=(16, 2), readonly=True,
        help="The average of the service ratings (1 to 5).")

    @classmethod
    def _rated(cls):
        "Return the subquery of the rated orders counted."
        order, where = cls._orders()
        rating = json_text(order.extension, 'service_rating')
        rows = order.select(order.id, order.company, order.counterparty,
            blank_to_null(json_text(order.extension, 'merchant_store')).as_(
                'store'),
            Cast(rating, 'INTEGER').as_('rating'),
            # a credit order copies the extension of the order it reverses
            where=where & (rating != Null) & (order.credited_order == Null))
        return rows

    @classmethod
    def _rating_columns(cls, rows):
        return [Count().as_('ratings'),
            cls.rating.sql_cast(Round(Avg(rows.rating), 2)).as_('rating')]


class RatingService(_Ratings):
    "The ratings per service (the products of the orders' lines)."
    __string__ = "Ratings per Service"
    __name__ = 'dualrec.order.analysis.rating.service'

    company = fields.Many2One('company.company', "Company", readonly=True,
        help="The company of the orders.")
    product = fields.Many2One('product.product', "Service", readonly=True,
        help="A service of the rated orders.")

    @classmethod
    def table_query(cls):
        Line = Pool().get('dualrec.order.line')
        line = Line.__table__()
        rows = cls._rated()
        services = line.select(Min(line.id).as_('id'), line.order,
            line.product, group_by=[line.order, line.product])
        query = rows.join(services, condition=services.order == rows.id)
        return query.select(Min(services.id).as_('id'),
            rows.company.as_('company'), services.product.as_('product'),
            *cls._rating_columns(rows),
            group_by=[rows.company, services.product])


class RatingMerchant(_Ratings):
    "The ratings per merchant (the counterparty of the orders)."
    __string__ = "Ratings per Merchant"
    __name__ = 'dualrec.order.analysis.rating.merchant'

    company = fields.Many2One('company.company', "Company", readonly=True,
        help="The company of the orders.")
    counterparty = fields.Many2One('party.party', "Merchant", readonly=True,
        help="The counterparty of the rated orders.")

    @classmethod
    def table_query(cls):
        rows = cls._rated()
        return rows.select(Min(rows.id).as_('id'),
            rows.company.as_('company'),
            rows.counterparty.as_('counterparty'),
            *cls._rating_columns(rows),
            group_by=[rows.company, rows.counterparty])


class RatingStore(_Ratings):
    "The ratings per merchant store (the extension key merchant_store)."
    __string__ = "Ratings per Store"
    __name__ = 'dualrec.order.analysis.rating.store'

    company = fields.Many2One('company.company', "Company", readonly=True,
        help="The company of the orders.")
    counterparty = fields.Many2One('party.party', "Merchant", readonly=True,
        help="The counterparty of the rated orders.")
    store = fields.Char("Store", readonly=True,
        help="The merchant store of the rated orders.")

    @classmethod
    def table_query(cls):
        rows = cls._rated()
        return rows.select(Min(rows.id).as_('id'),
            rows.company.as_('company'),
            rows.counterparty.as_('counterparty'), rows.store.as_('store'),
            *cls._rating_columns(rows),
            group_by=[rows.company, rows.counterparty, rows.store])


class UsageHabit(_Figures):
    """The value-added orders per hour and weekday of use, vehicle model and
    region: how customers use the services."""
    __string__ = "Usage Habits"
    __name__ = 'dualrec.order.analysis.usage'

    company = fields.Many2One('company.company', "Company", readonly=True,
        help="The company of the orders.")
    use_hour = fields.Integer("Hour of Use", readonly=True,
        help="The hour of day the service was used, in the company's "
        "timezone.")
    use_weekday = fields.Selection(WEEKDAYS, "Weekday of Use", readonly=True,
        sort=False, help="The weekday the service was used.")
    vehicle_model = fields.Char("Vehicle Model", readonly=True,
        help="The model of the customer's vehicle.")
    region_code = fields.Char("Region Code", readonly=True,
        help="The administrative division code of the place of use.")
    orders = fields.Integer("Orders", readonly=True,
        help="The number of value-added orders.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('use_weekday', 'ASC'), ('use_hour', 'ASC'),
            ('id', 'ASC')]

    @classmethod
    def _get_types(cls):
        "Return the codes of the order types analysed (extension hook)."
        return ['valueadd']

    @classmethod
    def table_query(cls):
        OrderType = Pool().get('dualrec.order.type')
        type_ = OrderType.__table__()
        order, where = cls._orders()
        where &= order.type_.in_(type_.select(type_.id,
                where=type_.code.in_(cls._get_types())))
        # a credit order reverses an amount, not a use of the service
        where &= order.credited_order == Null
        rows = order.select(order.id, order.company, order.use_hour,
            order.use_weekday,
            blank_to_null(json_text(order.extension, 'vehicle_model')).as_(
                'vehicle_model'),
            blank_to_null(json_text(order.extension, 'region_code')).as_(
                'region_code'),
            where=where)
        keys = [rows.company, rows.use_hour, rows.use_weekday,
            rows.vehicle_model, rows.region_code]
        return rows.select(Min(rows.id).as_('id'),
            *(k.as_(k.name) for k in keys),
            Count().as_('orders'), group_by=keys)


class OrderExport(Report):
    """The orders with their extension data flattened to columns and their
    lines on a second sheet, as xlsx for the data analysts."""
    __name__ = 'dualrec.order.export'

    # (field, kind, how to read it: a dotted name for a relation)
    ORDER_FIELDS = [
        ('number', 'text', None), ('date', 'date', None),
        ('type_', 'text', 'type_.rec_name'), ('direction', 'text', None),
        ('counterparty', 'text', 'counterparty.rec_name'),
        ('branch', 'text', 'branch.rec_name'), ('state', 'text', None),
        ('untaxed_amount', 'money', None), ('tax_amount', 'money', None),
        ('total_amount', 'money', None),
        ('currency', 'text', 'currency.code'), ('source', 'text', None),
        ('external_ref', 'text', None), ('create_date', 'datetime', None),
        ('confirmed_at', 'datetime', None), ('invoiced_at', 'datetime', None),
        ('settled_at', 'datetime', None), ('cancelled_at', 'datetime', None),
        ('confirm_days', 'number', None), ('invoice_days', 'number', None),
        ('settle_days', 'number', None),
        ]
    LINE_FIELDS = [
        ('product', 'text', 'product.rec_name'), ('description', 'text', None),
        ('quantity', 'number', None), ('unit_price', 'number', None),
        ('tax_rate', 'number', None), ('untaxed_amount', 'money', None),
        ('tax_amount', 'money', None), ('total_amount', 'money', None),
        ]
    BATCH = 1000

    @classmethod
    def execute(cls, ids, data):
        # the file is named after the action, not after 100,000 orders
        with Transaction().set_context(with_rec_name=False):
            return super().execute(ids, data)

    @classmethod
    def _execute(cls, records, header, data, action):
        return 'xlsx', cls.render_orders([r.id for r in records])

    @classmethod
    def render_orders(cls, ids):
        """Return the xlsx bytes of the orders of ids, read in batches with
        the access rights and record rules of the user."""
        pool = Pool()
        Order = pool.get('dualrec.order')
        Line = pool.get('dualrec.order.line')
        Key = pool.get('dualrec.order.extension.key')
        Company = pool.get('company.company')
        order_defs = Order.fields_get([n for n, _, _ in cls.ORDER_FIELDS])
        line_defs = Line.fields_get([n for n, _, _ in cls.LINE_FIELDS])
        keys = Key.search([], order=[('id', 'ASC')])
        key_names = [k.name for k in keys]
        columns = [Column(order_defs[n]['string'], k)
            for n, k, _ in cls.ORDER_FIELDS]
        columns += [
            Column(gettext('dualrec_orders.msg_export_line_count'), 'number'),
            Column(gettext('dualrec_orders.msg_export_first_service'),
                'text'),
            ]
        columns += [Column(k.string or k.name, 'auto') for k in keys]
        line_columns = [
            Column(gettext('dualrec_orders.msg_export_order'), 'text'),
            Column(gettext('dualrec_orders.msg_export_line_service_code'),
                'text'),
            ] + [Column(line_defs[n]['string'], k)
            for n, k, _ in cls.LINE_FIELDS]
        selections = {n: dict(d['selection'])
            for n, d in order_defs.items() if d.get('selection')}
        relations = {n: pool.get(d['relation'])
            for n, d in list(order_defs.items()) + list(line_defs.items())
            if d.get('relation')}
        names, timezones = {}, {}

        def name_all(rows, read_names):
            "Put the names of the records rows refer to into names."
            for field, attribute in read_names:
                Model = relations[field]
                missing = sorted({r[field] for r in rows if r[field]}
                    - {i for m, i in names if m == (Model, attribute)})
                for i in range(0, len(missing), 200):
                    for record in Model.read(missing[i:i + 200],
                            [attribute]):
                        names[(Model, attribute), record['id']] = record[
                            attribute]

        def local(company):
            if company not in timezones:
                timezone = Company(company).timezone if company else None
                timezones[company] = get_tzinfo(timezone) if timezone else None
            return lambda value: to_local(value, timezones[company])

        def cell(row, name, read_name, selections=None):
            value = row[name]
            if read_name:
                attribute = read_name.split('.', 1)[1]
                key = ((relations[name], attribute), value)
                return names.get(key) if value else None
            if selections and name in selections:
                return selections[name].get(value, value)
            return value

        order_reads = [(n, r.split('.', 1)[1])
            for n, _, r in cls.ORDER_FIELDS if r]
        line_reads = [('product', 'rec_name'), ('product', 'code')]

        def batches():
            for i in range(0, len(ids), cls.BATCH):
                batch = ids[i:i + cls.BATCH]
                # read() applies the access rights and the record rules
                orders = Order.read(batch, [n for n, _, _ in
                        cls.ORDER_FIELDS] + ['company', 'extension'])
                lines = cls._lines([o['id'] for o in orders])
                name_all(orders, order_reads)
                name_all([l for ls in lines.values() for l in ls],
                    line_reads)
                for order in orders:
                    yield order, lines.get(order['id'], [])

        def order_rows():
            for order, lines in batches():
                convert = local(order['company'])
                row = [convert(cell(order, n, r, selections))
                    for n, _, r in cls.ORDER_FIELDS]
                row.append(len(lines))
                row.append(cell(lines[0], 'product', 'product.rec_name')
                    if lines else None)
                extension = order['extension'] or {}
                row.extend(convert(extension.get(k)) for k in key_names)
                yield row

        def line_rows():
            # a second pass: the lines of 100,000 orders are not kept in
            # memory while the first sheet is written
            for order, lines in batches():
                for line in lines:
                    yield [order['number'],
                        cell(line, 'product', 'product.code')] + [
                        cell(line, n, r) for n, _, r in cls.LINE_FIELDS]

        return write_workbook([
                Sheet(gettext('dualrec_orders.msg_export_sheet_orders'),
                    columns, order_rows()),
                Sheet(gettext('dualrec_orders.msg_export_sheet_lines'),
                    line_columns, line_rows()),
                ])

    @classmethod
    def _lines(cls, order_ids):
        """Return {order id: [line values]} of the orders of order_ids,
        which the user has read: their lines are read in SQL, without
        instantiating 100,000 records."""
        Line = Pool().get('dualrec.order.line')
        line = Line.__table__()
        cursor = Transaction().connection.cursor()
        names = ['order'] + [n for n, _, _ in cls.LINE_FIELDS]
        result = {}
        for sub_ids in grouped_slice(order_ids):
            cursor.execute(*line.select(
                    *(Column_(line, n) for n in names),
                    where=reduce_ids(line.order, sub_ids),
                    order_by=[line.order, line.sequence.asc.nulls_first,
                        line.id]))
            for row in cursor:
                values = dict(zip(names, row))
                for name in ['quantity', 'unit_price', 'tax_rate',
                        'untaxed_amount', 'tax_amount', 'total_amount']:
                    if values[name] is not None and not isinstance(
                            values[name], Decimal):
                        values[name] = Decimal(str(values[name]))
                result.setdefault(values['order'], []).append(values)
        return result


def to_local(value, tzinfo):
    "Return the naive UTC datetime value in tzinfo; other values as they are."
    if tzinfo and isinstance(value, dt.datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc).astimezone(
            tzinfo).replace(tzinfo=None)
    return value
