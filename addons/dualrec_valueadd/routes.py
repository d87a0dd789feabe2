# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The coupons of the JSON API under /<database>/dualrec/api/v1/.

The routes are answered by dualrec_core's API machinery (``dualrec.api`` in
the Pool): bearer authentication, access rights and record rules, and
{code, message} errors.  See doc/index.rst for the calls.
"""
import datetime as dt
import functools
import time

from werkzeug.exceptions import NotFound

from trytond.pool import Pool
from trytond.protocols.wrappers import with_pool, with_transaction
from trytond.transaction import Transaction, without_check_access
from trytond.wsgi import app

from dualrec import coupon as codes

from .exceptions import CouponRefusal

PREFIX = '/<database_name>/dualrec/api/v1'
MAX_ISSUE = 20


def route(rule, methods):
    """Register func(request, pool, **arguments) as the API route rule,
    answered by dualrec.api (404 on a database without the coupons)."""
    def decorator(func):
        @functools.wraps(func)
        def view(request, pool, **kwargs):
            try:
                Api = pool.get('dualrec.api')
                pool.get('dualrec.coupon')
            except KeyError:
                raise NotFound()
            return Api.serve(request, func, **kwargs)
        view = with_pool(with_transaction()(view))
        app.route(PREFIX + rule, methods=methods)(view)
        return func
    return decorator


def check_group(*names):
    "Refuse (403) a user who holds none of the groups names."
    User = Pool().get('res.user')
    for name in names:
        module, xml_id = name.split('.')
        if User.holds_group(xml_id, module=module):
            return
    raise CouponRefusal('forbidden', status=403)


def text(data, name, required=True, size=100):
    value = data.get(name)
    if value is None or value == '':
        if required:
            raise CouponRefusal('missing_field', field=name)
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise CouponRefusal('bad_value', field=name, value=value)
    value = str(value).strip()
    if len(value) > size:
        raise CouponRefusal('bad_value', field=name, value=value[:size])
    return value


def moment(data, name):
    "Return the ISO date-time of data[name] as naive UTC, or None."
    value = data.get(name)
    if value in (None, ''):
        return None
    try:
        value = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise CouponRefusal('bad_value', field=name, value=value) from None
    if value.tzinfo is None:
        raise CouponRefusal('bad_value', field=name, value=str(value))
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None)


def utc(value):
    "Return the naive UTC value as an ISO string with its offset."
    if value is None:
        return None
    return value.replace(tzinfo=dt.timezone.utc).isoformat()


def coupon_json(coupon, owner=False):
    with without_check_access():
        result = {
            'code': coupon.code,
            'formatted': coupon.formatted_code,
            'batch': coupon.batch.number,
            'service': coupon.batch.service.code,
            'face': coupon.batch.face,
            'state': coupon.state,
            'uses': coupon.uses,
            'usage_limit': coupon.usage_limit,
            'valid_from': coupon.first_day,
            'valid_until': coupon.last_day,
            'plate': coupon.plate,
            'policy_number': coupon.policy_number,
            'issued_at': utc(coupon.issued_at),
            }
        if owner:
            result['phone'] = coupon.phone
    return result


def redemption_json(redemption):
    """Return the JSON of redemption, read with one SQL query (the answer
    of every redemption call)."""
    pool = Pool()
    tables = {name: pool.get(model).__table__() for name, model in [
            ('redemption', 'dualrec.coupon.redemption'),
            ('coupon', 'dualrec.coupon'),
            ('batch', 'dualrec.coupon.batch'),
            ('service', 'dualrec.valueadd.service'),
            ('party', 'party.party'),
            ('store', 'dualrec.merchant.store'),
            ('order', 'dualrec.order'),
            ]}
    r, c, b, sv, p, st, o = tables.values()
    query = (r.join(c, condition=c.id == r.coupon)
        .join(b, condition=b.id == c.batch)
        .join(sv, condition=sv.id == r.service)
        .join(p, condition=p.id == r.merchant)
        .join(st, condition=st.id == r.store)
        .join(o, 'LEFT', condition=o.id == r.merchant_order)
        .select(c.code, sv.code, b.face, p.code, st.code, r.request_no,
            r.use_time, r.state, r.returned_at, r.return_request_no,
            c.state, o.number, r.orders_pending, r.rating,
            where=r.id == redemption.id))
    cursor = Transaction().connection.cursor()
    cursor.execute(*query)
    (code, service, face, merchant, store, request_no, use_time, state,
        returned_at, return_request_no, coupon_state, order, pending,
        rating), = cursor.fetchall()
    return {
        'id': redemption.id,
        'code': code,
        'service': service,
        'face': face,
        'merchant': merchant,
        'store': store,
        'use_request_no': request_no,
        'use_time': utc(timestamp(use_time)),
        'state': state,
        'returned_at': utc(timestamp(returned_at)),
        'return_request_no': return_request_no,
        'coupon_state': coupon_state,
        'merchant_order': order,
        'orders_pending': bool(pending),
        'rating': rating,
        }


def timestamp(value):
    "Return the timestamp value of a SQL row as a datetime."
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    return value


@route('/coupons/issue', {'POST'})
def issue(request, pool):
    """Issue coupons of a batch for a downloaded policy, idempotent on the
    insurer's request number."""
    Api = pool.get('dualrec.api')
    Coupon = pool.get('dualrec.coupon')
    check_group('dualrec_valueadd.group_valueadd_issuer',
        'dualrec_valueadd.group_valueadd')
    data = Api.body(request)
    request_no = text(data, 'request_no')
    batch_number = text(data, 'batch')
    count = data.get('count', 1)
    if (isinstance(count, bool) or not isinstance(count, int)
            or not 1 <= count <= MAX_ISSUE):
        raise CouponRefusal('bad_value', field='count', value=count)
    owner = data.get('owner') or {}
    vehicle = data.get('vehicle') or {}
    if not isinstance(owner, dict) or not isinstance(vehicle, dict):
        raise CouponRefusal('bad_value', field='owner')
    values = {
        'name': text(owner, 'name', required=False),
        'phone': text(owner, 'phone', required=False, size=30),
        'plate': text(vehicle, 'plate', required=False, size=20),
        'vehicle_model': text(vehicle, 'model', required=False),
        'policy': text(data, 'policy_number', required=False),
        }
    coupons, created = Coupon.issue_for_request(
        batch_number, request_no, values, count)
    return ({'request_no': request_no,
            'coupons': [coupon_json(c) for c in coupons]},
        201 if created else 200)


