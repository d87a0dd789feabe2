# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from sql.aggregate import Max

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.transaction import Transaction

from .audit import AuditMixin
from .model import BigInteger
from .exceptions import RecordingError

STATUSES = [
    ('uploading', "Uploading"),
    ('uploaded', "Uploaded"),
    ('processing', "Processing"),
    ('ready', "Ready"),
    ('failed', "Failed"),
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

    @staticmethod
    def default_status():
        return 'uploading'

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
        # Recordings are evidence: nobody deletes them (retention decides).
        if mode == 'delete':
            raise RecordingError(gettext(
                    'dualrec_core.msg_recording_delete',
                    recording=recordings[0].rec_name))


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
