# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The public scan page of the move-car plates and the agents' plate API.

The page is public (no login) and in Chinese, at
/<database>/dualrec/m/<serial>.<signature> (GET) with its forms posted to
…/call, …/message, …/bind/request and …/bind/confirm; a reverse proxy maps
the plates' public address (Configuration.plate_url) onto it.  Each form
carries a token bound to the plate's payload (CSRF); each action is rate
limited per plate and per client address (in process) and logged in
dualrec.plate.scan.  The owner's number never reaches a response.

The agents' calls are JSON API routes (routes.route): list their plates,
bind and unbind one of theirs.
"""
import datetime as dt
import math
import time

from werkzeug.exceptions import NotFound

from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.protocols.wrappers import Response, with_pool, with_transaction
from trytond.transaction import Transaction, without_check_access
from trytond.wsgi import app

from dualrec import plate as plates
from dualrec import plate_page as pages
from dualrec import plate_scan as scans

from .exceptions import PlateRefusal
from .plate import PLATE_STATES, plate_key
from .routes import check_group, route, text, utc
from .scan import now, scan_key

PAGE = '/<database_name>/dualrec/m/<payload>'
# the action of each form → the kind of scan logged and its depth below the
# plate's page (for the relative links)
ACTIONS = {
    None: ('view', 0),
    'call': ('call', 1),
    'message': ('message', 1),
    'bind/request': ('bind_request', 2),
    'bind/confirm': ('bind', 2),
    }
HEADERS = {
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    # no-referrer would make the browsers post the forms with "Origin:
    # null", which trytond refuses
    'Referrer-Policy': 'same-origin',
    'Content-Security-Policy': ("default-src 'none'; "
        "style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"),
    }
# in-process rate limits (per server process); tests replace it
LIMITS = scans.Limits()
MAX_LIST = 500


def html(body, status=200, headers=None):
    response = Response(body, status=status,
        content_type='text/html; charset=utf-8')
    response.headers.update(HEADERS)
    if headers:
        response.headers.update(headers)
    return response


def forged_page():
    return html(pages.notice_page('二维码无效',
            '这不是有效的智能挪车牌二维码，无法联系车主。请核对挪车牌后重新扫码。'),
        404)


def handle(request, pool, payload, action=None):
    """Answer the scan page of payload (action None) or one of its forms
    (ACTIONS), inside the request's transaction, in Chinese."""
    transaction = Transaction()
    with transaction.set_context(language='zh_CN'):
        return _handle(request, pool, payload, action)


def _handle(request, pool, payload, action):
    Plate = pool.get('dualrec.plate')
    Scan = pool.get('dualrec.plate.scan')
    transaction = Transaction()
    kind, depth = ACTIONS[action]
    base = '../' * depth
    key = scan_key()
    client = scans.client_hash(key, request.remote_addr)
    try:
        serial = plates.verify_payload(plate_key(), payload)
        plate = Plate.find_serial(serial, lock=action is not None)
    except (plates.PlateError, PlateRefusal):
        # a forged payload and an unknown serial look the same
        if LIMITS.limiters['view'][1].hit(client):
            return limited_page(600)
        return forged_page()
    payload = plates.sign_serial(plate_key(), plate.serial)
    if action is not None:
        if not scans.check_form_token(key, plate.serial,
                request.form.get('token'), time.time()):
            return html(pages.notice_page('页面已过期',
                    gettext('dualrec_valueadd.msg_plate_form_expired'),
                    base, payload), 400)
    wait = LIMITS.hit(kind, plate.serial, client)
    if wait:
        Scan.log(plate, kind, client, 'limited')
        return limited_page(wait, base, payload)
    token = scans.form_token(key, plate.serial, time.time())
    try:
        with transaction.set_context(company=plate.company.id):
            response = VIEWS[kind](request, pool, plate, payload, base,
                token)
    except PlateRefusal as refusal:
        # every refusal comes before the action writes anything
        Scan.log(plate, kind, client,
            'failed' if refusal.status >= 500 else 'refused')
        return html(pages.notice_page('无法完成操作', refusal.message,
                base, payload), refusal.status)
    outcome = 'ok' if response.status_code < 400 else 'refused'
    Scan.log(plate, kind, client, outcome)
    return response


