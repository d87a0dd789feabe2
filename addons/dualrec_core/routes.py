# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"The endpoints of the JSON API (see webapi.py for the conventions)."
from trytond.exceptions import RateLimitException
from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.transaction import Transaction

from dualrec import pii
from .company import company_today
from .ticket import pii_message
from .webapi import (
    MAX_CHUNK_REQUEST, ApiError, body, endpoint, not_found, visible)


def _ref(record):
    return {'id': record.id, 'name': record.rec_name} if record else None


def ticket_json(ticket):
    recording = ticket.recording
    return {
        'id': ticket.id,
        'number': ticket.number,
        'task_number': ticket.task_number,
        'state': ticket.state,
        'branch': _ref(ticket.branch),
        'product': _ref(ticket.product),
        'insurance_period': ticket.insurance_period,
        'payment_method': ticket.payment_method,
        'salesperson': _ref(ticket.salesperson),
        'employee_number': ticket.employee_number,
        'policyholder_name': ticket.policyholder_name,
        'id_type': ticket.id_type,
        'id_number': ticket.id_number,
        'phone': ticket.phone,
        'applicant_age': ticket.applicant_age,
        'recording_required': ticket.recording_required,
        'review_comment': ticket.review_comment,
        'recording': recording_json(recording) if recording else None,
        'recordings': [{'id': r.id, 'version': r.version,
                'status': r.status} for r in ticket.recordings],
        }


def recording_json(recording):
    return {
        'id': recording.id,
        'ticket': recording.ticket.id,
        'version': recording.version,
        'status': recording.status,
        'error': recording.error,
        'original_size': recording.original_size,
        'original_sha256': recording.original_sha256,
        'compressed_size': recording.compressed_size,
        'compressed_sha256': recording.compressed_sha256,
        'duration': recording.duration,
        'video_codec': recording.video_codec,
        'audio_codec': recording.audio_codec,
        'width': recording.width,
        'height': recording.height,
        'key_id': recording.key_id,
        'low_quality': recording.low_quality,
        'tampered': recording.tampered,
        'timeline': [{
                'node': line.node.id if line.node else None,
                'started_at': line.started_at,
                'confirmed_at': line.confirmed_at,
                } for line in recording.timeline],
        }


@endpoint('/login', {'POST'}, authenticated=False, readonly=False)
def login(request, pool):
    User = pool.get('res.user')
    Token = pool.get('dualrec.api.token')
    Configuration = pool.get('dualrec.configuration')
    data = body(request)
    login, password = data.get('login'), data.get('password')
    if not isinstance(login, str) or not isinstance(password, str):
        raise ApiError(400, 'bad_credentials_format',
            gettext('dualrec_core.msg_api_bad_json'))
    try:
        user_id = User.get_login(login, {'password': password})
    except RateLimitException:
        # commit: the attempt counts, as trytond's own login keeps it
        raise ApiError(429, 'too_many_attempts',
            gettext('dualrec_core.msg_api_login_rate_limited'), commit=True)
    if not user_id:
        # commit: the failed attempt is kept in the audit log
        raise ApiError(401, 'login_failed',
            gettext('dualrec_core.msg_api_login_failed'), commit=True)
    hours = Configuration(1).token_hours
    secret, token = Token.issue(user_id, hours,
        ip_address=request.remote_addr,
        user_agent=request.headers.get('User-Agent'))
    return {'token': secret, 'expires_at': token.expires_at,
        'user': user_id}


@endpoint('/logout', {'POST'}, readonly=False)
def logout(request, pool):
    Token = pool.get('dualrec.api.token')
    token_id = Transaction().context.get('_dualrec_token')
    if token_id:
        with Transaction().set_context(_check_access=False):
            Token.revoke([Token(token_id)])
    return {'revoked': bool(token_id)}


@endpoint('/me', {'GET'})
def me(request, pool):
    User = pool.get('res.user')
    user = User(Transaction().user)
    return {
        'id': user.id,
        'login': user.login,
        'name': user.name,
        'language': user.language.code if user.language else None,
        'employee_number': user.employee_number,
        'branch': _ref(user.branch),
        'roles': [r.replace('group_dualrec_', '')
            for r in User.dualrec_roles()],
        }


