# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import base64
import datetime as dt
import json
import logging

from sql.aggregate import Max

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access

from dualrec import media, pii, retention
from dualrec.crypto import envelope, evidence
from dualrec.media import pipeline
from . import guard
from .audit import AuditMixin
from .company import company_today
from .configuration import evidence_signing_key, media_keyring
from .exceptions import RecordingError
from .model import BigInteger

logger = logging.getLogger(__name__)
QUEUE = 'dualrec_media'
# transient failures (disk full, a killed process) are retried this many
# times, after 1, 2, 4, 8… minutes
MAX_ATTEMPTS = 5
# The message explaining each final media error to the salesperson
# (translated); other codes keep the English detail of the error.
MEDIA_REASONS = {
    'too_long': 'dualrec_core.msg_media_too_long',
    'truncated': 'dualrec_core.msg_media_truncated',
    'not_video': 'dualrec_core.msg_media_not_video',
    'no_video': 'dualrec_core.msg_media_no_video',
    'corrupt': 'dualrec_core.msg_media_corrupt',
    }


def media_reason(error):
    "Return the translated reason of the media.MediaError error."
    message = MEDIA_REASONS.get(error.code)
    if not message:
        return str(error)
    duration = error.params.get('duration') or 0
    return gettext(message, minutes=round(duration / 60),
        limit=media.MAX_SESSION_SECONDS // 60)

STATUSES = [
    ('uploading', "Uploading"),
    ('verifying', "Verifying"),
    ('uploaded', "Uploaded"),
    ('processing', "Processing"),
    ('ready', "Ready"),
    ('failed', "Failed"),
    ('disposed', "Disposed"),
    ]


class Recording(AuditMixin, ModelSQL, ModelView):
    __string__ = "Recording"
    __name__ = 'dualrec.recording'

    ticket = fields.Many2One('dualrec.ticket', "Ticket", required=True,
        ondelete='RESTRICT', readonly=True,
        help="The sales ticket the recording belongs to.")
    version = fields.Integer("Version", readonly=True,
        help="1 for the first recording of the ticket, then 2, 3, …")
    status = fields.Selection(STATUSES, "Status", readonly=True,
        required=True, sort=False, help="Where the recording is in its "
        "processing.")
    error = fields.Text("Error", readonly=True,
        states={'invisible': ~Eval('error')},
        help="Why the processing failed.")
    timeline = fields.One2Many('dualrec.recording.node', 'recording',
        "Timeline", readonly=True,
        help="When each script node started and was confirmed.")
    device = fields.Char("Device", readonly=True,
        help="The device that recorded.")
    browser = fields.Char("Browser", readonly=True,
        help="The program that recorded.")
    recorded_by = fields.Many2One('res.user', "Recorded By", readonly=True,
        ondelete='RESTRICT', help="The user who uploaded the recording.")
    uploaded_at = fields.Timestamp("Uploaded At", readonly=True,
        help="When the upload completed.")
    original_path = fields.Char("Original File", readonly=True,
        help="Where the uploaded file is stored, in the storage directory.")
    original_size = BigInteger("Original Size", readonly=True,
        help="The size of the uploaded file, in bytes.")
    original_content_type = fields.Char("Original Content Type",
        readonly=True, help="The media type declared by the recorder.")
    original_container = fields.Char("Original Container", readonly=True,
        help="The container found in the file's signature.")
    original_sha256 = fields.Char("Original SHA-256", readonly=True,
        help="The SHA-256 digest of the uploaded file.")
    compressed_path = fields.Char("Compressed File", readonly=True,
        help="Where the compressed file is stored.")
    compressed_size = BigInteger("Compressed Size", readonly=True,
        help="The size of the compressed MP4, in bytes.")
    compressed_sha256 = fields.Char("Compressed SHA-256", readonly=True,
        help="The SHA-256 digest of the compressed MP4.")
    duration = fields.Float("Duration", readonly=True, digits=(16, 1),
        help="The length of the recording, in seconds.")
    video_codec = fields.Char("Video Codec", readonly=True,
        help="The video codec of the compressed file.")
    audio_codec = fields.Char("Audio Codec", readonly=True,
        help="The audio codec of the compressed file.")
    width = fields.Integer("Width", readonly=True,
        help="The width of the picture, in pixels.")
    height = fields.Integer("Height", readonly=True,
        help="The height of the picture, in pixels.")
    key_id = fields.Char("Key ID", readonly=True,
        help="The master key that wraps the file's data key.")
    manifest_signature = fields.Text("Manifest Signature", readonly=True,
        help="The signature of the recording's manifest.")
    manifest = fields.Text("Manifest", readonly=True,
        help="The signed description of the recording (JSON).")
    low_quality = fields.Boolean("Low Quality", readonly=True,
        help="The recording is so long that its picture falls below the "
        "quality floor to fit the target size.")
    tampered = fields.Boolean("Tampered", readonly=True,
        help="A stored file failed its integrity check.")
    attempts = fields.Integer("Attempts", readonly=True,
        help="How many times the processing failed for a passing reason.")
    retention_over = fields.Boolean("Retention Over", readonly=True,
        help="The retention of the recording has ended: it waits for its "
        "disposal.")
    disposed_at = fields.Timestamp("Disposed At", readonly=True,
        help="When the media was destroyed at the end of its retention.")
    disposed_by = fields.Many2One('res.user', "Disposed By", readonly=True,
        ondelete='RESTRICT', help="The user who destroyed the media.")
    queued_at = fields.Timestamp("Queued At", readonly=True,
        help="When the processing was last asked for.")
    processed_at = fields.Timestamp("Processed At", readonly=True,
        help="When the processing ended.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('ticket_version_unique', Unique(t, t.ticket, t.version),
                'dualrec_core.msg_recording_version_unique'),
            ]
        cls._order = [
            ('ticket', 'DESC'), ('version', 'DESC'), ('id', 'DESC')]
        cls._buttons.update({
                'retry': {
                    'invisible': ~Eval('status').in_(['failed', 'uploaded']),
                    'depends': ['status'],
                    },
                'play': {
                    'invisible': Eval('status') != 'ready',
                    'depends': ['status'],
                    },
                'download': {
                    'invisible': Eval('status') != 'ready',
                    'depends': ['status'],
                    },
                'export_evidence': {
                    'invisible': Eval('status') != 'ready',
                    'depends': ['status'],
                    },
                'dispose': {
                    'invisible': (~Eval('retention_over', False)
                        | (Eval('status') == 'disposed')),
                    'depends': ['retention_over', 'status'],
                    },
                })

    @staticmethod
    def default_status():
        return 'uploading'

    @staticmethod
    def default_attempts():
        return 0

    def get_rec_name(self, name):
        return f'{self.ticket.rec_name} v{self.version}'

    @classmethod
    def search_rec_name(cls, name, clause):
        return [('ticket.rec_name', *clause[1:])]

    @classmethod
    def next_version(cls, ticket_id):
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(
                Max(table.version), where=table.ticket == ticket_id))
        version, = cursor.fetchone()
        return (version or 0) + 1

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if mode == 'create' and not values.get('version'):
            values['version'] = cls.next_version(values.get('ticket'))
        return values

    @classmethod
    def check_modification(cls, mode, recordings, values=None,
            external=False):
        super().check_modification(
            mode, recordings, values=values, external=external)
        # Upload, pipeline, playback and disposal set every field: a user's
        # RPC call sets none
        guard.check_modification(cls, mode, values, external)
        # Recordings are evidence: nobody deletes them (retention decides).
        if mode == 'delete':
            raise RecordingError(gettext(
                    'dualrec_core.msg_recording_delete',
                    recording=recordings[0].rec_name))

    # The media pipeline: queued, never inside a web request.

    @classmethod
    def queue_processing(cls, recordings):
        """Ask the worker to process recordings, one task each.

        The status becomes 'processing' at once (the client sees that the
        upload was taken), but for a 'verifying' recording, which stays so
        until the task has checked its upload.
        """
        # a recording whose upload failed its checks has nothing to process
        recordings = [r for r in recordings
            if r.status == 'verifying' or r.original_path]
        if not recordings:
            return
        now = dt.datetime.now()
        verifying = [r for r in recordings if r.status == 'verifying']
        others = [r for r in recordings if r.status != 'verifying']
        with without_check_access():
            for records, status in [
                    (verifying, 'verifying'), (others, 'processing')]:
                if records:
                    cls.write(records, {'status': status,
                            'error': None, 'queued_at': now})
        with Transaction().set_context(queue_name=QUEUE):
            for recording in recordings:
                cls.__queue__.process([recording])

    @classmethod
    @ModelView.button
    def retry(cls, recordings):
        "Process again the failed recordings (also the manual compress)."
        cls.queue_processing([r for r in recordings
                if r.status in {'failed', 'uploaded'}])

    @classmethod
    @ModelView.button
    def play(cls, recordings):
        "Open the recording in the browser (a signed, short-lived link)."
        from .playback import play_action
        if recordings:
            return play_action(recordings[0])

    @classmethod
    @ModelView.button
    def download(cls, recordings):
        "Download the decrypted MP4 (export right; audited)."
        from .playback import play_action
        if recordings:
            return play_action(recordings[0], mode='download')

    @classmethod
    @ModelView.button
    def export_evidence(cls, recordings):
        "Download the signed evidence package (export right; audited)."
        from .playback import play_action
        if recordings:
            return play_action(recordings[0], mode='evidence')

    @classmethod
    def requeue_stalled(cls, minutes=180):
        """Queue again the processing a killed worker left behind and remove
        its work files (cron)."""
        pool = Pool()
        Configuration = pool.get('dualrec.configuration')
        pipeline.clean_workdirs(
            Configuration(1).get_storage_root(), minutes * 60)
        limit = dt.datetime.now() - dt.timedelta(minutes=minutes)
        with without_check_access():
            stalled = cls.search([
                    ('status', 'in', ['verifying', 'processing']),
                    ('queued_at', '<', limit),
                    ])
        cls.queue_processing(stalled)
        return stalled

    @classmethod
    def to_rotate(cls):
        "Return the recordings stored under another key than the active one."
        keyring = media_keyring()
        with without_check_access():
            return cls.search([
                    ('key_id', '!=', None),
                    ('key_id', '!=', keyring.active_id),
                    ])

    @classmethod
    def rotate(cls, recordings):
        """Re-wrap the data keys of recordings' files to the active master
        key, without re-encrypting the media."""
        pool = Pool()
        Configuration = pool.get('dualrec.configuration')
        root = Configuration(1).get_storage_root()
        keyring = media_keyring()
        for recording in recordings:
            for path in [recording.compressed_path, recording.original_path]:
                if path and path.endswith(pipeline.SEALED_SUFFIX):
                    envelope.rewrap(keyring, root / path)
        with without_check_access():
            cls.write(list(recordings), {'key_id': keyring.active_id})

    @classmethod
    def list_expired(cls, today=None):
        """Flag the ready recordings whose retention is over, for an audited
        disposal (cron); return them."""
        pool = Pool()
        AuditLog = pool.get('dualrec.audit.log')
        today = today or company_today()
        with without_check_access():
            expired = cls.search([
                    ('retention_over', '=', False),
                    ('ticket.retention_end', '<', today),
                    ])
            if expired:
                cls.write(expired, {'retention_over': True})
                AuditLog.log('retention_over', expired)
                cls.notify_admins(gettext(
                        'dualrec_core.msg_recordings_expired',
                        count=len(expired)), expired)
        return expired

    @classmethod
    def notify_admins(cls, label, recordings, icon='tryton-warning'):
        "Tell the administrators of the suite about recordings (sao's bell)."
        pool = Pool()
        Notification = pool.get('res.notification')
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        with without_check_access():
            admins = User.search([('groups', '=',
                        ModelData.get_id('dualrec_core', 'group_dualrec_admin'))])
            Notification.create([{
                        'user': admin.id,
                        'label': label,
                        'icon': icon,
                        'model': cls.__name__,
                        'records': json.dumps([r.id for r in recordings]),
                        } for admin in admins])

    @classmethod
    @ModelView.button
    def dispose(cls, recordings, today=None):
        """Destroy the media of recordings whose retention is over (audited).

        The record stays, without its files, as the proof of what was kept
        and when it was destroyed.  The retention is checked again: a legal
        hold placed since the listing, or a later contract end, refuses the
        whole disposal.  The files go once the transaction is committed.
        """
        pool = Pool()
        AuditLog = pool.get('dualrec.audit.log')
        Configuration = pool.get('dualrec.configuration')
        today = today or company_today()
        recordings = [r for r in recordings if r.status != 'disposed']
        for recording in recordings:
            end = recording.ticket.retention_end
            if not retention.is_expired(end, today):
                raise RecordingError(gettext(
                        'dualrec_core.msg_recording_dispose_retention',
                        recording=recording.rec_name,
                        end=end or gettext(
                            'dualrec_core.msg_retention_open')))
            if recording.status in {'uploading', 'processing'}:
                raise RecordingError(gettext(
                        'dualrec_core.msg_recording_dispose_busy',
                        recording=recording.rec_name))
        if not recordings:
            return
        files = [path for r in recordings
            for path in [r.compressed_path, r.original_path] if path]
        details = {r.id: json.dumps({
                    'retention_end': r.ticket.retention_end.isoformat(),
                    'files': [p for p in [r.compressed_path, r.original_path]
                        if p],
                    'compressed_sha256': r.compressed_sha256,
                    'original_sha256': r.original_sha256,
                    }) for r in recordings}
        with without_check_access():
            cls.write(recordings, {
                    'status': 'disposed',
                    'retention_over': True,
                    'compressed_path': None,
                    'original_path': None,
                    'disposed_at': dt.datetime.now(),
                    'disposed_by': Transaction().user,
                    })
        for recording in recordings:
            AuditLog.log('dispose', [recording],
                details=details[recording.id])
        if files:
            Transaction().join(_RemoveOnCommit(
                    Configuration(1).get_storage_root(), files))

    @classmethod
    def process(cls, recordings):
        """Check the upload of the verifying recordings, then run the media
        pipeline (queue task, idempotent)."""
        Upload = Pool().get('dualrec.upload')
        with without_check_access():
            for recording in cls.browse([r.id for r in recordings]):
                if recording.status == 'verifying':
                    if not Upload.verify(recording):
                        continue
                    cls.write([recording], {'status': 'processing'})
                    recording = cls(recording.id)
                if recording.status == 'processing':
                    recording._process()

    def _process(self):
        pool = Pool()
        AuditLog = pool.get('dualrec.audit.log')
        Configuration = pool.get('dualrec.configuration')
        configuration = Configuration(1)
        root = configuration.get_storage_root()
        directory = f'recordings/{self.ticket.id}/{self.id}'
        try:
            keyring = media_keyring()
            result = pipeline.run(root, self.original_path, keyring,
                f'{directory}/v{self.version}.mp4{pipeline.SEALED_SUFFIX}',
                configuration.target_size, work=str(self.id),
                keep_original=configuration.keep_original,
                original_sha256=self.original_sha256,
                checks=self._get_checks())
            manifest, signature = self._sign(result)
        except (media.MediaError, envelope.EnvelopeError,
                evidence.EvidenceError) as error:
            logger.info("recording %s failed: %s", self.id, error)
            self._fail(error.code, media_reason(error)
                if isinstance(error, media.MediaError) else str(error))
            return
        except Exception as error:
            logger.exception("recording %s: passing failure", self.id)
            attempts = (self.attempts or 0) + 1
            if attempts >= MAX_ATTEMPTS:
                self._fail('internal', str(error), attempts=attempts)
                return
            self.__class__.write([self], {'attempts': attempts})
            with Transaction().set_context(queue_name=QUEUE,
                    queue_scheduled_at=dt.timedelta(
                        minutes=2 ** (attempts - 1))):
                self.__class__.__queue__.process([self])
            return
        if result.discard:
            Transaction().join(_RemoveOnCommit(root, result.discard))
        self.__class__.write([self], {
                'status': 'ready',
                'error': None,
                'original_path': (None if result.original_path in
                    result.discard else result.original_path),
                'compressed_path': result.compressed_path,
                'compressed_size': result.compressed_size,
                'compressed_sha256': result.compressed_sha256,
                'duration': round(result.duration, 1),
                'video_codec': result.video_codec,
                'audio_codec': result.audio_codec,
                'width': result.width,
                'height': result.height,
                'key_id': result.key_id,
                'low_quality': result.low_quality,
                'manifest': manifest,
                'manifest_signature': signature,
                'processed_at': dt.datetime.now(),
                })
        self._keep_findings(result.findings)
        AuditLog.log('process', [self], details=json.dumps({
                    'size': result.compressed_size,
                    'sha256': result.compressed_sha256,
                    'seconds': round(result.seconds, 1),
                    'warnings': result.warnings}))

    def _fail(self, code, detail, attempts=None):
        pool = Pool()
        AuditLog = pool.get('dualrec.audit.log')
        values = {
            'status': 'failed',
            'error': gettext('dualrec_core.msg_recording_process_failed',
                code=code, detail=detail),
            'processed_at': dt.datetime.now(),
            }
        if attempts is not None:
            values['attempts'] = attempts
        self.__class__.write([self], values)
        AuditLog.log('process_fail', [self],
            details=json.dumps({'code': code, 'detail': detail[:500]}))

    def _get_checks(self):
        """Return the automatic checks: callables(output path, source probe,
        Transcoded) returning (warnings, findings) (pipeline.run).  The
        review module extends it."""
        return []

    def _keep_findings(self, findings):
        "Store what the automatic checks found on the ready recording."
        pass

    def _manifest_fields(self, result):
        ticket = self.ticket
        timeline = [{
                'sequence': n.sequence,
                'node': n.node.name if n.node else None,
                # datetimes: the manifest writes them as UTC times
                'started_at': n.started_at,
                'confirmed_at': n.confirmed_at,
                } for n in self.timeline]
        return dict(
            ticket_number=ticket.number,
            product=ticket.product.rec_name,
            branch=ticket.branch.rec_name,
            salesperson=(f'{ticket.salesperson.name} '
                f'({ticket.employee_number or ""})').strip(),
            recorded_at=self.create_date,
            uploaded_at=self.uploaded_at,
            mp4_sha256=result.compressed_sha256,
            mp4_size=result.compressed_size,
            original_sha256=self.original_sha256,
            original_size=self.original_size,
            timeline=timeline,
            duration=result.duration,
            video_codec=result.video_codec,
            audio_codec=result.audio_codec,
            width=result.width,
            height=result.height,
            recording_version=self.version,
            device=self.device,
            key_id=result.key_id,
            pipeline=result.settings,
            details={
                'task_number': ticket.task_number,
                'policyholder': pii.mask_name(ticket.policyholder_name),
                'id_number': ticket.id_number,
                },
            issuer=ticket.company.rec_name,
            )

    def _sign(self, result):
        "Return the canonical manifest and its base64 signature."
        manifest = evidence.build_manifest(**self._manifest_fields(result))
        signature = evidence.sign_manifest(manifest, evidence_signing_key())
        return (evidence.canonical_json(manifest).decode('utf-8'),
            base64.b64encode(signature).decode('ascii'))


