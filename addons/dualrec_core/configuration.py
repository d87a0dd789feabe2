# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import os
from pathlib import Path

from trytond import config
from trytond.model import ModelSingleton, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Id
from trytond.transaction import Transaction

from .audit import AuditMixin
from .model import BigInteger

GIB = 1024 ** 3
MIB = 1024 ** 2


class Configuration(AuditMixin, ModelSingleton, ModelSQL, ModelView):
    __string__ = "Dual Recording Configuration"
    __name__ = 'dualrec.configuration'

    ticket_sequence = fields.Many2One(
        'ir.sequence', "Ticket Sequence", required=True,
        domain=[
            ('sequence_type', '=',
                Id('dualrec_core', 'sequence_type_ticket')),
            ],
        help="The sequence that numbers the sales tickets.")
    storage_path = fields.Char(
        "Storage Path",
        help="The directory where recordings are stored; "
        "empty means the filestore of the database.")
    max_upload_size = BigInteger(
        "Maximum Upload Size", required=True,
        help="The largest recording that can be uploaded, in bytes.")
    chunk_size = fields.Integer(
        "Chunk Size", required=True,
        help="The largest piece of a recording sent in one request, "
        "in bytes.")
    target_size = fields.Integer(
        "Target Output Size", required=True,
        help="The largest size of a compressed recording, in bytes.")
    keep_original = fields.Boolean(
        "Keep Original",
        help="Keep the uploaded file after compression (encrypted).")
    upload_expiry_hours = fields.Integer(
        "Upload Expiry", required=True,
        help="Unfinished uploads older than this are removed, in hours.")
    token_hours = fields.Integer(
        "Token Lifetime", required=True,
        help="How long an API login stays valid, in hours.")

    @classmethod
    def default_ticket_sequence(cls):
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        try:
            return ModelData.get_id('dualrec_core', 'sequence_ticket')
        except KeyError:
            return None

    @classmethod
    def default_max_upload_size(cls):
        return 2 * GIB

    @classmethod
    def default_chunk_size(cls):
        return 8 * MIB

    @classmethod
    def default_target_size(cls):
        return 5_000_000

    @classmethod
    def default_keep_original(cls):
        return False

    @classmethod
    def default_upload_expiry_hours(cls):
        return 24

    @classmethod
    def default_token_hours(cls):
        return 12

    @classmethod
    def pii_keys(cls):
        """Return the (encryption, index) keys of personal data, derived
        from the master key of the configuration: the other addons keep
        their personal data as the tickets do."""
        from .ticket import pii_keys
        return pii_keys()

    @classmethod
    def pii_master(cls):
        "Return the bytes of the master key of personal data (or raise)."
        from dualrec import pii
        cls.pii_keys()  # the translated error without a valid key
        return pii.load_master_key(pii_master_key())

    def get_storage_root(self):
        "Return the directory that holds recordings and upload sessions."
        if self.storage_path:
            root = Path(self.storage_path)
        else:
            root = (Path(config.get('database', 'path'))
                / Transaction().database.name / 'dualrec')
        root.mkdir(parents=True, exist_ok=True)
        return root


def pii_master_key():
    "Return the master key of personal data, from configuration only."
    return (os.environ.get('DUALREC_PII_KEY')
        or config.get('dualrec', 'pii_key', default=None))


def media_keyring():
    """Return the keyring of the media master keys, from configuration only.

    DUALREC_MEDIA_KEYS (or [dualrec] media_keys) holds "id:key,id:key",
    the first active unless DUALREC_MEDIA_KEY_ACTIVE (or [dualrec]
    media_key_active) names another; the others still decrypt.
    """
    from dualrec.crypto.envelope import ACTIVE_ENV, KEYS_ENV, Keyring
    spec = (os.environ.get(KEYS_ENV)
        or config.get('dualrec', 'media_keys', default=''))
    active = (os.environ.get(ACTIVE_ENV)
        or config.get('dualrec', 'media_key_active', default=None))
    return Keyring.from_env({KEYS_ENV: spec, ACTIVE_ENV: active or ''})


def evidence_signing_key():
    """Return the institution's Ed25519 key that signs the manifests.

    DUALREC_EVIDENCE_KEY (PEM or base64 seed) or DUALREC_EVIDENCE_KEY_FILE,
    else [dualrec] evidence_key_file.
    """
    from dualrec.crypto.evidence import load_signing_key, signing_key_from_environ
    environ = dict(os.environ)
    if not (environ.get('DUALREC_EVIDENCE_KEY')
            or environ.get('DUALREC_EVIDENCE_KEY_FILE')):
        path = config.get('dualrec', 'evidence_key_file', default=None)
        if path:
            return load_signing_key(Path(path).read_text())
    return signing_key_from_environ(environ)
