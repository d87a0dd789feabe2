# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The orders of the JSON API under /<database>/dualrec/api/v1/.

The routes are answered by dualrec_core's API machinery (``dualrec.api``
in the Pool): the same bearer authentication, access rights and record
rules, and {code, message} errors.  POST orders creates through
``Order.create_from``, idempotent on (company, source, external reference).
"""
import datetime as dt
import functools
import re

from werkzeug.exceptions import NotFound

from trytond.backend import DatabaseOperationalError
from trytond.i18n import gettext
from trytond.model.exceptions import SQLConstraintError
from trytond.pool import Pool
from trytond.protocols.wrappers import with_pool, with_transaction
from trytond.transaction import Transaction, without_check_access
from trytond.wsgi import app

from dualrec import money
from dualrec.errors import CodedError

from .common import DIRECTIONS
from .order_type import ExtensionKey_accepts

PREFIX = '/<database_name>/dualrec/api/v1'
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
STATES = {'draft', 'confirmed', 'invoiced', 'settled', 'cancelled'}


class ApiError(CodedError):
    "A refused API call, answered as JSON {code, message} with its status."

    def __init__(self, code, message, status=400, **params):
        super().__init__(code, message, params, status=status)


def route(rule, methods):
    """Register func(request, pool, **arguments) as the API route rule,
    answered by dualrec.api (404 on a database without the order center)."""
    def decorator(func):
        @functools.wraps(func)
        def view(request, pool, **kwargs):
            try:
                Api = pool.get('dualrec.api')
                pool.get('dualrec.order')
            except KeyError:
                raise NotFound()
            return Api.serve(request, func, **kwargs)
        view = with_pool(with_transaction()(view))
        app.route(PREFIX + rule, methods=methods)(view)
        return func
    return decorator


def check_right(write=False):
    """Refuse (403) a user without the order center right; finance may
    read."""
    User = Pool().get('res.user')
    if User.holds_group('group_order_center', module='dualrec_orders'):
        return
    if not write and User.holds_group('group_dualrec_finance'):
        return
    raise ApiError('forbidden', gettext('dualrec_orders.msg_api_forbidden'),
        403)


def company_id():
    company = Transaction().context.get('company')
    if not company or company < 0:
        raise ApiError('forbidden',
            gettext('dualrec_orders.msg_api_forbidden'), 403)
    return company


def required(data, name):
    value = data.get(name)
    if value in (None, '', [], {}):
        raise ApiError('missing_field', gettext(
                'dualrec_orders.msg_api_missing_field', field=name),
            field=name)
    return value


def parse_date(value, field):
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ApiError('bad_date', gettext('dualrec_orders.msg_api_bad_date',
                value=value, field=field), field=field) from None


def parse_datetime(value, field):
    "Return an ISO date-time as naive UTC (as Tryton stores it)."
    try:
        value_ = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise ApiError('bad_date', gettext('dualrec_orders.msg_api_bad_date',
                value=value, field=field), field=field) from None
    if value_.tzinfo is not None:
        value_ = value_.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value_


def bad_value(value, field):
    return ApiError('bad_value', gettext('dualrec_orders.msg_api_bad_value',
            value=value, field=field), field=field)


def find(Model, domain):
    records = Model.search(domain, limit=1)
    return records[0] if records else None


# -- reading the body of POST orders ----------------------------------------

def order_type(code):
    OrderType = Pool().get('dualrec.order.type')
    type_ = find(OrderType, [('code', '=', str(code))])
    if not type_:
        raise ApiError('unknown_type', gettext(
                'dualrec_orders.msg_order_unknown_type', type=code),
            field='type')
    return type_


def counterparty(value):
    Party = Pool().get('party.party')
    if isinstance(value, dict):
        try:
            party = find(Party, [('id', '=', int(value.get('id')))])
        except (TypeError, ValueError):
            party = None
        shown = value.get('id')
    else:
        party = find(Party, [('code', '=', str(value))])
        shown = value
    if not party:
        raise ApiError('unknown_counterparty', gettext(
                'dualrec_orders.msg_api_unknown_counterparty',
                counterparty=shown), field='counterparty')
    return party


def branch(code, company):
    Branch = Pool().get('dualrec.branch')
    # the branches of the user's company: the order center may bill any
    with without_check_access():
        branch = find(Branch, [('company', '=', company),
                ('code', '=', str(code))])
    if not branch:
        raise ApiError('unknown_branch', gettext(
                'dualrec_orders.msg_api_unknown_branch', branch=code),
            field='branch')
    return branch


def currency(code):
    Currency = Pool().get('currency.currency')
    currency = find(Currency, [('code', '=', str(code))])
    if not currency:
        raise ApiError('unknown_currency', gettext(
                'dualrec_orders.msg_api_unknown_currency', currency=code),
            field='currency')
    return currency


def extension_value(key, value):
    """Return value (as JSON sends it) converted to the kind of key, or
    raise ValueError."""
    kind = key.type_
    if value is None:
        return None
    if kind == 'datetime':
        value = dt.datetime.fromisoformat(str(value))
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    elif kind == 'date':
        value = dt.date.fromisoformat(str(value))
    elif kind == 'numeric' and not isinstance(value, bool):
        value = money.to_decimal(value)
    elif kind == 'float' and not isinstance(value, bool):
        value = float(value)
    elif kind == 'integer' and isinstance(value, str):
        value = int(value)
    if not ExtensionKey_accepts(key, value):
        raise ValueError(value)
    return value


def extension(data, type_):
    if data in (None, {}):
        return None
    keys = {k.name: k for k in type_.extension_keys}
    if not isinstance(data, dict):
        raise ApiError('bad_extension', gettext(
                'dualrec_orders.msg_api_bad_value', value=data,
                field='extension'), field='extension')
    result = {}
    for name, value in data.items():
        key = keys.get(name)
        try:
            if key is None:
                raise ValueError(name)
            value = extension_value(key, value)
        except (ValueError, TypeError, money.MoneyError):
            raise ApiError('bad_extension', gettext(
                    'dualrec_orders.msg_api_bad_extension', key=name,
                    value=value, type=type_.code), field='extension',
                key=name) from None
        if value is not None:
            result[name] = value
    return result or None


def line_values(data, number):
    Product = Pool().get('product.product')
    if not isinstance(data, dict):
        raise bad_value(data, 'lines')
    code = required(data, 'product')
    product = find(Product, [('code', '=', str(code)),
            ('type', '=', 'service')])
    if not product:
        raise ApiError('unknown_product', gettext(
                'dualrec_orders.msg_api_unknown_product', line=number,
                product=code), field='lines', line=number)
    values = {'product': product.id, 'description': data.get('description')}
    for name, default in [('quantity', 1), ('unit_price', None)]:
        value = data.get(name, default)
        try:
            values[name] = money.to_decimal(value)
        except money.MoneyError:
            raise ApiError('bad_amount', gettext(
                    'dualrec_orders.msg_api_bad_amount', line=number,
                    value=value, field=name), field=name,
                line=number) from None
    rate = data.get('tax_rate')
    try:
        values['tax_rate'] = money.parse_rate(rate)
    except money.MoneyError:
        raise ApiError('bad_rate', gettext('dualrec_orders.msg_api_bad_rate',
                line=number, value=rate), field='tax_rate',
            line=number) from None
    return values


def order_values(data):
    """Return the values of create_from and the line values of the body
    data of POST orders; raise ApiError on any bad input."""
    User = Pool().get('res.user')
    company = company_id()
    type_ = order_type(required(data, 'type'))
    party = counterparty(required(data, 'counterparty'))
    date = parse_date(required(data, 'date'), 'date')
    external_ref = str(required(data, 'external_reference')).strip()
    source = str(data.get('source') or 'api').strip()
    direction = data.get('direction') or type_.direction
    if direction not in dict(DIRECTIONS):
        raise bad_value(direction, 'direction')
    if data.get('branch'):
        branch_id = branch(data['branch'], company).id
    else:
        branch_id = User.get_dualrec_branch()
    lines = required(data, 'lines')
    if not isinstance(lines, list):
        raise bad_value(lines, 'lines')
    lines = [line_values(l, i) for i, l in enumerate(lines, 1)]
    description = data.get('description')
    if description is not None and not isinstance(description, str):
        raise bad_value(description, 'description')
    values = {
        'company': company,
        'type_': type_.id,
        'direction': direction,
        'counterparty': party.id,
        'branch': branch_id,
        'date': date,
        'currency': currency(data.get('currency') or 'CNY').id,
        'source': source,
        'external_ref': external_ref,
        'description': description or None,
        'extension': extension(data.get('extension'), type_),
        }
    return values, lines


# -- the answers ----------------------------------------------------------------

def _code(record, name='code'):
    return getattr(record, name) if record else None


def order_json(order, full=False):
    "Return the JSON of order; full adds its lines, extension and trace."
    with without_check_access():
        result = {
            'id': order.id,
            'number': order.number,
            'type': order.type_.code,
            'direction': order.direction,
            'counterparty': {'id': order.counterparty.id,
                'code': order.counterparty.code,
                'name': order.counterparty.name},
            'branch': _code(order.branch),
            'date': order.date,
            'currency': order.currency.code,
            'state': order.state,
            'source': order.source,
            'external_reference': order.external_ref,
            'description': order.description,
            'untaxed_amount': order.untaxed_amount,
            'tax_amount': order.tax_amount,
            'total_amount': order.total_amount,
            'confirmed_at': order.confirmed_at,
            'invoiced_at': order.invoiced_at,
            'settled_at': order.settled_at,
            'cancelled_at': order.cancelled_at,
            'created_at': order.create_date,
            'written_at': order.write_date or order.create_date,
            }
        if full:
            result['extension'] = dict(order.extension or {})
            result['lines'] = [{
                    'product': l.product.code,
                    'description': l.description,
                    'quantity': l.quantity,
                    'unit_price': l.unit_price,
                    'tax_rate': l.tax_rate,
                    'untaxed_amount': l.untaxed_amount,
                    'tax_amount': l.tax_amount,
                    'total_amount': l.total_amount,
                    } for l in order.lines]
            result['trace'] = [{
                    'date': e.date,
                    'user': e.user.login if e.user else None,
                    'from_state': e.from_state,
                    'to_state': e.to_state,
                    'comment': e.comment,
                    } for e in order.events]
    return result


def visible_order(order_id):
    "Return the order of order_id if the user may read it, else 404."
    pool = Pool()
    Api = pool.get('dualrec.api')
    Order = pool.get('dualrec.order')
    try:
        order_id = int(order_id)
    except (TypeError, ValueError):
        raise Api.not_found()
    orders = Order.search([('id', '=', order_id)], limit=1)
    if not orders:
        raise Api.not_found()
    return orders[0]


def _unique_violation(error):
    text = gettext('dualrec_orders.msg_order_external_ref_unique')
    return text in str(error.message)


@route('/orders', {'POST'})
def create_order(request, pool):
    """Create an order (201) or return the one of its source and external
    reference (200); 409 if that one has another content."""
    Api = pool.get('dualrec.api')
    Order = pool.get('dualrec.order')
    check_right(write=True)
    data = Api.body(request)
    values, lines = order_values(data)
    confirm = data.get('confirm', True)
    if not isinstance(confirm, bool):
        raise bad_value(confirm, 'confirm')
    transaction = Transaction()
    try:
        order, = Order.create_from(
            [{**values, 'lines': lines}], confirm=confirm)
    except SQLConstraintError as error:
        if _unique_violation(error):
            # a concurrent call created it after this transaction began:
            # with_transaction retries, and the retry finds it
            raise DatabaseOperationalError(str(error)) from error
        raise
    created = order.id in (transaction.create_records or {}).get(
        Order.__name__, ())
    if not created and order.fingerprint != Order.content(values, lines):
        raise ApiError('conflict', gettext('dualrec_orders.msg_api_conflict',
                order=order.number, source=values['source'],
                reference=values['external_ref']), 409, id=order.id,
            number=order.number)
    return order_json(order, full=True), 201 if created else 200


@route('/orders', {'GET'})
def list_orders(request, pool):
    """Return the orders the user may read, newest business date first:
    type (code), state, since (a date: business date on or after; a
    date-time: last written at or after), limit and offset."""
    Order = pool.get('dualrec.order')
    check_right()
    args = request.args
    domain = []
    if args.get('type'):
        domain.append(('type_', '=', order_type(args['type']).id))
    if args.get('state'):
        if args['state'] not in STATES:
            raise bad_value(args['state'], 'state')
        domain.append(('state', '=', args['state']))
    since = args.get('since')
    if since:
        if 'T' in since or ' ' in since.strip():
            # an unencoded '+' of the offset arrives as a space
            since = re.sub(r' (\d\d:?\d\d)$', r'+\1', since.strip())
            since = parse_datetime(since, 'since')
            domain.append(['OR',
                    ('write_date', '>=', since),
                    [('write_date', '=', None),
                        ('create_date', '>=', since)],
                    ])
        else:
            domain.append(('date', '>=', parse_date(since, 'since')))
    try:
        limit = int(args.get('limit', DEFAULT_LIMIT))
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError
    except ValueError:
        raise bad_value(args.get('limit'), 'limit') from None
    try:
        offset = int(args.get('offset', 0))
        if offset < 0:
            raise ValueError
    except ValueError:
        raise bad_value(args.get('offset'), 'offset') from None
    orders = Order.search(domain, offset=offset, limit=limit,
        order=[('date', 'DESC'), ('id', 'DESC')])
    return {
        'count': Order.search_count(domain),
        'limit': limit,
        'offset': offset,
        'orders': [order_json(o) for o in orders],
        }


@route('/orders/<order_id>', {'GET'})
def get_order(request, pool, order_id):
    "Return the order with its lines, extension and trace."
    check_right()
    return order_json(visible_order(order_id), full=True)