class _RemoveOnCommit:
    "Remove stored files once the transaction is committed, not before."

    def __init__(self, root, relatives):
        self.root = root
        self.relatives = list(relatives)

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)

    def tpc_begin(self, transaction):
        pass

    def commit(self, transaction):
        pass

    def tpc_vote(self, transaction):
        pass

    def tpc_finish(self, transaction):
        pipeline.remove(self.root, *self.relatives)

    def tpc_abort(self, transaction):
        pass

    def abort(self, transaction):
        pass


class RecordingNode(ModelSQL, ModelView):
    __string__ = "Recording Timeline Node"
    __name__ = 'dualrec.recording.node'

    recording = fields.Many2One('dualrec.recording', "Recording",
        required=True, ondelete='CASCADE', readonly=True,
        help="The recording the node belongs to.")
    sequence = fields.Integer("Sequence", readonly=True,
        help="The order in which the node was read.")
    node = fields.Many2One('dualrec.script.node', "Node", readonly=True,
        ondelete='RESTRICT', help="The script node read.")
    started_at = fields.Timestamp("Started At", readonly=True,
        help="When the node was shown.")
    confirmed_at = fields.Timestamp("Confirmed At", readonly=True,
        help="When the salesperson confirmed the node.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('recording', 'ASC'), ('sequence', 'ASC'), ('id', 'ASC')]

    @classmethod
    def check_modification(cls, mode, nodes, values=None, external=False):
        super().check_modification(
            mode, nodes, values=values, external=external)
        # the timeline is the upload's, signed in the manifest
        guard.check_modification(cls, mode, values, external)
