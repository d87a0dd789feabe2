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

The compressed MP4 is at most a few megabytes: it is decrypted whole and its
SHA-256 checked before a byte is sent, then served with HTTP range support
so the browser can seek.
"""
import base64
import hashlib
import hmac
import io
import json
import time
from contextlib import contextmanager

from werkzeug.exceptions import RequestedRangeNotSatisfiable

from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.protocols.wrappers import Response, with_pool, with_transaction
from trytond.transaction import Transaction, without_check_access
from trytond.wsgi import app

from dualrec.crypto import envelope, evidence
from .configuration import (
    evidence_signing_key, media_keyring, pii_master_key)
from .exceptions import RecordingError
from .webapi import ApiError, endpoint, json_response, visible

LINK_HOURS = 4
EXPORT_GROUP = 'group_dualrec_export'


def _link_key():
    "A key for the links, derived from the master key of the configuration."
    master = pii_master_key() or ''
    return hmac.new(master.encode('utf-8'), b'dualrec playback link v1',
        hashlib.sha256).digest()


MODES = {'play': '0', 'download': '1', 'evidence': '2'}


def sign_link(database, recording_id, user_id, mode='play', now=None):
    "Return the token of a link to the media of a recording for a user."
    expires = int((now or time.time()) + LINK_HOURS * 3600)
    payload = f'{recording_id}.{user_id}.{expires}.{MODES[mode]}'
    mac = hmac.new(_link_key(), f'{database}.{payload}'.encode(),
        hashlib.sha256).digest()
    return payload + '.' + base64.urlsafe_b64encode(mac).decode().rstrip('=')


def check_link(database, token, now=None):
    "Return (recording id, user id, mode) of a valid token, else None."
    try:
        recording_id, user_id, expires, download, mac = token.split('.')
        payload = f'{recording_id}.{user_id}.{expires}.{download}'
        expected = hmac.new(_link_key(), f'{database}.{payload}'.encode(),
            hashlib.sha256).digest()
        given = base64.urlsafe_b64decode(mac + '=' * (-len(mac) % 4))
        if not hmac.compare_digest(expected, given):
            return None
        if int(expires) < (now or time.time()):
            return None
        mode = {v: k for k, v in MODES.items()}[download]
        return int(recording_id), int(user_id), mode
    except (ValueError, TypeError, KeyError):
        return None


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


def media_response(request, recording, download=False):
    "Answer the MP4 of recording, with range support; audit it."
    pool = Pool()
    AuditLog = pool.get('dualrec.audit.log')
    data = decrypted(recording)
    response = Response(data, mimetype='video/mp4', direct_passthrough=True)
    filename = f'{recording.ticket.number}-v{recording.version}.mp4'
    response.headers['Content-Disposition'] = (
        f'{"attachment" if download else "inline"}; filename="{filename}"')
    response.headers['Cache-Control'] = 'private, no-store'
    try:
        response.make_conditional(request, accept_ranges=True,
            complete_length=len(data))
    except RequestedRangeNotSatisfiable:
        return json_response({'code': 'bad_range', 'message':
                gettext('dualrec_core.msg_upload_bad_range')}, 416)
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
    if download and not may_download():
        raise ApiError(403, 'forbidden',
            gettext('dualrec_core.msg_recording_export_denied'))
    try:
        return media_response(request, recording, download)
    except RecordingError as error:
        raise ApiError(409, 'not_playable', error.message)


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


@app.route('/<database_name>/dualrec/media/<token>', methods={'GET'})
@with_pool
@with_transaction(readonly=False)
def link_media(request, pool, token):
    "The signed link of the web client: runs as the user it was made for."
    checked = check_link(pool.database_name, token)
    if not checked:
        return json_response({'code': 'unauthorized', 'message':
                gettext('dualrec_core.msg_api_unauthorized')}, 401)
    recording_id, user_id, mode = checked
    download = mode != 'play'
    with link_user(pool, user_id):
        Recording = pool.get('dualrec.recording')
        records = Recording.search([('id', '=', recording_id)], limit=1)
        if not records:
            return json_response({'code': 'not_found', 'message':
                    gettext('dualrec_core.msg_api_not_found')}, 404)
        if download and not may_download():
            return json_response({'code': 'forbidden', 'message':
                    gettext('dualrec_core.msg_recording_export_denied')},
                403)
        try:
            if mode == 'evidence':
                return evidence_response(records[0])
            return media_response(request, records[0], download)
        except RecordingError as error:
            return json_response(
                {'code': 'not_playable', 'message': error.message}, 409)


def play_action(recording, mode='play'):
    "Return the client action that opens the media of recording."
    transaction = Transaction()
    token = sign_link(transaction.database.name, recording.id,
        transaction.user, mode=mode)
    return {
        'type': 'ir.action.url',
        'url': f'/{transaction.database.name}/dualrec/media/{token}',
        'name': recording.rec_name,
        }