def limited_page(wait, base=None, payload=None):
    minutes = max(1, math.ceil(wait / 60))
    return html(pages.notice_page('操作过于频繁',
            gettext('dualrec_valueadd.msg_plate_rate_limited',
                minutes=minutes), base, payload), 429,
        {'Retry-After': str(math.ceil(wait))})


def _config(pool):
    Configuration = pool.get('dualrec.valueadd.configuration')
    with without_check_access():
        return Configuration(1)


def view(request, pool, plate, payload, base, token):
    if plate.state == 'bound':
        config = _config(pool)
        return html(pages.bound_page(base, payload, token,
                scans.mask_vehicle(plate.vehicle_plate),
                ask_caller=config.privacy_kind == 'axb',
                minutes=config.privacy_minutes,
                call=bool(config.privacy_provider),
                message=bool(config.sms_provider)))
    if plate.state == 'sold':
        return html(pages.unbound_page(base, payload, token))
    if plate.state == 'deactivated':
        return html(pages.notice_page('该挪车牌已停用',
                '该挪车牌已停用，无法联系车主。如您是车主，请联系发放挪车牌的'
                '保险公司或业务员更换。'))
    return html(pages.notice_page('该挪车牌尚未启用',
            '该挪车牌尚未投入使用，暂时无法联系车主。'))


def _check_bound(plate):
    if plate.state != 'bound':
        raise PlateRefusal(f'state_{plate.state}', status=409,
            serial=plate.serial)


def call(request, pool, plate, payload, base, token):
    PlatePrivacy = pool.get('dualrec.plate.privacy')
    Company = pool.get('company.company')
    _check_bound(plate)
    binding = PlatePrivacy.for_call(plate, request.form.get('caller'))
    left = binding.expires_at - now()
    minutes = max(1, math.ceil(left.total_seconds() / 60))
    with without_check_access():
        timezone = Company(plate.company.id).timezone or 'Asia/Shanghai'
    from trytond.tools import timezone as tz
    until = binding.expires_at.replace(tzinfo=dt.timezone.utc).astimezone(
        tz.get_tzinfo(timezone)).strftime('%H:%M')
    return html(pages.call_page(base, payload, binding.secret_no,
            binding.extension, until, minutes))


def message(request, pool, plate, payload, base, token):
    _check_bound(plate)
    preset = request.form.get('preset')
    if preset not in scans.PRESETS:
        raise PlateRefusal('bad_preset')
    provider = _config(pool).get_sms_provider()
    from dualrec.sms import SmsError
    try:
        provider.send(plate.owner_phone(), 'plate_move_car', {
                'vehicle': plate.vehicle_plate,
                'reason': scans.PRESETS[preset]})
    except SmsError:
        raise PlateRefusal('sms_unavailable', status=503) from None
    return html(pages.sent_page(base, payload))


def bind_request(request, pool, plate, payload, base, token):
    BindCode = pool.get('dualrec.plate.bind.code')
    form = request.form
    vehicle = (form.get('vehicle_plate') or '')[:20]
    phone = (form.get('phone') or '')[:20]
    try:
        if plate.state != 'sold':
            raise PlateRefusal(f'state_{plate.state}', status=409,
                serial=plate.serial)
        if not form.get('consent'):
            raise PlateRefusal('consent_required')
        handle_, masked = BindCode.request(plate, vehicle, phone)
    except PlateRefusal as refusal:
        if refusal.code not in {
                'bad_vehicle_plate', 'bad_phone', 'consent_required'}:
            raise
        return html(pages.unbound_page(base, payload, token,
                error=refusal.message, vehicle=vehicle), 400)
    return html(pages.code_page(base, payload, token, handle_, masked))


def bind_confirm(request, pool, plate, payload, base, token):
    BindCode = pool.get('dualrec.plate.bind.code')
    form = request.form
    handle_ = (form.get('request') or '')[:64]
    bound, refusal, masked = BindCode.confirm(plate, handle_,
        (form.get('code') or '')[:10])
    if bound:
        return html(pages.notice_page('绑定成功',
                f'挪车牌已绑定车辆 {scans.mask_vehicle(plate.vehicle_plate)}。'
                '他人扫码后可通过隐私号码或短信通知您挪车，您的号码不会显示。',
                base, payload))
    if refusal.code == 'code_wrong':
        # the wrong attempt is counted: this answer commits
        return html(pages.code_page(base, payload, token, handle_,
                masked, error=refusal.message), 400)
    return html(pages.notice_page('无法完成绑定', refusal.message, base,
            payload), refusal.status)