@route('/coupons/redeem', {'POST'})
def redeem(request, pool):
    """Redeem a coupon at a store of the user's merchant, idempotent on
    the merchant's use_request_no."""
    Api = pool.get('dualrec.api')
    Redemption = pool.get('dualrec.coupon.redemption')
    check_group('dualrec_valueadd.group_valueadd_merchant')
    data = Api.body(request)
    payload = data.get('qr') or data.get('code')
    if not payload:
        raise CouponRefusal('missing_field', field='code')
    if not isinstance(payload, str) or len(payload) > 200:
        raise CouponRefusal('bad_value', field='code', value='…')
    redemption, created = Redemption.redeem(payload,
        text(data, 'store'), text(data, 'use_request_no', size=64),
        use_time=moment(data, 'use_time'),
        operator=text(data, 'operator', required=False),
        plate=text(data, 'plate', required=False, size=20),
        location=text(data, 'location', required=False, size=200))
    return redemption_json(redemption), 201 if created else 200


@route('/coupons/<code>/return', {'POST'})
def return_(request, pool, code):
    "Return a redemption within the return window."
    Api = pool.get('dualrec.api')
    Redemption = pool.get('dualrec.coupon.redemption')
    check_group('dualrec_valueadd.group_valueadd_merchant')
    data = Api.body(request)
    redemption, _ = Redemption.return_(code,
        text(data, 'use_request_no', required=False, size=64),
        text(data, 'return_request_no', size=64),
        text(data, 'reason', size=200))
    return redemption_json(redemption)


@route('/coupons/<code>/token', {'POST'})
def token(request, pool, code):
    """Return the QR payload of a coupon for the owner's mini-program: the
    code and a short-lived signed token."""
    Api = pool.get('dualrec.api')
    Coupon = pool.get('dualrec.coupon')
    Configuration = pool.get('dualrec.valueadd.configuration')
    check_group('dualrec_valueadd.group_valueadd_app')
    data = Api.body(request)
    coupon = Coupon.find_code(code)
    if coupon.phone_index and not coupon.matches_phone(
            text(data, 'phone', required=False, size=30)):
        raise CouponRefusal('not_owner', status=403)
    if coupon.state != 'issued':
        raise CouponRefusal(f'state_{coupon.state}', status=409,
            code=coupon.formatted_code)
    minutes = Configuration(1).token_minutes
    now = int(time.time())
    payload = codes.issue_token(Coupon.token_key(), coupon.code, now,
        ttl=minutes * 60)
    return {'qr': payload, 'expires_at': utc(dt.datetime.fromtimestamp(
                now + minutes * 60, dt.timezone.utc).replace(tzinfo=None)),
        'coupon': coupon_json(coupon)}


@route('/coupons/<code>/rating', {'POST'})
def rating(request, pool, code):
    "Rate the service of the latest redemption of a coupon."
    Api = pool.get('dualrec.api')
    Redemption = pool.get('dualrec.coupon.redemption')
    check_group('dualrec_valueadd.group_valueadd_app')
    data = Api.body(request)
    redemption, created = Redemption.rate(code, data.get('rating'),
        comment=data.get('comment'),
        phone=text(data, 'phone', required=False, size=30))
    return redemption_json(redemption), 201 if created else 200