@endpoint('/products', {'GET'})
def products(request, pool):
    Product = pool.get('dualrec.product')
    result = []
    for product in Product.search([]):
        script = product.current_script
        result.append({
                'id': product.id,
                'code': product.code,
                'name': product.name,
                'type': _ref(product.type_),
                'category': product.category,
                'period_class': product.period_class,
                'channel': product.channel,
                'recording_mandatory': product.recording_mandatory,
                'recording_obligation': product.recording_obligation,
                'script': {
                    'id': script.id,
                    'name': script.name,
                    'version': script.version,
                    'minimum_duration': script.minimum_duration,
                    'nodes': [{
                            'id': n.id,
                            'sequence': n.sequence,
                            'name': n.name,
                            'kind': n.kind,
                            'speaker': n.speaker,
                            'text': n.text,
                            'confirmation_required': n.confirmation_required,
                            'min_seconds': n.min_seconds,
                            } for n in script.nodes],
                    } if script else None,
                })
    return result


@endpoint('/options', {'GET'})
def options(request, pool):
    """The choices of a ticket form, in the user's language, and the
    recorder's settings."""
    Ticket = pool.get('dualrec.ticket')
    Configuration = pool.get('dualrec.configuration')
    fields = Ticket.fields_get(['id_type', 'payment_method'])
    configuration = Configuration(1)
    return {
        'id_types': [[k, v] for k, v in fields['id_type']['selection']],
        'payment_methods': [[k, v]
            for k, v in fields['payment_method']['selection'] if k],
        'chunk_size': configuration.chunk_size,
        'recorder': {
            # 640 + 48 kbit/s: a 40-minute session is about 200 MB
            'video_bits_per_second': 640_000,
            'audio_bits_per_second': 48_000,
            'timeslice_ms': 3000,
            },
        }


@endpoint('/id_numbers/check', {'POST'})
def check_id_number(request, pool):
    "Validate an identity document number as a ticket does."
    data = body(request)
    id_type, number = data.get('id_type'), data.get('id_number')
    if not isinstance(id_type, str) or not isinstance(number, str):
        raise ApiError(400, 'bad_id_number',
            gettext('dualrec_core.msg_api_bad_json'))
    try:
        normalized = pii.validate_id_number(id_type, number,
            today=company_today())
    except pii.PIIError as error:
        raise ApiError(400, error.code, pii_message(error))
    return {'valid': True, 'masked': pii.mask_id_number(normalized)}


TICKET_FIELDS = ['task_number', 'branch', 'product', 'insurance_period',
    'payment_method', 'employee_number', 'policyholder_name', 'id_type',
    'id_number', 'phone', 'applicant_age']


@endpoint('/tickets', {'GET'})
def tickets(request, pool):
    Ticket = pool.get('dualrec.ticket')
    domain = []
    if request.args.get('state'):
        domain.append(('state', 'in', request.args.get('state').split(',')))
    try:
        limit = min(int(request.args.get('limit', 100)), 500)
        offset = max(int(request.args.get('offset', 0)), 0)
    except ValueError:
        raise ApiError(400, 'bad_paging',
            gettext('dualrec_core.msg_api_bad_json'))
    return [ticket_json(t)
        for t in Ticket.search(domain, limit=limit, offset=offset)]


@endpoint('/tickets', {'POST'}, readonly=False)
def create_ticket(request, pool):
    Ticket = pool.get('dualrec.ticket')
    data = body(request)
    unknown = set(data) - set(TICKET_FIELDS)
    if unknown:
        raise ApiError(400, 'unknown_fields',
            gettext('dualrec_core.msg_api_unknown_fields',
                fields=', '.join(sorted(unknown))))
    values = {k: v for k, v in data.items() if v is not None}
    for name in ['branch', 'product']:
        if name in values:
            values[name] = visible(pool,
                Ticket._fields[name].model_name, values[name]).id
    ticket = Ticket(**values)
    ticket.save()
    return ticket_json(ticket), 201


@endpoint('/tickets/<ticket_id>', {'GET'})
def ticket(request, pool, ticket_id):
    return ticket_json(visible(pool, 'dualrec.ticket', ticket_id))


@endpoint('/recordings/<recording_id>', {'GET'})
def recording(request, pool, recording_id):
    return recording_json(visible(pool, 'dualrec.recording', recording_id))


@endpoint('/recordings/<recording_id>/retry', {'POST'}, readonly=False)
def retry_recording(request, pool, recording_id):
    """Process a failed (or held back) recording again: for its salesperson
    (the recorder's retry and "compress now") and the administrators."""
    Recording = pool.get('dualrec.recording')
    User = pool.get('res.user')
    recording = visible(pool, 'dualrec.recording', recording_id)
    if (recording.ticket.salesperson.id != Transaction().user
            and 'group_dualrec_admin' not in User.dualrec_roles()):
        raise not_found()
    if recording.status not in {'failed', 'uploaded'}:
        raise ApiError(409, 'not_retryable',
            gettext('dualrec_core.msg_recording_not_retryable',
                recording=recording.rec_name,
                status=dict(Recording.fields_get(['status'])['status'][
                        'selection'])[recording.status]))
    with Transaction().set_context(_check_access=False):
        Recording.retry([Recording(recording.id)])
    return recording_json(Recording(recording.id))


