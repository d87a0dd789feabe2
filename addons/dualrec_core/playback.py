# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Play back and download recordings, decrypted on the fly.

Two ways in, one rule: the user must be allowed to read the recording
(access rights and record rules), every playback and download is audited,
and a file whose tags or SHA-256 do not verify is refused and flagged.

* the JSON API: GET /<db>/dualrec/api/v1/recordings/<id>/media with the
  bearer token (the recorder app, other clients);
* the web client: the Play button of a recording returns a link
  /<db>/dualrec/media/<token> signed for that user, that recording and a
  few hours, because a <video> element cannot send an Authorization header.

A signed link lives no longer than what created it: a link made in the web
client works only with a live Tryton session of its user (the tryton_session
cookie of that browser), a link made through the API only while its bearer
token is neither revoked nor expired; and never once the user is
deactivated.  So logging out, revoking the token or deactivating the user
stops the playback at the next range the player asks.

Whole files are for the export right (group_dualrec_export): others are
streamed to the player in byte ranges of at most RANGE_CAP bytes (a <video>
element asks ranges), a request without a Range header or with download=1
is refused.  The compressed MP4 is at most a few megabytes: it is decrypted
whole and its SHA-256 checked before a byte is sent.
"""
import base64
import datetime as dt
import hashlib
import hmac
import io
import json
import time
from contextlib import contextmanager

from werkzeug.exceptions import RequestedRangeNotSatisfiable

from trytond.i18n import gettext
from trytond.model import Model
from trytond.pool import Pool
from trytond.protocols.wrappers import (
    TRYTON_SESSION_COOKIE, Response, decode_session_cookie, with_pool,
    with_transaction)
from trytond.transaction import Transaction, without_check_access
from trytond.wsgi import app

from dualrec.crypto import envelope, evidence
from .configuration import (
    evidence_signing_key, media_keyring, pii_master_key)
from .exceptions import RecordingError
from .webapi import ApiError, endpoint, json_response, visible

LINK_HOURS = 4
EXPORT_GROUP = 'group_dualrec_export'
# bytes of one answer to a range request of a user without the export
# right: a player asks the next range, a one-click download gets a piece
RANGE_CAP = 1024 * 1024


def _link_key():
    "A key for the links, derived from the master key of the configuration."
    master = pii_master_key() or ''
    return hmac.new(master.encode('utf-8'), b'dualrec playback link v1',
        hashlib.sha256).digest()


MODES = {'play': '0', 'download': '1', 'evidence': '2'}
# what a link is bound to: 's' a web client session (the tryton_session
# cookie of the request), 't<id>' the API token dualrec.api.token <id>
SESSION_BINDING = 's'


def sign_link(database, recording_id, user_id, mode='play', now=None,
        binding=SESSION_BINDING):
    "Return the token of a link to the media of a recording for a user."
    expires = int((now or time.time()) + LINK_HOURS * 3600)
    payload = f'{recording_id}.{user_id}.{expires}.{MODES[mode]}.{binding}'
    mac = hmac.new(_link_key(), f'{database}.{payload}'.encode(),
        hashlib.sha256).digest()
    return payload + '.' + base64.urlsafe_b64encode(mac).decode().rstrip('=')


def check_link(database, token, now=None):
    """Return (recording id, user id, mode, binding) of a token whose
    signature and expiry are valid, else None (the binding is not checked
    here: see link_alive)."""
    try:
        recording_id, user_id, expires, download, binding, mac = (
            token.split('.'))
        payload = f'{recording_id}.{user_id}.{expires}.{download}.{binding}'
        expected = hmac.new(_link_key(), f'{database}.{payload}'.encode(),
            hashlib.sha256).digest()
        given = base64.urlsafe_b64decode(mac + '=' * (-len(mac) % 4))
        if not hmac.compare_digest(expected, given):
            return None
        if int(expires) < (now or time.time()):
            return None
        mode = {v: k for k, v in MODES.items()}[download]
        return int(recording_id), int(user_id), mode, binding
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def current_binding():
    "Return the binding of a link made now: the API token or the session."
    token_id = Transaction().context.get('_dualrec_token')
    return f't{int(token_id)}' if token_id else SESSION_BINDING


@without_check_access
def link_alive(request, user_id, binding):
    """Tell whether what the link is bound to still lives: the user is
    active and his web session (cookie of request) or his API token is
    valid."""
    pool = Pool()
    User = pool.get('res.user')
    users = User.search([('id', '=', user_id), ('active', '=', True)],
        limit=1)
    if not users:
        return False
    if binding == SESSION_BINDING:
        Session = pool.get('ir.session')
        cookie = request.cookies.get(TRYTON_SESSION_COOKIE)
        try:
            _, session_user, key = decode_session_cookie(cookie)
            session_user = int(session_user)
        except (AttributeError, TypeError, ValueError):
            return False
        if session_user != user_id:
            return False
        # as trytond checks a session: its user, address and age
        with Transaction().set_context(_request=request.context):
            return bool(Session.check(user_id, key))
    if binding.startswith('t') and binding[1:].isdigit():
        Token = pool.get('dualrec.api.token')
        now = dt.datetime.now()
        return bool(Token.search([
                    ('id', '=', int(binding[1:])),
                    ('user', '=', user_id),
                    ('revoked_at', '=', None),
                    ('expires_at', '>', now),
                    ], limit=1))
    return False


def may_download():
    "Tell whether the current user holds the export right."
    pool = Pool()
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    group = ModelData.get_id('dualrec_core', EXPORT_GROUP)
    return group in User.get_groups()


def decrypted(recording):
    """Return the plain MP4 of a ready recording, checked.

    A failed tag or digest flags the recording as tampered (in its own
    transaction, so the flag stays whatever happens to the request), alerts
    the administrators and raises RecordingError.
    """
    pool = Pool()
    Configuration = pool.get('dualrec.configuration')
    if recording.status != 'ready' or not recording.compressed_path:
        raise RecordingError(gettext('dualrec_core.msg_recording_not_ready',
                recording=recording.rec_name))
    root = Configuration(1).get_storage_root()
    try:
        with envelope.DecryptedReader(
                media_keyring(), root / recording.compressed_path) as reader:
            data = reader.read()
        reason = None
        if hashlib.sha256(data).hexdigest() != recording.compressed_sha256:
            reason = 'sha256'
    except envelope.EnvelopeError as error:
        if error.code not in {'tampered', 'truncated', 'bad_format'}:
            raise
        reason = error.code
    except FileNotFoundError:
        reason = 'missing'
    if reason:
        flag_tampered(recording, reason)
        raise RecordingError(gettext('dualrec_core.msg_recording_tampered',
                recording=recording.rec_name))
    return data


def flag_tampered(recording, reason):
    "Flag recording, log it and tell the administrators, and commit that."
    transaction = Transaction()
    with transaction.new_transaction() as new, without_check_access():
        pool = Pool()
        Recording = pool.get('dualrec.recording')
        AuditLog = pool.get('dualrec.audit.log')
        target = Recording(recording.id)
        Recording.write([target], {'tampered': True})
        AuditLog.log('tampered', [target], user=transaction.user or None,
            details=json.dumps({'reason': reason}))
        Recording.notify_admins(gettext('dualrec_core.msg_recording_tampered',
                recording=target.rec_name), [target])
        new.commit()


def _media_error(code, message, status):
    return json_response({'code': code, 'message': message}, status)


def media_response(request, recording, download=False, whole=None):
    """Answer the MP4 of recording, with range support; audit it.

    whole tells whether the user may have the whole file in one answer
    (default: he holds the export right); if not, only a single byte range
    is answered, of at most RANGE_CAP bytes, and a request without a Range
    header or a download is refused (403 range_required / forbidden)."""
    pool = Pool()
    AuditLog = pool.get('dualrec.audit.log')
    if whole is None:
        whole = may_download()
    if download and not whole:
        return _media_error('forbidden',
            gettext('dualrec_core.msg_recording_export_denied'), 403)
    if not whole and request.range is None:
        return _media_error('range_required',
            gettext('dualrec_core.msg_recording_range_required'), 403)
    data = decrypted(recording)
    filename = f'{recording.ticket.number}-v{recording.version}.mp4'
    bad_range = _media_error('bad_range',
        gettext('dualrec_core.msg_upload_bad_range'), 416)
    if whole:
        response = Response(data, mimetype='video/mp4',
            direct_passthrough=True)
        try:
            response.make_conditional(request, accept_ranges=True,
                complete_length=len(data))
        except RequestedRangeNotSatisfiable:
            return bad_range
    else:
        # one range, capped: no multipart answer holding the whole file
        bounds = request.range.range_for_length(len(data))
        if bounds is None:
            return bad_range
        start, stop = bounds
        stop = min(stop, start + RANGE_CAP)
        response = Response(data[start:stop], status=206,
            mimetype='video/mp4', direct_passthrough=True)
        response.headers['Accept-Ranges'] = 'bytes'
        response.headers['Content-Range'] = (
            f'bytes {start}-{stop - 1}/{len(data)}')
    response.headers['Content-Disposition'] = (
        f'{"attachment" if download else "inline"}; filename="{filename}"')
    response.headers['Cache-Control'] = 'private, no-store'
    # a player asks many ranges: log the view once, at its start
    if request.range is None or request.range.ranges[0][0] == 0:
        AuditLog.log('download' if download else 'playback', [recording],
            details=json.dumps({'bytes': len(data)}))
    return response


def evidence_response(recording):
    """Answer the evidence package of recording (export right), audited.

    The ZIP holds the MP4, the manifest signed when the recording was
    processed, its signature and the public key; evidence.py verifies it
    offline."""
    pool = Pool()
    AuditLog = pool.get('dualrec.audit.log')
    data = decrypted(recording)
    manifest = evidence.parse_manifest(recording.manifest.encode('utf-8'))
    package = io.BytesIO()
    evidence.write_package(package, [data], manifest, evidence_signing_key())
    AuditLog.log('evidence', [recording],
        details=json.dumps({'bytes': package.tell()}))
    response = Response(package.getvalue(), mimetype='application/zip')
    filename = f'{recording.ticket.number}-v{recording.version}-evidence.zip'
    response.headers['Content-Disposition'] = (
        f'attachment; filename="{filename}"')
    response.headers['Cache-Control'] = 'private, no-store'
    return response


@endpoint('/recordings/<recording_id>/evidence', {'GET'}, readonly=False)
def api_evidence(request, pool, recording_id):
    recording = visible(pool, 'dualrec.recording', recording_id)
    if not may_download():
        raise ApiError(403, 'forbidden',
            gettext('dualrec_core.msg_recording_export_denied'))
    try:
        return evidence_response(recording)
    except RecordingError as error:
        raise ApiError(409, 'not_playable', error.message)


@endpoint('/recordings/<recording_id>/media', {'GET'}, readonly=False)
def api_media(request, pool, recording_id):
    recording = visible(pool, 'dualrec.recording', recording_id)
    download = request.args.get('download') in {'1', 'true'}
    try:
        return media_response(request, recording, download)
    except RecordingError as error:
        raise ApiError(409, 'not_playable', error.message)


@endpoint('/evidence/public_key', {'GET'}, authenticated=False)
def api_evidence_public_key(request, pool):
    """The institution's public key that signs the evidence packages (PEM),
    for `evidence.py verify --public-key`; its fingerprint in a header."""
    try:
        key = evidence_signing_key()
    except evidence.EvidenceError:
        raise ApiError(404, 'key_missing',
            gettext('dualrec_core.msg_evidence_key_missing'))
    response = Response(evidence.public_key_pem(key),
        content_type='application/x-pem-file')
    response.headers['Content-Disposition'] = (
        'inline; filename="dualrec-evidence-public-key.pem"')
    response.headers['X-Dualrec-Key-Fingerprint'] = (
        evidence.public_key_fingerprint(key))
    return response


@contextmanager
def link_user(pool, user_id):
    """Run as the user a signed link was made for, with his language and
    companies, access rights and record rules checked."""
    transaction = Transaction()
    User = pool.get('res.user')
    with transaction.set_user(user_id):
        context = User.get_preferences(context_only=True)
        with transaction.set_context(context, _check_access=True):
            yield


def open_link(request, pool, token, modes):
    """Return (recording id, user id, mode) of a link token that is valid,
    of one of modes and whose session or API token and user still live,
    else None."""
    checked = check_link(pool.database_name, token)
    if not checked or checked[2] not in modes:
        return None
    recording_id, user_id, mode, binding = checked
    if not link_alive(request, user_id, binding):
        return None
    return recording_id, user_id, mode


def link_dead():
    return _media_error('unauthorized',
        gettext('dualrec_core.msg_playback_link_dead'), 401)


@app.route('/<database_name>/dualrec/media/<token>', methods={'GET'})
@with_pool
@with_transaction(readonly=False)
def link_media(request, pool, token):
    "The signed link of the web client: runs as the user it was made for."
    checked = open_link(request, pool, token, set(MODES))
    if not checked:
        return link_dead()
    recording_id, user_id, mode = checked
    download = mode != 'play'
    with link_user(pool, user_id):
        Recording = pool.get('dualrec.recording')
        records = Recording.search([('id', '=', recording_id)], limit=1)
        if not records:
            return _media_error('not_found',
                gettext('dualrec_core.msg_api_not_found'), 404)
        if download and not may_download():
            return _media_error('forbidden',
                gettext('dualrec_core.msg_recording_export_denied'), 403)
        try:
            if mode == 'evidence':
                return evidence_response(records[0])
            return media_response(request, records[0], download)
        except RecordingError as error:
            return _media_error('not_playable', error.message, 409)


def play_action(recording, mode='play'):
    "Return the client action that opens the media of recording."
    transaction = Transaction()
    token = sign_link(transaction.database.name, recording.id,
        transaction.user, mode=mode, binding=current_binding())
    return {
        'type': 'ir.action.url',
        'url': f'/{transaction.database.name}/dualrec/media/{token}',
        'name': recording.rec_name,
        }


class Playback(Model):
    """What other addons need of the playback: signed links and the user
    they run as (addons meet through the Pool, not by importing)."""
    __string__ = "Playback"
    __name__ = 'dualrec.playback'

    @classmethod
    def sign(cls, recording, mode='play'):
        """Return the token of a link to recording for the current user,
        bound to his session or API token (see open_link)."""
        transaction = Transaction()
        return sign_link(transaction.database.name, recording.id,
            transaction.user, mode=mode, binding=current_binding())

    @classmethod
    def open(cls, request, token, modes=('play',)):
        """Return (recording id, user id, mode) of a live link token of one
        of modes, else None."""
        return open_link(request, Pool(), token, set(modes))

    @classmethod
    def as_link_user(cls, user_id):
        "Return the context manager running as the user of a link."
        return link_user(Pool(), user_id)