VIEWS = {
    'view': view,
    'call': call,
    'message': message,
    'bind_request': bind_request,
    'bind': bind_confirm,
    }


def _page_route(action, methods):
    rule = PAGE + (f'/{action}' if action else '')

    def page_view(request, pool, payload):
        try:
            pool.get('dualrec.plate.scan')
        except KeyError:
            raise NotFound()
        return handle(request, pool, payload, action)
    page_view.__name__ = 'plate_page_' + (action or 'view').replace('/', '_')
    view_ = with_pool(with_transaction(readonly=False)(page_view))
    app.route(rule, methods=methods)(view_)


_page_route(None, {'GET'})
for _action in ['call', 'message', 'bind/request', 'bind/confirm']:
    _page_route(_action, {'POST'})


# the agents' API

def agent_party():
    "Return the party the current API user acts for as a plate agent."
    PartnerUser = Pool().get('dualrec.valueadd.user')
    check_group('dualrec_valueadd.group_plate_agent')
    with without_check_access():
        partner = PartnerUser.of_user()
    if not partner:
        raise PlateRefusal('not_agent', status=403)
    return partner.party


def user_companies():
    "Return the ids of the companies of the current user."
    User = Pool().get('res.user')
    with without_check_access():
        return [c.id for c in User(Transaction().user).companies]


def agent_plate(serial):
    "Return the agent's plate of serial, locked (404 if not theirs)."
    Plate = Pool().get('dualrec.plate')
    party = agent_party()
    plate = Plate.find_serial(serial, lock=True)
    companies = user_companies()
    with without_check_access():
        if plate.agent != party or plate.company.id not in companies:
            # another agent's plate does not exist for this one
            raise PlateRefusal('unknown', status=404,
                serial=plate.serial)
    return plate


def plate_json(plate):
    with without_check_access():
        return {
            'serial': plate.serial,
            'state': plate.state,
            'vehicle_plate': plate.vehicle_plate,
            'phone': plate.phone,
            'bound_at': utc(plate.bound_at),
            'bound_channel': plate.bound_channel,
            'url': plate.url,
            }


@route('/plates', {'GET'})
def list_plates(request, pool):
    "List the agent's plates, of one state (?state=) or all."
    Plate = pool.get('dualrec.plate')
    party = agent_party()
    state = request.args.get('state') or None
    if state and state not in dict(PLATE_STATES):
        raise PlateRefusal('bad_state', value=state[:20])
    try:
        offset = max(0, int(request.args.get('offset') or 0))
        limit = min(MAX_LIST, max(1, int(request.args.get('limit')
                    or MAX_LIST)))
    except ValueError:
        raise PlateRefusal('bad_state', value='limit/offset') from None
    domain = [
        ('agent', '=', party.id),
        ('company', 'in', user_companies()),
        ]
    if state:
        domain.append(('state', '=', state))
    with without_check_access():
        records = Plate.search(domain, offset=offset, limit=limit)
        total = Plate.search_count(domain)
    return {'total': total, 'offset': offset,
        'plates': [plate_json(p) for p in records]}


@route('/plates/<serial>/bind', {'POST'})
def bind_plate(request, pool, serial):
    "Bind the agent's plate to a vehicle and its owner's phone."
    Api = pool.get('dualrec.api')
    data = Api.body(request)
    plate = agent_plate(serial)
    vehicle = text(data, 'vehicle_plate', size=20)
    phone = text(data, 'phone', size=30)
    # the agent's right to the plate is checked above: the plate's own
    # fields are not readable by the agents' group
    with Transaction().set_context(company=plate.company.id), \
            without_check_access():
        changed = plate.bind(vehicle, phone, 'agent')
    return plate_json(plate), 201 if changed else 200


@route('/plates/<serial>/unbind', {'POST'})
def unbind_plate(request, pool, serial):
    "Unbind the agent's plate from its vehicle and owner."
    plate = agent_plate(serial)
    with Transaction().set_context(company=plate.company.id), \
            without_check_access():
        plate.unbind('agent')
    return plate_json(plate)
