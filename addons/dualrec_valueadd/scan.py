# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""What the public scan page of a move-car plate records: its providers'
settings, the log of its actions, the privacy-number bindings it made and
the owners' SMS binding codes.

The page itself is in scan_routes.py; the HTML in dualrec.plate_page.
"""
import datetime as dt
import hmac
import os

from trytond.config import config
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access

from dualrec import pii
from dualrec import plate_scan as scans
from dualrec.cn import normalize_plate
from dualrec.privacy import HttpPrivacyProvider, PrivacyError
from dualrec.privacy_sim import PrivacySimulator
from dualrec.sms import HttpSmsProvider, SmsError, SmsSimulator

from .exceptions import PlateRefusal

PROVIDERS = [
    (None, ''),
    ('simulator', "Local Simulator (demo)"),
    ('http', "HTTP Provider"),
    ]
PRIVACY_KINDS = [
    ('axn', "AXN: anyone who scans calls the owner"),
    ('axb', "AXB: only the caller's own phone"),
    ]
SCAN_KINDS = [
    ('view', "View"),
    ('call', "Call"),
    ('message', "Message"),
    ('bind_request', "Binding Code"),
    ('bind', "Binding"),
    ]
SCAN_OUTCOMES = [
    ('ok', "OK"),
    ('refused', "Refused"),
    ('limited', "Rate Limited"),
    ('failed', "Provider Failed"),
    ]
# in-process simulators of the demo ("simulator" providers): one each per
# server process, so the demo runs without any provider
_SIMULATORS = {}
# a binding is reused if it still has that long to live, in seconds
REUSE_MARGIN = 120


def now():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def scan_key():
    "Return the key of the scan page's forms, client hashes and codes."
    Configuration = Pool().get('dualrec.configuration')
    return scans.derive_scan_key(Configuration.pii_master())


def simulator(name):
    "Return the in-process simulator of the demo for name (privacy, sms)."
    if name not in _SIMULATORS:
        _SIMULATORS[name] = (PrivacySimulator(extensions=True)
            if name == 'privacy' else SmsSimulator())
    return _SIMULATORS[name]


def _secret(name):
    return (config.get('dualrec_valueadd', f'{name}_secret', default=None)
        or os.environ.get(f'DUALREC_{name.upper()}_SECRET'))


class Configuration(metaclass=PoolMeta):
    __name__ = 'dualrec.valueadd.configuration'

    privacy_provider = fields.Selection(PROVIDERS, "Privacy-Number Provider",
        help="Who gives the virtual numbers the scan page shows to call an "
        "owner: the local simulator of the demo, or a provider's HTTP API. "
        "Empty: calling is not offered.")
    privacy_url = fields.Char("Privacy-Number URL",
        states={
            'invisible': Eval('privacy_provider') != 'http',
            'required': Eval('privacy_provider') == 'http',
            },
        help="The base address of the provider's API. Its secret is read "
        "from the server configuration ([dualrec_valueadd] privacy_secret) "
        "or DUALREC_PRIVACY_SECRET, never stored here.")
    privacy_app_key = fields.Char("Privacy-Number App Key",
        states={'invisible': Eval('privacy_provider') != 'http'},
        help="The application key the provider gave, sent with each call.")
    privacy_kind = fields.Selection(PRIVACY_KINDS, "Binding Kind",
        required=True,
        help="AXN: whoever dials the virtual number reaches the owner until "
        "it expires; AXB: only the phone the caller enters does.")
    privacy_minutes = fields.Integer("Call Validity", required=True,
        domain=[('privacy_minutes', '>=', 5),
            ('privacy_minutes', '<=', 24 * 60)],
        help="How long a virtual number shown by the scan page reaches the "
        "owner, in minutes; the page shows the same number until then.")
    sms_provider = fields.Selection(PROVIDERS, "SMS Gateway",
        help="Who sends the owners' binding codes and the move-car "
        "messages: the local simulator of the demo or a gateway's HTTP "
        "API. Empty: no SMS is sent.")
    sms_url = fields.Char("SMS URL",
        states={
            'invisible': Eval('sms_provider') != 'http',
            'required': Eval('sms_provider') == 'http',
            },
        help="The base address of the gateway's API. Its secret is read "
        "from the server configuration ([dualrec_valueadd] sms_secret) or "
        "DUALREC_SMS_SECRET, never stored here.")
    sms_app_key = fields.Char("SMS App Key",
        states={'invisible': Eval('sms_provider') != 'http'},
        help="The application key the gateway gave, sent with each SMS.")

    @classmethod
    def default_privacy_kind(cls):
        return 'axn'

    @classmethod
    def default_privacy_minutes(cls):
        return 30

    def get_privacy_provider(self):
        "Return the PrivacyProvider (503 call_unavailable if none)."
        if self.privacy_provider == 'simulator':
            return simulator('privacy')
        if self.privacy_provider == 'http':
            try:
                return HttpPrivacyProvider(self.privacy_url,
                    self.privacy_app_key, _secret('privacy'))
            except PrivacyError:
                pass
        raise PlateRefusal('call_unavailable', status=503)

    def get_sms_provider(self):
        "Return the SmsProvider (503 sms_unavailable if none)."
        if self.sms_provider == 'simulator':
            return simulator('sms')
        if self.sms_provider == 'http':
            try:
                return HttpSmsProvider(self.sms_url, self.sms_app_key,
                    _secret('sms'))
            except SmsError:
                pass
        raise PlateRefusal('sms_unavailable', status=503)


class Plate(metaclass=PoolMeta):
    __name__ = 'dualrec.plate'

    def bind(self, vehicle_plate, phone, channel):
        changed = super().bind(vehicle_plate, phone, channel)
        if changed:
            # a virtual number must not reach the former owner
            Pool().get('dualrec.plate.privacy').release_plate(self)
        return changed

    def unbind(self, channel):
        super().unbind(channel)
        Pool().get('dualrec.plate.privacy').release_plate(self)


class Scan(ModelSQL, ModelView):
    "One action of the public scan page of a plate, for the figures."
    __string__ = "Plate Scan"
    __name__ = 'dualrec.plate.scan'

    plate = fields.Many2One('dualrec.plate', "Plate", required=True,
        readonly=True, ondelete='RESTRICT')
    company = fields.Many2One('company.company', "Company", required=True,
        readonly=True, ondelete='RESTRICT')
    kind = fields.Selection(SCAN_KINDS, "Kind", required=True, readonly=True,
        help="What the visitor did: open the page, ask for a number to "
        "call, send a message, ask for or confirm a binding code.")
    at = fields.DateTime("Time", required=True, readonly=True)
    client = fields.Char("Client", readonly=True,
        help="A keyed hash of the visitor's address, never the address.")
    outcome = fields.Selection(SCAN_OUTCOMES, "Outcome", required=True,
        readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.plate, Index.Range()), (t.at, Index.Range())),
                Index(t, (t.company, Index.Range()), (t.at, Index.Range())),
                })
        cls._order.insert(0, ('at', 'DESC'))
        cls._order.insert(1, ('id', 'DESC'))

    @classmethod
    def log(cls, plate, kind, client, outcome='ok'):
        with without_check_access():
            cls.create([{'plate': plate.id, 'company': plate.company.id,
                        'kind': kind, 'at': now(), 'client': client,
                        'outcome': outcome}])


class PlatePrivacy(ModelSQL, ModelView):
    """A virtual number bound to a plate's owner by the privacy-number
    provider, reused by the scans until it expires."""
    __string__ = "Plate Privacy Number"
    __name__ = 'dualrec.plate.privacy'
    _rec_name = 'binding_id'

    plate = fields.Many2One('dualrec.plate', "Plate", required=True,
        readonly=True, ondelete='RESTRICT')
    company = fields.Many2One('company.company', "Company", required=True,
        readonly=True, ondelete='RESTRICT')
    binding_id = fields.Char("Binding ID", required=True, readonly=True,
        help="The provider's id of the binding, found in its call records.")
    secret_no = fields.Char("Virtual Number", required=True, readonly=True)
    extension = fields.Char("Extension", readonly=True)
    kind = fields.Selection(PRIVACY_KINDS, "Kind", required=True,
        readonly=True)
    expires_at = fields.DateTime("Expires At", required=True, readonly=True)
    state = fields.Selection([
            ('active', "Active"),
            ('released', "Released"),
            ], "State", required=True, readonly=True,
        help="Active until it expires or the plate's owner changes.")
    owner_index = fields.Char("Owner Index", readonly=True)
    caller_index = fields.Char("Caller Index", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.binding_id, Index.Equality())),
                Index(t, (t.plate, Index.Range()),
                    where=t.state == 'active'),
                })
        cls._order.insert(0, ('expires_at', 'DESC'))

    @classmethod
    def plate_of(cls, binding_id):
        "Return the plate of the provider's binding_id (a call record's)."
        with without_check_access():
            records = cls.search([('binding_id', '=', binding_id)], limit=1)
        return records[0].plate if records else None

    @classmethod
    def for_call(cls, plate, caller=None):
        """Return the active binding of the plate's owner (and caller for
        AXB), binding a new virtual number only when none is left."""
        pool = Pool()
        Configuration = pool.get('dualrec.valueadd.configuration')
        CoreConfiguration = pool.get('dualrec.configuration')
        with without_check_access():
            config = Configuration(1)
        kind = config.privacy_kind or 'axn'
        caller_index = None
        if kind == 'axb':
            try:
                caller = pii.validate_phone(str(caller or ''))
            except pii.PIIError:
                raise PlateRefusal('bad_caller') from None
            _, index_key = CoreConfiguration.pii_keys()
            caller_index = pii.blind_index(index_key, 'phone', caller)
        margin = now() + dt.timedelta(seconds=REUSE_MARGIN)
        with without_check_access():
            active = cls.search([
                    ('plate', '=', plate.id),
                    ('state', '=', 'active'),
                    ])
            expired = [b for b in active if b.expires_at <= now()]
            if expired:
                # the provider let them go itself
                cls.write(expired, {'state': 'released'})
            for binding in active:
                if (binding not in expired and binding.kind == kind
                        and binding.owner_index == plate.phone_index
                        and binding.caller_index == caller_index
                        and binding.expires_at > margin):
                    return binding
        provider = config.get_privacy_provider()
        expires_at = now().replace(microsecond=0) + dt.timedelta(
            minutes=config.privacy_minutes or 30)
        owner = plate.owner_phone()
        try:
            if kind == 'axb':
                result = provider.bind_axb(owner, caller, expires_at,
                    plate.serial)
            else:
                result = provider.bind_axn(owner, expires_at, plate.serial)
        except PrivacyError as error:
            code = ('no_number' if error.code == 'no_number_available'
                else 'call_unavailable')
            raise PlateRefusal(code, status=503) from None
        with without_check_access():
            binding, = cls.create([{
                        'plate': plate.id,
                        'company': plate.company.id,
                        'binding_id': result.binding_id,
                        'secret_no': result.secret_no,
                        'extension': result.extension,
                        'kind': kind,
                        'expires_at': result.expires_at,
                        'state': 'active',
                        'owner_index': plate.phone_index,
                        'caller_index': caller_index,
                        }])
        return binding

    @classmethod
    def release_plate(cls, plate):
        "Release the active bindings of the plate at the provider."
        with without_check_access():
            active = cls.search([
                    ('plate', '=', plate.id), ('state', '=', 'active')])
        if active:
            cls.release(active)

    @classmethod
    def release(cls, bindings):
        Configuration = Pool().get('dualrec.valueadd.configuration')
        live = [b for b in bindings if b.expires_at > now()]
        if live:
            with without_check_access():
                config = Configuration(1)
            try:
                provider = config.get_privacy_provider()
            except PlateRefusal:
                provider = None
            for binding in live:
                if provider is None:
                    break
                try:
                    provider.unbind(binding.binding_id)
                except PrivacyError as error:
                    if error.code != 'unknown_binding':
                        # it still expires by itself at the provider
                        break
        with without_check_access():
            cls.write(list(bindings), {'state': 'released'})


class BindCode(ModelSQL):
    """An SMS code sent to an owner who binds a plate by scanning it:
    single use, valid CODE_MINUTES, at most CODE_ATTEMPTS wrong tries."""
    __string__ = "Plate Binding Code"
    __name__ = 'dualrec.plate.bind.code'

    plate = fields.Many2One('dualrec.plate', "Plate", required=True,
        readonly=True, ondelete='CASCADE')
    company = fields.Many2One('company.company', "Company", required=True,
        readonly=True, ondelete='RESTRICT')
    token = fields.Char("Request", required=True, readonly=True,
        help="The SHA-256 of the request's handle given to the page.")
    code_hash = fields.Char("Code Hash", required=True, readonly=True)
    vehicle_plate = fields.Char("Vehicle Plate", required=True,
        readonly=True)
    phone_encrypted = fields.Char("Phone (Encrypted)", required=True,
        readonly=True)
    phone_index = fields.Char("Phone Index", required=True, readonly=True)
    phone = fields.Char("Phone", readonly=True,
        help="The phone the code was sent to, masked.")
    expires_at = fields.DateTime("Expires At", required=True, readonly=True)
    attempts = fields.Integer("Attempts", required=True, readonly=True)
    state = fields.Selection([
            ('pending', "Pending"),
            ('used', "Used"),
            ('failed', "Failed"),
            ], "State", required=True, readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.token, Index.Equality())))

    @staticmethod
    def _associated(token):
        return f'dualrec.plate.bind.code,{token},phone'.encode()

    @classmethod
    def request(cls, plate, vehicle_plate, phone):
        """Send an SMS code to phone to bind plate to vehicle_plate; return
        (the request's handle for the page, the masked phone)."""
        pool = Pool()
        Configuration = pool.get('dualrec.valueadd.configuration')
        CoreConfiguration = pool.get('dualrec.configuration')
        if plate.state != 'sold':
            raise PlateRefusal(f'state_{plate.state}', status=409,
                serial=plate.serial)
        number = normalize_plate(vehicle_plate or '')
        if not number:
            raise PlateRefusal('bad_vehicle_plate',
                value=str(vehicle_plate or '')[:20])
        try:
            phone = pii.validate_phone(str(phone or ''))
        except pii.PIIError:
            raise PlateRefusal('bad_phone') from None
        with without_check_access():
            config = Configuration(1)
        provider = config.get_sms_provider()
        enc_key, index_key = CoreConfiguration.pii_keys()
        handle, code = scans.new_code()
        token = scans.token_hash(handle)
        # sent first: a refused SMS leaves no code behind
        try:
            provider.send(phone, 'plate_bind_code',
                {'code': code, 'minutes': scans.CODE_MINUTES})
        except SmsError:
            raise PlateRefusal('sms_unavailable', status=503) from None
        with without_check_access():
            cls.create([{
                        'plate': plate.id,
                        'company': plate.company.id,
                        'token': token,
                        'code_hash': scans.code_hash(scan_key(), handle,
                            code),
                        'vehicle_plate': number,
                        'phone_encrypted': pii.encrypt_value(enc_key, phone,
                            cls._associated(token)),
                        'phone_index': pii.blind_index(index_key, 'phone',
                            phone),
                        'phone': pii.mask_phone(phone),
                        'expires_at': now() + dt.timedelta(
                            minutes=scans.CODE_MINUTES),
                        'attempts': 0,
                        'state': 'pending',
                        }])
        return handle, pii.mask_phone(phone)

    @classmethod
    def confirm(cls, plate, handle, code):
        """Bind plate if code is the one sent for the request handle.

        Returns (True, None, masked phone) when bound, else (False,
        PlateRefusal, masked phone) with the attempt counted: the caller
        must keep the count (commit)."""
        pool = Pool()
        CoreConfiguration = pool.get('dualrec.configuration')
        with without_check_access():
            records = cls.search([
                    ('token', '=', scans.token_hash(handle or '')),
                    ('plate', '=', plate.id),
                    ], limit=1)
        if not records:
            return False, PlateRefusal('code_unknown'), None
        record, = records
        if record.state != 'pending':
            return False, PlateRefusal('code_unknown'), record.phone
        if record.expires_at <= now():
            return False, PlateRefusal('code_expired'), record.phone
        if record.attempts >= scans.CODE_ATTEMPTS:
            return False, PlateRefusal('code_attempts'), record.phone
        expected = scans.code_hash(scan_key(), handle, code or '')
        if not hmac.compare_digest(expected, record.code_hash):
            attempts = record.attempts + 1
            with without_check_access():
                cls.write([record], {'attempts': attempts,
                        'state': ('failed' if attempts >= scans.CODE_ATTEMPTS
                            else 'pending')})
            if attempts >= scans.CODE_ATTEMPTS:
                return False, PlateRefusal('code_attempts'), record.phone
            return False, PlateRefusal('code_wrong',
                left=scans.CODE_ATTEMPTS - attempts), record.phone
        if plate.state != 'sold':
            return False, PlateRefusal(f'state_{plate.state}', status=409,
                serial=plate.serial), record.phone
        enc_key, _ = CoreConfiguration.pii_keys()
        phone = pii.decrypt_value(enc_key, record.phone_encrypted,
            cls._associated(record.token))
        with without_check_access():
            cls.write([record], {'state': 'used'})
        with Transaction().set_context(company=plate.company.id):
            plate.bind(record.vehicle_plate, phone, 'owner')
        return True, None, record.phone