def _own_ticket(pool, ticket_id):
    "The ticket, if the user may read it and is its salesperson."
    ticket = visible(pool, 'dualrec.ticket', ticket_id)
    if ticket.salesperson.id != Transaction().user:
        raise not_found()
    return ticket


def _own_upload(pool, uuid):
    Upload = pool.get('dualrec.upload')
    uploads = Upload.search([
            ('uuid', '=', uuid),
            ('user', '=', Transaction().user),
            ], limit=1)
    if not uploads:
        raise not_found()
    return uploads[0]


def upload_json(upload, state=None):
    result = {
        'id': upload.uuid,
        'ticket': upload.ticket.id,
        'state': upload.state,
        'recording': upload.recording.id if upload.recording else None,
        }
    if state:
        result.update({k: state[k] for k in ['total_size', 'received',
                    'received_bytes', 'missing', 'complete_ready']})
    return result


@endpoint('/uploads', {'POST'}, readonly=False)
def start_upload(request, pool):
    Upload = pool.get('dualrec.upload')
    data = body(request)
    ticket = _own_ticket(pool, data.get('ticket'))
    upload = Upload.start(ticket, data.get('size'), data.get('sha256'),
        data.get('content_type'), timeline=data.get('timeline'),
        device=data.get('device'), browser=data.get('browser'))
    store = Upload.store()
    result = upload_json(upload, store.state(upload.uuid))
    # the configured size in whole envelope chunks: what the store takes
    result['chunk_size'] = store.chunk_size
    return result, 201


@endpoint('/uploads/<uuid>', {'GET'})
def upload_state(request, pool, uuid):
    Upload = pool.get('dualrec.upload')
    upload = _own_upload(pool, uuid)
    state = (Upload.store().state(upload.uuid)
        if upload.state == 'open' else None)
    return upload_json(upload, state)


@endpoint('/uploads/<uuid>', {'PUT'}, readonly=True,
    max_size=MAX_CHUNK_REQUEST)
def upload_chunk(request, pool, uuid):
    "Store the body at ?offset=N; retry-safe, in any order."
    from dualrec.upload import UploadError
    from .upload_session import upload_error
    Upload = pool.get('dualrec.upload')
    upload = _own_upload(pool, uuid)
    try:
        offset = int(request.args['offset'])
    except (KeyError, ValueError):
        raise ApiError(400, 'bad_offset',
            gettext('dualrec_core.msg_api_bad_offset'))
    length = request.content_length
    if not length:
        raise ApiError(411, 'length_required',
            gettext('dualrec_core.msg_api_length_required'))
    if upload.state != 'open':
        raise ApiError(409, 'session_closed',
            gettext('dualrec_core.msg_upload_session_closed'))
    store = Upload.store()
    try:
        # before the body is touched: werkzeug refuses a body over the
        # request limit with an exception of its own
        if length > store.chunk_size:
            raise UploadError(
                'chunk_size', 413, {'chunk_size': store.chunk_size})
        state = store.write_chunk(
            upload.uuid, offset, request.stream, length)
    except UploadError as error:
        raise upload_error(error) from error
    return upload_json(upload, state)


@endpoint('/uploads/<uuid>/complete', {'POST'}, readonly=False)
def complete_upload(request, pool, uuid):
    """Close the upload at once: 202 while its checks run in the queue
    (state 'verifying'), 200 once they passed; the same answer again for
    a repeated or parallel call."""
    Upload = pool.get('dualrec.upload')
    upload = _own_upload(pool, uuid)
    recording = Upload.complete(upload)
    # the recording read now, not the upload read before a parallel call
    # completed it: it tells where the upload is
    state = 'verifying' if recording.status == 'verifying' else 'completed'
    return {'upload': upload.uuid, 'state': state,
        'recording': recording_json(recording),
        }, 202 if state == 'verifying' else 200


@endpoint('/audit/verify', {'POST'}, readonly=True)
def audit_verify(request, pool):
    Pool().get('ir.model.access').check('dualrec.audit.log', 'read')
    AuditLog = pool.get('dualrec.audit.log')
    checked, broken = AuditLog.verify()
    return {'checked': checked, 'intact': broken is None,
        'broken': broken.id if broken else None}
