# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import datetime as dt
import json
import secrets

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.transaction import Transaction, without_check_access

from .configuration import media_keyring
from .model import BigInteger
from .exceptions import UploadSessionError
from dualrec.crypto import envelope
from dualrec.media import pipeline
from dualrec.upload import (
    SNIFF_BYTES, UploadError, UploadStore, sniff_container)

UPLOAD_STATES = [
    ('open', "Open"),
    ('verifying', "Verifying"),
    ('completed', "Completed"),
    ('failed', "Failed"),
    ('expired', "Expired"),
    ]
EXTENSIONS = {
    'mp4': 'mp4', 'mov': 'mov', 'webm': 'webm', 'matroska': 'mkv',
    'avi': 'avi'}


def upload_error(error):
    "Translate a store error into a UserError with its code and status."
    return UploadSessionError(
        gettext(f'dualrec_core.msg_upload_{error.code}', **{
                k: v for k, v in error.params.items()
                if isinstance(v, (str, int, float))}),
        code=error.code, status=error.status, params=error.params)


class UploadSession(ModelSQL, ModelView):
    __string__ = "Upload Session"
    __name__ = 'dualrec.upload'
    _rec_name = 'uuid'

    uuid = fields.Char("Session", readonly=True, required=True,
        help="The public identifier of the upload session.")
    ticket = fields.Many2One('dualrec.ticket', "Ticket", required=True,
        ondelete='RESTRICT', readonly=True,
        help="The ticket the recording is for.")
    user = fields.Many2One('res.user', "User", readonly=True,
        ondelete='RESTRICT', help="Who uploads.")
    total_size = BigInteger("Size", readonly=True,
        help="The size of the file, in bytes.")
    sha256 = fields.Char("SHA-256", readonly=True,
        help="The announced SHA-256 digest of the file.")
    content_type = fields.Char("Content Type", readonly=True,
        help="The declared media type.")
    timeline = fields.Text("Timeline", readonly=True,
        help="The node timeline sent by the recorder, as JSON.")
    device = fields.Char("Device", readonly=True)
    browser = fields.Char("Browser", readonly=True)
    state = fields.Selection(UPLOAD_STATES, "State", readonly=True,
        required=True, help="Where the upload is.")
    error = fields.Char("Error", readonly=True,
        help="Why the upload failed.")
    recording = fields.Many2One('dualrec.recording', "Recording",
        readonly=True, ondelete='RESTRICT',
        help="The recording made from the upload.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('uuid_unique', Unique(t, t.uuid),
                'dualrec_core.msg_upload_uuid_unique'),
            ]

    @staticmethod
    def default_state():
        return 'open'

    @classmethod
    def store(cls):
        Configuration = Pool().get('dualrec.configuration')
        config = Configuration(1)
        # chunks are sealed as they come, one envelope chunk (1 MiB, or the
        # chunk size if smaller) at a time: a chunk sent is whole ones
        return UploadStore(config.get_storage_root() / 'uploads',
            config.max_upload_size, config.chunk_size, media_keyring(),
            unit=min(envelope.DEFAULT_CHUNK_SIZE, config.chunk_size))

    @classmethod
    def _parse_timeline(cls, ticket, timeline):
        """Check the node timeline sent by the recorder against the script
        and return the values of its nodes."""
        script = ticket.product.current_script
        nodes = {n.id: n for n in script.nodes} if script else {}
        lines = []
        if not isinstance(timeline, list):
            raise UploadSessionError(
                gettext('dualrec_core.msg_upload_timeline'),
                code='timeline', status=400)
        for sequence, item in enumerate(timeline, 1):
            try:
                node = nodes[int(item['node'])]
                started = dt.datetime.fromisoformat(item['started_at'])
                confirmed = (dt.datetime.fromisoformat(item['confirmed_at'])
                    if item.get('confirmed_at') else None)
            except (KeyError, TypeError, ValueError):
                raise UploadSessionError(
                    gettext('dualrec_core.msg_upload_timeline'),
                    code='timeline', status=400)
            if started.tzinfo:
                started = started.astimezone(dt.timezone.utc).replace(
                    tzinfo=None)
            if confirmed and confirmed.tzinfo:
                confirmed = confirmed.astimezone(dt.timezone.utc).replace(
                    tzinfo=None)
            lines.append({'sequence': sequence, 'node': node.id,
                    'started_at': started, 'confirmed_at': confirmed})
        return script, lines

    @classmethod
    def start(cls, ticket, total_size, sha256, content_type, timeline=None,
            device=None, browser=None):
        "Open an upload for ticket; the caller checked that he may write it."
        pool = Pool()
        AuditLog = pool.get('dualrec.audit.log')
        if ticket.state not in {'draft', 'recorded', 'rejected'}:
            raise UploadSessionError(gettext(
                    'dualrec_core.msg_upload_ticket_state',
                    ticket=ticket.rec_name), code='ticket_state', status=409)
        cls._parse_timeline(ticket, timeline or [])
        uuid = secrets.token_urlsafe(24)
        try:
            cls.store().create(uuid, total_size, sha256, content_type,
                dt.datetime.utcnow())
        except UploadError as error:
            raise upload_error(error) from error
        with without_check_access():
            session, = cls.create([{
                        'uuid': uuid, 'ticket': ticket.id,
                        'user': Transaction().user or None,
                        'total_size': total_size, 'sha256': sha256.lower(),
                        'content_type': content_type,
                        'timeline': json.dumps(timeline or []),
                        'device': (device or '')[:256] or None,
                        'browser': (browser or '')[:512] or None,
                        }])
        AuditLog.log('upload_start', [ticket],
            details=json.dumps({'upload': uuid, 'size': total_size}))
        return session

    @classmethod
    def complete(cls, session):
        """Close the upload, make the recording and queue its checks.

        Only the received ranges are checked here, so the call answers at
        once: the upload and its recording are 'verifying' until the
        queued task (``verify``) has checked the size, SHA-256 and
        container.  Completing again, or at the same time, an upload that
        is verifying or completed returns its recording.
        """
        pool = Pool()
        AuditLog = pool.get('dualrec.audit.log')
        Recording = pool.get('dualrec.recording')
        Ticket = pool.get('dualrec.ticket')
        Script = pool.get('dualrec.script')
        if session.state in {'verifying', 'completed'}:
            return session.recording
        state, recording = cls._lock_row(session)
        if state in {'verifying', 'completed'}:
            # a parallel call completed it meanwhile
            return Recording(recording)
        if state != 'open':
            raise UploadSessionError(gettext(
                    'dualrec_core.msg_upload_session_closed'),
                code='session_closed', status=409)
        try:
            cls.store().complete(session.uuid)
        except UploadError as error:
            raise upload_error(error) from error
        ticket = session.ticket
        script, lines = cls._parse_timeline(
            ticket, json.loads(session.timeline or '[]'))
        with without_check_access():
            recording, = Recording.create([{
                        'ticket': ticket.id,
                        'status': 'verifying',
                        'recorded_by': session.user,
                        'uploaded_at': dt.datetime.now(),
                        'original_size': session.total_size,
                        'original_content_type': session.content_type,
                        'original_sha256': session.sha256,
                        'device': session.device,
                        'browser': session.browser,
                        'timeline': [('create', lines)],
                        }])
            cls.write([session], {'state': 'verifying',
                    'recording': recording.id})
            if script:
                Script.freeze([script])
            Ticket.write([ticket], {'script': script.id if script else None})
            Ticket.record([ticket])
        AuditLog.log('upload_complete', [recording],
            details=json.dumps({'upload': session.uuid,
                    'sha256': session.sha256}))
        Recording.queue_processing([recording])
        return recording

    @classmethod
    def _lock_row(cls, session):
        """Take the session's row for this transaction and return its
        committed (state, recording id).

        Writing the row is what serializes parallel completes on both
        backends: on SQLite it takes the database's write lock (the reads
        before it were outside any transaction), on PostgreSQL a second
        writer waits, then fails to serialize and its request is run
        again.  Raw SQL: the record cache may hold what was read before.
        """
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.update([table.state], [table.state],
                where=table.id == session.id))
        cursor.execute(*table.select(table.state, table.recording,
                where=table.id == session.id))
        return cursor.fetchone()

    @classmethod
    def verify(cls, recording):
        """Check the upload of a verifying recording and store it (queue
        task, idempotent).

        Return the relative path of the stored original (an envelope), or
        None when a check failed: the upload and the recording are then
        failed with the reason and the received data is removed.
        """
        pool = Pool()
        Configuration = pool.get('dualrec.configuration')
        root = Configuration(1).get_storage_root()
        directory = f'recordings/{recording.ticket.id}/{recording.id}'
        sessions = cls.search([('recording', '=', recording.id)], limit=1)
        if not sessions:
            return cls._verify_failed(recording, None, 'session_unknown')
        session, = sessions
        store = cls.store()
        try:
            state = store.verify(session.uuid)
        except UploadError as error:
            if error.code != 'session_unknown':
                return cls._verify_failed(recording, session, error.code)
            # a previous run took the file, then its transaction was lost
            taken = sorted((root / directory).glob(
                    'original.*' + pipeline.SEALED_SUFFIX))
            if not taken:
                return cls._verify_failed(recording, session, error.code)
            digest, head = envelope.digest_file(
                media_keyring(), taken[0], SNIFF_BYTES)
            if digest != recording.original_sha256:
                return cls._verify_failed(
                    recording, session, 'checksum_mismatch')
            relative = taken[0].relative_to(root).as_posix()
            container = sniff_container(head)
        else:
            container = state['container']
            relative = (f'{directory}/original.'
                f'{EXTENSIONS.get(container, "bin")}{pipeline.SEALED_SUFFIX}')
            store.take(session.uuid, root / relative)
        cls.write([session], {'state': 'completed'})
        recording.__class__.write([recording], {
                'original_path': relative,
                'original_container': container,
                })
        return relative

    @classmethod
    def _verify_failed(cls, recording, session, code):
        if session:
            cls._fail(session, code)
        recording._fail(code, gettext(f'dualrec_core.msg_upload_{code}'))
        return None

    @classmethod
    def _fail(cls, session, code):
        pool = Pool()
        AuditLog = pool.get('dualrec.audit.log')
        with without_check_access():
            cls.write([session], {'state': 'failed', 'error': code})
        AuditLog.log('upload_fail', [session.ticket],
            details=json.dumps({'upload': session.uuid, 'error': code}))

    @classmethod
    def clean_expired(cls):
        "Remove the unfinished uploads older than the configured expiry."
        pool = Pool()
        Configuration = pool.get('dualrec.configuration')
        hours = Configuration(1).upload_expiry_hours
        now = dt.datetime.utcnow()
        removed = cls.store().clean(now, dt.timedelta(hours=hours))
        limit = dt.datetime.now() - dt.timedelta(hours=hours)
        sessions = cls.search(['OR',
                ('uuid', 'in', removed),
                [('state', '=', 'open'), ('create_date', '<', limit)],
                ])
        if sessions:
            cls.write(sessions, {'state': 'expired'})
        return sessions
