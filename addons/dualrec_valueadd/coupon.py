# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Coupon batches, coupons and their redemptions at merchants.

A coupon is redeemed exactly once (or up to its batch's usage limit): the
redemption is idempotent on the merchant's request number, and the coupon's
count of uses moves by one conditional UPDATE, so that two concurrent
requests cannot both take the last use (on PostgreSQL the second waits for
the first and its transaction is retried: it then sees the use taken).
"""
import datetime as dt
import hashlib
import time

from sql import Column, For, Literal, Null, Select
from sql.aggregate import Count, Sum
from sql.conditionals import Case
from sql.functions import CurrentTimestamp

from trytond.config import config
from trytond.i18n import gettext
from trytond.backend import (
    DatabaseIntegrityError, DatabaseOperationalError)
from trytond.model import (
    Index, ModelSingleton, ModelSQL, ModelView, Unique, Workflow, fields)
from trytond.model.exceptions import SQLConstraintError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, Id, If, PYSONEncoder
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateAction, StateView, Wizard

from dualrec import coupon as codes
from dualrec import pii
from dualrec.cn import normalize_plate

from .exceptions import BatchError, CouponError, CouponRefusal
from .merchant import check_region_code, region_prefixes
from .phone import OwnerPhoneMixin

BATCH_STATES = [
    ('draft', "Draft"),
    ('active', "Active"),
    ('closed', "Closed"),
    ]
COUPON_STATES = [
    ('issued', "Issued"),
    ('redeemed', "Redeemed"),
    ('expired', "Expired"),
    ('cancelled', "Cancelled"),
    ]
REDEMPTION_STATES = [
    ('done', "Redeemed"),
    ('returned', "Returned"),
    ]
# A use time given by the merchant may be that late or that early (its
# clock, a redemption queued offline), in seconds.
USE_TIME_AHEAD = 300
ORDERS_QUEUE = 'dualrec_coupon_orders'
ORDERS_BATCH = 200
USE_TIME_BEHIND = 24 * 3600


def now():
    "Return the current time as naive UTC, as Tryton stores it."
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def today(company):
    Date = Pool().get('ir.date')
    with Transaction().set_context(company=int(company)):
        return Date.today()


def local_day(company, moment):
    "Return the company's calendar day of moment (naive UTC)."
    from trytond.tools import timezone as tz
    timezone = company.timezone
    if not timezone:
        return moment.date()
    return moment.replace(tzinfo=dt.timezone.utc).astimezone(
        tz.get_tzinfo(timezone)).date()


def queued_orders():
    """Whether the orders of a redemption are created by the queue worker
    (a server with ``[queue] worker = True``) rather than in the request."""
    return config.getboolean('queue', 'worker', default=False)


def token_key():
    "Return the key that signs the owners' QR tokens."
    Configuration = Pool().get('dualrec.configuration')
    return codes.derive_token_key(Configuration.pii_master())


def clear_cache(Model, ids=None):
    """Forget the cached values of the records ids (default: all) of Model
    written by SQL."""
    transaction = Transaction()
    transaction.counter += 1
    for cache in transaction.cache.values():
        if Model.__name__ in cache:
            cache_model = cache[Model.__name__]
            if ids is None:
                cache_model.clear()
                continue
            for id_ in ids:
                cache_model.pop(id_, None)


def refusal(error):
    "Return the CouponRefusal of a dualrec.coupon.CouponError."
    return CouponRefusal(error.code, **error.params)


class Configuration(ModelSingleton, ModelSQL, ModelView):
    "The settings of the value-added services."
    __string__ = "Value-added Services Configuration"
    __name__ = 'dualrec.valueadd.configuration'

    batch_sequence = fields.Many2One('ir.sequence', "Batch Sequence",
        required=True,
        domain=[('sequence_type', '=',
                Id('dualrec_valueadd', 'sequence_type_batch'))],
        help="The sequence that numbers the coupon batches.")
    token_minutes = fields.Integer("QR Token Validity", required=True,
        domain=[('token_minutes', '>', 0)],
        help="How long the signed token of an owner's QR code is valid, in "
        "minutes: a screenshot cannot be used later.")
    plate_batch_sequence = fields.Many2One('ir.sequence',
        "Plate Batch Sequence", required=True,
        domain=[('sequence_type', '=',
                Id('dualrec_valueadd', 'sequence_type_plate_batch'))],
        help="The sequence that numbers the plate batches.")
    plate_url = fields.Char("Plate Scan URL",
        help="The public address of the scan page of the move-car plates "
        "(e.g. https://nc.example.cn/m): each plate's QR code is this URL "
        "followed by its signed serial.")
    plate_purchase_sequence = fields.Many2One('ir.sequence',
        "Plate Purchase Sequence", required=True,
        domain=[('sequence_type', '=',
                Id('dualrec_valueadd', 'sequence_type_plate_purchase'))],
        help="The sequence that numbers the insurers' plate purchases.")
    plate_call_product = fields.Many2One('product.product',
        "Call Fee Product", domain=[('type', '=', 'service')],
        help="The service product of the call-fee lines of the insurers' "
        "orders.")
    plate_agent_product = fields.Many2One('product.product',
        "Agent Fee Product", domain=[('type', '=', 'service')],
        help="The service product of the agents' promotion-fee lines.")
    return_days = fields.Integer("Return Window", required=True,
        domain=[('return_days', '>=', 0)],
        help="A redemption may be returned up to so many days after the day "
        "it was made (0: the same day only).")
    call_push_secret = fields.Char("Call Push Secret",
        help="The secret shared with the privacy-number provider: its "
        "pushes of call records are signed with it (HMAC-SHA256); empty, "
        "every push is refused.")

    @classmethod
    def default_batch_sequence(cls):
        ModelData = Pool().get('ir.model.data')
        try:
            return ModelData.get_id('dualrec_valueadd', 'sequence_batch')
        except KeyError:
            return None

    @classmethod
    def default_plate_batch_sequence(cls):
        ModelData = Pool().get('ir.model.data')
        try:
            return ModelData.get_id('dualrec_valueadd', 'sequence_plate_batch')
        except KeyError:
            return None

    @classmethod
    def default_plate_purchase_sequence(cls):
        ModelData = Pool().get('ir.model.data')
        try:
            return ModelData.get_id(
                'dualrec_valueadd', 'sequence_plate_purchase')
        except KeyError:
            return None

    @classmethod
    def default_token_minutes(cls):
        return 5

    @classmethod
    def default_return_days(cls):
        return 0


class Batch(Workflow, ModelSQL, ModelView):
    "A batch of coupons (券批次) of one service, issued by one party."
    __string__ = "Coupon Batch"
    __name__ = 'dualrec.coupon.batch'
    _rec_name = 'number'

    _draft = {'readonly': Eval('state') != 'draft'}

    number = fields.Char("Number", readonly=True,
        help="The number of the batch, given when it is created.")
    name = fields.Char("Name", required=True,
        help="What the batch is for, e.g. \"2027 car wash for new "
        "policies\".")
    company = fields.Many2One('company.company', "Company", required=True,
        ondelete='RESTRICT', states=_draft,
        help="The company that runs the batch.")
    issuer = fields.Many2One('party.party', "Issuer", required=True,
        ondelete='RESTRICT', states=_draft,
        help="Who issues the coupons: an insurer (when its policies are "
        "downloaded) or our company.")
    funding = fields.Many2One('party.party', "Funded By", required=True,
        ondelete='RESTRICT', states=_draft,
        help="Who pays for the redemptions: an insurer is billed for each "
        "one; our company pays the merchants alone.")
    insurer_funded = fields.Function(fields.Boolean("Insurer Funded"),
        'on_change_with_insurer_funded')
    service = fields.Many2One('dualrec.valueadd.service', "Service",
        required=True, ondelete='RESTRICT', states=_draft,
        help="The service the coupons are redeemed for.")
    face = fields.Char("Face", required=True, states=_draft,
        help="What the owner reads on the coupon, e.g. \"One free car "
        "wash\".")
    quantity = fields.Integer("Quantity", states=_draft,
        domain=['OR', ('quantity', '=', None), ('quantity', '>', 0)],
        help="How many coupons the batch may issue; empty: unlimited.")
    issued = fields.Function(fields.Integer("Issued"), 'get_counts')
    redeemed = fields.Function(fields.Integer("Redeemed"), 'get_counts')
    validity = fields.Selection([
            ('fixed', "Fixed Dates"),
            ('days', "Days from Issue"),
            ], "Validity", required=True, states=_draft,
        help="Whether the coupons are valid between fixed dates or for a "
        "number of days from their issue.")
    start_date = fields.Date("Start Date", states={
            'readonly': _draft['readonly'],
            'required': Eval('validity') == 'fixed',
            },
        help="The first day a coupon may be used (with days from issue: "
        "the earliest, if set).")
    end_date = fields.Date("End Date", states={
            'readonly': _draft['readonly'],
            'required': Eval('validity') == 'fixed',
            },
        help="The last day a coupon may be used (with days from issue: "
        "the latest, if set).")
    valid_days = fields.Integer("Valid Days", states={
            'readonly': _draft['readonly'],
            'required': Eval('validity') == 'days',
            'invisible': Eval('validity') != 'days',
            },
        help="For how many days, the day of issue included, a coupon may "
        "be used.")
    usage_limit = fields.Integer("Uses per Coupon", required=True,
        states=_draft, domain=[('usage_limit', '>', 0)],
        help="How many times one coupon may be redeemed (usually once).")
    scope = fields.Selection([
            ('all', "All Merchants"),
            ('merchants', "Listed Merchants"),
            ('regions', "Listed Regions"),
            ], "Usable At", required=True, states=_draft,
        help="Where the coupons may be redeemed.")
    merchants = fields.Many2Many('dualrec.coupon.batch-party.party',
        'batch', 'merchant', "Merchants",
        domain=[('merchant', '=', True)],
        states={
            'readonly': _draft['readonly'],
            'invisible': Eval('scope') != 'merchants',
            },
        help="The merchants where the coupons may be redeemed.")
    regions = fields.Char("Region Codes", states={
            'readonly': _draft['readonly'],
            'invisible': Eval('scope') != 'regions',
            'required': Eval('scope') == 'regions',
            },
        help="The administrative division codes (GB/T 2260) where the "
        "coupons may be redeemed, separated by commas: a province "
        "(440000), a city (440100) or a county (440106).")
    binding = fields.Selection([
            ('bound', "Bound to Owner and Vehicle"),
            ('bearer', "Bearer"),
            ], "Binding", required=True, states=_draft,
        help="A bound coupon is issued to an owner and a plate and is "
        "redeemed only for that vehicle; a bearer coupon by whoever holds "
        "its code.")
    state = fields.Selection(BATCH_STATES, "State", readonly=True,
        required=True, sort=False,
        help="Draft: being set up; active: issuing; closed: issuing no "
        "more (the coupons issued stay usable until they expire).")
    coupons = fields.One2Many('dualrec.coupon', 'batch', "Coupons",
        readonly=True)

    del _draft

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('number', 'DESC'))
        cls._transitions |= {
            ('draft', 'active'),
            ('active', 'closed'),
            ('closed', 'active'),
            }
        cls._buttons.update({
                'activate': {
                    'invisible': Eval('state') == 'active',
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'close': {
                    'invisible': Eval('state') != 'active',
                    'icon': 'tryton-close',
                    'depends': ['state'],
                    },
                'issue_wizard': {
                    'invisible': Eval('state') != 'active',
                    'icon': 'tryton-launch',
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_state(cls):
        return 'draft'

    @classmethod
    def default_validity(cls):
        return 'days'

    @classmethod
    def default_valid_days(cls):
        return 365

    @classmethod
    def default_usage_limit(cls):
        return 1

    @classmethod
    def default_scope(cls):
        return 'all'

    @classmethod
    def default_binding(cls):
        return 'bound'

    @classmethod
    def default_issuer(cls):
        Company = Pool().get('company.company')
        company = cls.default_company()
        if company is not None and company >= 0:
            return Company(company).party.id

    @classmethod
    def default_funding(cls):
        return cls.default_issuer()

    @fields.depends('company', 'funding')
    def on_change_with_insurer_funded(self, name=None):
        return bool(self.company and self.funding
            and self.funding != self.company.party)

    @classmethod
    def get_counts(cls, batches, names):
        pool = Pool()
        Coupon = pool.get('dualrec.coupon')
        coupon = Coupon.__table__()
        cursor = Transaction().connection.cursor()
        result = {n: {b.id: 0 for b in batches} for n in names}
        for sub in grouped_slice([b.id for b in batches], 1000):
            cursor.execute(*coupon.select(coupon.batch, Count(),
                    Sum(coupon.uses),
                    where=coupon.batch.in_(list(sub)),
                    group_by=[coupon.batch]))
            for batch, issued, uses in cursor:
                if 'issued' in result:
                    result['issued'][batch] = issued
                if 'redeemed' in result:
                    result['redeemed'][batch] = int(uses or 0)
        return result

    @classmethod
    def validate_fields(cls, batches, field_names):
        super().validate_fields(batches, field_names)
        for batch in batches:
            if batch.validity == 'fixed' or (batch.start_date
                    and batch.end_date):
                if (batch.start_date and batch.end_date
                        and batch.start_date > batch.end_date):
                    raise BatchError(gettext(
                            'dualrec_valueadd.msg_batch_dates',
                            batch=batch.rec_name))
            if batch.validity == 'days' and not (batch.valid_days or 0) > 0:
                raise BatchError(gettext(
                        'dualrec_valueadd.msg_batch_valid_days',
                        batch=batch.rec_name))
            if batch.scope == 'regions':
                for code in batch.region_codes:
                    if not check_region_code(code):
                        raise BatchError(gettext(
                                'dualrec_valueadd.msg_batch_region',
                                batch=batch.rec_name, code=code))

    @property
    def region_codes(self):
        return [c.strip() for c in (self.regions or '').replace(
                '，', ',').split(',') if c.strip()]

    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        Configuration = pool.get('dualrec.valueadd.configuration')
        values = super().preprocess_values(mode, values)
        if mode == 'create' and not values.get('number'):
            values['number'] = Configuration(1).batch_sequence.get()
        return values

    @classmethod
    def check_modification(cls, mode, batches, values=None, external=False):
        super().check_modification(
            mode, batches, values=values, external=external)
        if mode == 'delete':
            for batch in batches:
                if batch.state != 'draft':
                    raise BatchError(gettext(
                            'dualrec_valueadd.msg_batch_delete',
                            batch=batch.rec_name))

    @classmethod
    def copy(cls, batches, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('number', None)
        default.setdefault('state', 'draft')
        default.setdefault('coupons', None)
        return super().copy(batches, default=default)

    @classmethod
    @ModelView.button
    @Workflow.transition('active')
    def activate(cls, batches):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('closed')
    def close(cls, batches):
        pass

    @classmethod
    @ModelView.button_action('dualrec_valueadd.wizard_coupon_issue')
    def issue_wizard(cls, batches):
        pass

    def issue(self, owners, request_no=None):
        """Issue one coupon per owner of owners (dicts of name, phone,
        plate, policy, owner: a party id, all optional for a bearer batch)
        and return them.  Raises CouponRefusal: not active, sold out, a
        bound coupon without a plate, a bad phone or plate."""
        pool = Pool()
        Coupon = pool.get('dualrec.coupon')
        if self.state != 'active':
            raise CouponRefusal('batch_inactive', status=409,
                batch=self.number)
        if self.quantity:
            # the batch row is locked: concurrent issues cannot pass the
            # quantity
            self.__class__.lock([self])
            count = Coupon.search_count([('batch', '=', self.id)])
            if count + len(owners) > self.quantity:
                raise CouponRefusal('sold_out', status=409,
                    batch=self.number, left=max(self.quantity - count, 0))
        issued_at = now()
        day = local_day(self.company, issued_at)
        try:
            first, last = codes.validity(day, self.validity,
                start=self.start_date, end=self.end_date,
                days=self.valid_days)
        except codes.CouponError as error:
            raise refusal(error) from None
        if last < day:
            # coupons born expired
            raise CouponRefusal('bad_validity')
        enc_key, index_key = pool.get('dualrec.configuration').pii_keys()
        vlist = []
        for number, owner in enumerate(owners, 1):
            code = codes.generate_code()
            plate = owner.get('plate')
            if plate:
                plate_ = normalize_plate(plate)
                if not plate_:
                    raise CouponRefusal('bad_plate', line=number,
                        plate=plate)
                plate = plate_
            elif self.binding == 'bound':
                raise CouponRefusal('plate_required', line=number)
            values = {
                'code': code,
                'batch': self.id,
                'company': self.company.id,
                'counterparty': self.funding.id,
                'owner': owner.get('owner'),
                'owner_name': owner.get('name') or None,
                'plate': plate or None,
                'vehicle_model': owner.get('vehicle_model') or None,
                'policy_number': owner.get('policy') or None,
                'issue_request_no': request_no,
                'issued_at': issued_at,
                'issue_day': day,
                'first_day': first,
                'last_day': last,
                'usage_limit': self.usage_limit,
                }
            phone = owner.get('phone')
            if phone:
                try:
                    phone = pii.validate_phone(str(phone))
                except pii.PIIError:
                    raise CouponRefusal('bad_phone', line=number) from None
                values['phone_encrypted'] = pii.encrypt_value(enc_key, phone,
                    Coupon.phone_associated(code))
                values['phone_index'] = pii.blind_index(
                    index_key, 'phone', phone)
            vlist.append(values)
        with without_check_access(), Transaction().set_context(
                _dualrec_coupon_system=True):
            return Coupon.create(vlist)


class BatchMerchant(ModelSQL):
    __string__ = "Coupon Batch - Merchant"
    __name__ = 'dualrec.coupon.batch-party.party'

    batch = fields.Many2One('dualrec.coupon.batch', "Batch", required=True,
        ondelete='CASCADE')
    merchant = fields.Many2One('party.party', "Merchant", required=True,
        ondelete='CASCADE')


class Coupon(OwnerPhoneMixin, ModelSQL, ModelView):
    "A coupon of a batch: an unguessable code redeemed at merchants."
    __string__ = "Coupon"
    __name__ = 'dualrec.coupon'
    _rec_name = 'code'
    _phone_owner = 'code'

    code = fields.Char("Code", readonly=True, required=True,
        help="The code of the coupon: 16 random symbols and a check "
        "symbol, unguessable.")
    batch = fields.Many2One('dualrec.coupon.batch', "Batch", required=True,
        readonly=True, ondelete='RESTRICT',
        help="The batch the coupon was issued from.")
    company = fields.Many2One('company.company', "Company", required=True,
        readonly=True, ondelete='RESTRICT')
    counterparty = fields.Many2One('party.party', "Counterparty",
        required=True, readonly=True, ondelete='RESTRICT',
        help="The party that funds the coupon (the insurer, or our "
        "company).")
    service = fields.Function(fields.Many2One('dualrec.valueadd.service',
            "Service"), 'get_batch_field', searcher='search_batch_field')
    face = fields.Function(fields.Char("Face"), 'get_batch_field')
    owner = fields.Many2One('party.party', "Owner", readonly=True,
        ondelete='RESTRICT',
        help="The party the coupon was issued to, if known as one.")
    owner_name = fields.Char("Owner Name", readonly=True,
        help="The name of the policyholder the coupon was issued to.")
    phone = fields.Function(fields.Char("Owner Phone",
            help="The owner's phone, masked."), 'get_phone')
    phone_encrypted = fields.Char("Phone (Encrypted)", readonly=True)
    phone_index = fields.Char("Phone Index", readonly=True)
    plate = fields.Char("Plate", readonly=True,
        help="The plate of the vehicle the coupon is bound to.")
    vehicle_model = fields.Char("Vehicle Model", readonly=True)
    policy_number = fields.Char("Policy Number", readonly=True,
        help="The policy whose download issued the coupon.")
    issue_request_no = fields.Char("Issue Request", readonly=True,
        help="The insurer's request number of the issue (its "
        "idempotency key).")
    issued_at = fields.DateTime("Issued At", readonly=True, required=True)
    issue_day = fields.Date("Issue Day", readonly=True, required=True,
        help="The company's calendar day of the issue.")
    first_day = fields.Date("Valid From", readonly=True, required=True)
    last_day = fields.Date("Valid Until", readonly=True, required=True)
    usage_limit = fields.Integer("Uses Allowed", readonly=True,
        required=True)
    uses = fields.Integer("Uses", readonly=True, required=True,
        help="How many redemptions of the coupon stand.")
    state = fields.Selection(COUPON_STATES, "State", readonly=True,
        required=True, sort=False)
    redemptions = fields.One2Many('dualrec.coupon.redemption', 'coupon',
        "Redemptions", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'dualrec_valueadd.msg_coupon_code_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.issue_request_no, Index.Equality()),
                    where=t.issue_request_no != Null),
                Index(t, (t.phone_index, Index.Equality()),
                    where=t.phone_index != Null),
                Index(t, (t.state, Index.Equality()),
                    (t.last_day, Index.Range())),
                })
        cls._order.insert(0, ('issued_at', 'DESC'))
        cls._buttons.update({
                'cancel': {
                    'invisible': Eval('state') != 'issued',
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'issued'

    @classmethod
    def default_uses(cls):
        return 0

    def get_batch_field(self, name):
        value = getattr(self.batch, name)
        return value.id if hasattr(value, 'id') else value

    @classmethod
    def search_batch_field(cls, name, clause):
        return [('batch.' + clause[0],) + tuple(clause[1:])]

    @property
    def formatted_code(self):
        return codes.format_code(self.code)

    @classmethod
    def check_modification(cls, mode, coupons, values=None, external=False):
        Guard = Pool().get('dualrec.guard')
        super().check_modification(
            mode, coupons, values=values, external=external)
        # coupons are issued, redeemed, returned, expired and cancelled by
        # the code that owns them, never written by hand
        if external or (mode == 'delete' and not Transaction().context.get(
                    '_dualrec_coupon_system')):
            if mode == 'delete':
                raise CouponError(gettext(
                        'dualrec_valueadd.msg_coupon_delete'))
            Guard.check_modification(cls, mode, values, external)

    @classmethod
    def copy(cls, coupons, default=None):
        if not coupons:
            return []
        raise CouponError(gettext('dualrec_valueadd.msg_coupon_copy'))

    @classmethod
    @ModelView.button
    def cancel(cls, coupons):
        "Cancel issued coupons: they can no longer be redeemed."
        AuditLog = Pool().get('dualrec.audit.log')
        for coupon in coupons:
            if coupon.state != 'issued':
                raise CouponError(gettext(
                        'dualrec_valueadd.msg_coupon_cancel_state',
                        coupon=coupon.formatted_code,
                        state=coupon.state_string))
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        ids = [c.id for c in coupons]
        for sub in grouped_slice(ids, 1000):
            cursor.execute(*table.update([table.state, table.write_date,
                        table.write_uid],
                    ['cancelled', now(), Transaction().user],
                    where=table.id.in_(list(sub))
                    & (table.state == 'issued')))
        clear_cache(cls, ids)
        AuditLog.log('coupon_cancel', coupons, model=cls.__name__)

    @classmethod
    def expire(cls):
        """Move the issued coupons whose last day has passed (in their
        company's calendar) to expired; return how many moved."""
        pool = Pool()
        Company = pool.get('company.company')
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        count = 0
        for company in Company.search([]):
            day = today(company)
            cursor.execute(*table.update(
                    [table.state, table.write_date, table.write_uid],
                    ['expired', now(), Transaction().user],
                    where=(table.company == company.id)
                    & (table.state == 'issued') & (table.last_day < day)))
            count += cursor.rowcount if cursor.rowcount > 0 else 0
        clear_cache(cls)
        return count

    @classmethod
    def token_key(cls):
        "Return the key that signs the owners' QR tokens."
        return token_key()

    @classmethod
    def issue_for_request(cls, batch_number, request_no, owner, count=1):
        """Issue count coupons of the batch of batch_number to owner (the
        values of Batch.issue) for the insurer's request_no; return
        (coupons, created).  A repeat of the request returns its coupons;
        a repeat with another content is refused (409 conflict)."""
        pool = Pool()
        Batch = pool.get('dualrec.coupon.batch')
        PartnerUser = pool.get('dualrec.valueadd.user')
        User = pool.get('res.user')
        transaction = Transaction()
        company = transaction.context.get('company')
        with without_check_access():
            batches = Batch.search([('number', '=', batch_number),
                    ('company', '=', company)], limit=1)
            batch = batches[0] if batches else None
            if batch and not User.holds_group(
                    'group_valueadd', module='dualrec_valueadd'):
                # an insurer's system issues from its own batches only
                partner = PartnerUser.of_user()
                if not partner or partner.party != batch.issuer:
                    batch = None
            if not batch:
                raise CouponRefusal('unknown_batch', status=404,
                    batch=batch_number)
            key = f'dualrec.coupon:{company}:{batch.issuer.id}:{request_no}'
            lock = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8],
                'big', signed=True)
            database = transaction.database
            cursor = transaction.connection.cursor()
            cursor.execute(*Select([database.lock_id(lock)]))
            acquired, = cursor.fetchone()
            if not acquired:
                # a concurrent issue of the request: wait for it, then the
                # retried transaction finds its coupons
                cursor.execute(*Select([database.lock_id(lock, timeout=60)]))
                raise DatabaseOperationalError(
                    f"coupon request {request_no} issued concurrently")
            existing = cls.search([
                    ('company', '=', company),
                    ('batch.issuer', '=', batch.issuer.id),
                    ('issue_request_no', '=', request_no),
                    ], order=[('id', 'ASC')])
            if existing:
                first = existing[0]
                plate = normalize_plate(owner.get('plate')) or owner.get(
                    'plate')
                same = (first.batch == batch and len(existing) == count
                    and (first.plate or None) == (plate or None)
                    and (first.policy_number or None) == (
                        owner.get('policy') or None)
                    and (not owner.get('phone') and not first.phone_index
                        or first.matches_phone(owner.get('phone'))))
                if not same:
                    raise CouponRefusal('conflict', status=409,
                        request_no=request_no)
                return existing, False
            return batch.issue([owner] * count, request_no=request_no), True

    @classmethod
    def owners_of(cls, service, min_rating=None, from_date=None,
            to_date=None, exclude_batch=None):
        """Return the owners (the values of Batch.issue) of the coupons
        redeemed for service, rated min_rating or more, used between the
        dates; one per phone (or plate), none who holds an issued coupon
        of exclude_batch."""
        pool = Pool()
        Redemption = pool.get('dualrec.coupon.redemption')
        domain = [('service', '=', service.id), ('state', '=', 'done'),
            ('coupon.batch.binding', '=', 'bound')]
        if min_rating:
            domain.append(('rating', '>=', min_rating))
        if from_date:
            domain.append(('day', '>=', from_date))
        if to_date:
            domain.append(('day', '<=', to_date))
        redemptions = Redemption.search(domain,
            order=[('use_time', 'DESC'), ('id', 'DESC')])
        held = set()
        if exclude_batch:
            with without_check_access():
                for coupon in cls.search([('batch', '=', exclude_batch.id),
                            ('state', '=', 'issued')]):
                    held.add(coupon.phone_index or coupon.plate)
        owners, seen = [], set()
        for redemption in redemptions:
            with without_check_access():
                coupon = redemption.coupon
                key = coupon.phone_index or coupon.plate
                if not key or key in seen or key in held:
                    continue
                seen.add(key)
                owners.append({
                        'owner': coupon.owner.id if coupon.owner else None,
                        'name': coupon.owner_name,
                        'phone': coupon.owner_phone(),
                        'plate': coupon.plate,
                        'vehicle_model': coupon.vehicle_model,
                        'policy': coupon.policy_number,
                        })
        return owners

    # -- redemption -----------------------------------------------------------

    @classmethod
    def find_code(cls, text, now_=None):
        """Return the coupon of text (a typed code or a QR payload with its
        signed token); raise CouponRefusal."""
        try:
            code, _ = codes.read_payload(token_key(), text,
                now_ if now_ is not None else time.time())
        except codes.CouponError as error:
            raise refusal(error) from None
        with without_check_access():
            coupons = cls.search([('code', '=', code)], limit=1)
        if not coupons:
            raise CouponRefusal('unknown', status=404,
                code=codes.mask_code(code))
        return coupons[0]

    def check_usable(self, merchant, store, plate, day):
        "Raise the CouponRefusal that forbids a redemption, if any."
        batch = self.batch
        if self.state == 'redeemed':
            raise self.already_redeemed()
        if self.state == 'expired':
            raise CouponRefusal('expired', code=self.formatted_code,
                day=self.last_day)
        if self.state == 'cancelled':
            raise CouponRefusal('cancelled', code=self.formatted_code)
        problem = codes.usable_on(day, self.first_day, self.last_day)
        if problem == 'expired':
            raise CouponRefusal('expired', code=self.formatted_code,
                day=self.last_day)
        if problem == 'not_started':
            raise CouponRefusal('not_started', code=self.formatted_code,
                day=self.first_day)
        if batch.scope == 'merchants' and merchant not in batch.merchants:
            raise CouponRefusal('wrong_merchant', status=403,
                code=self.formatted_code)
        if batch.scope == 'regions' and not (
                region_prefixes(store.region_code) & set(
                    batch.region_codes)):
            raise CouponRefusal('wrong_region', status=403,
                code=self.formatted_code, region=store.region_code)
        if self.plate:
            seen = normalize_plate(plate) if plate else None
            if seen != self.plate:
                raise CouponRefusal('plate_mismatch', status=403,
                    code=self.formatted_code)

    def already_redeemed(self):
        Redemption = Pool().get('dualrec.coupon.redemption')
        with without_check_access():
            last = Redemption.search([
                    ('coupon', '=', self.id), ('state', '=', 'done')],
                order=[('use_time', 'DESC'), ('id', 'DESC')], limit=1)
        if last:
            last, = last
            return CouponRefusal('already_redeemed', status=409,
                code=self.formatted_code, redeemed_at=last.use_time,
                merchant=last.merchant.rec_name, store=last.store.name)
        return CouponRefusal('already_redeemed', status=409,
            code=self.formatted_code, redeemed_at=None, merchant=None,
            store=None)

    def take_use(self):
        """Take one use of the coupon with one conditional UPDATE; return
        whether it was taken (False: its uses are gone)."""
        table = self.__class__.__table__()
        cursor = Transaction().connection.cursor()
        uses = table.uses + 1
        cursor.execute(*table.update(
                [table.uses, table.state, table.write_date, table.write_uid],
                [uses, Case((uses >= table.usage_limit, 'redeemed'),
                        else_='issued'), now(), Transaction().user],
                where=(table.id == self.id) & (table.state == 'issued')
                & (table.uses < table.usage_limit)))
        taken = cursor.rowcount == 1
        clear_cache(self.__class__, [self.id])
        return taken

    def give_back_use(self):
        "Give back one use of the coupon (its redemption was returned)."
        table = self.__class__.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.update(
                [table.uses, table.state, table.write_date, table.write_uid],
                [table.uses - 1, 'issued', now(), Transaction().user],
                where=(table.id == self.id) & (table.uses > 0)))
        clear_cache(self.__class__, [self.id])


class Redemption(ModelSQL, ModelView):
    "The use of a coupon at a merchant's store (核销记录)."
    __string__ = "Coupon Redemption"
    __name__ = 'dualrec.coupon.redemption'

    coupon = fields.Many2One('dualrec.coupon', "Coupon", required=True,
        readonly=True, ondelete='RESTRICT')
    company = fields.Many2One('company.company', "Company", required=True,
        readonly=True, ondelete='RESTRICT')
    service = fields.Many2One('dualrec.valueadd.service', "Service",
        required=True, readonly=True, ondelete='RESTRICT')
    merchant = fields.Many2One('party.party', "Merchant", required=True,
        readonly=True, ondelete='RESTRICT')
    store = fields.Many2One('dualrec.merchant.store', "Store",
        required=True, readonly=True, ondelete='RESTRICT')
    user = fields.Many2One('res.user', "Staff User", readonly=True,
        ondelete='RESTRICT',
        help="The user of the merchant's staff who redeemed.")
    operator = fields.Char("Operator", readonly=True,
        help="The name of the operator given by the merchant.")
    request_no = fields.Char("Use Request", required=True, readonly=True,
        help="The merchant's request number of the redemption (its "
        "idempotency key).")
    use_time = fields.DateTime("Use Time", required=True, readonly=True)
    day = fields.Date("Day", required=True, readonly=True,
        help="The company's calendar day of the use.")
    issue_days = fields.Float("Days from Issue", digits=(16, 2),
        readonly=True,
        help="The days from the issue of the coupon to this use.")
    plate_seen = fields.Char("Plate Seen", readonly=True)
    location = fields.Char("Location", readonly=True)
    state = fields.Selection(REDEMPTION_STATES, "State", required=True,
        readonly=True, sort=False)
    returned_at = fields.DateTime("Returned At", readonly=True)
    return_request_no = fields.Char("Return Request", readonly=True)
    return_reason = fields.Char("Return Reason", readonly=True)
    agreement = fields.Many2One('dualrec.merchant.agreement', "Agreement",
        readonly=True, ondelete='RESTRICT',
        help="The merchant agreement that prices the orders.")
    orders_pending = fields.Boolean("Orders Pending", readonly=True,
        help="The orders of the redemption are still to be created by the "
        "worker (within seconds).")
    merchant_order = fields.Many2One('dualrec.order', "Merchant Order",
        readonly=True, ondelete='RESTRICT',
        help="The payable order to the merchant.")
    insurer_order = fields.Many2One('dualrec.order', "Insurer Order",
        readonly=True, ondelete='RESTRICT',
        help="The receivable order to the insurer of an insurer-funded "
        "coupon.")
    rating = fields.Integer("Rating", readonly=True,
        help="The owner's rating of the service, 1 to 5.")
    comment = fields.Char("Comment", readonly=True,
        help="The owner's comment on the service.")
    rated_at = fields.DateTime("Rated At", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('request_unique', Unique(t, t.merchant, t.request_no),
                'dualrec_valueadd.msg_redemption_request_unique'),
            ]
        # the worker's look for the redemptions that wait for their orders
        cls._sql_indexes.add(Index(t, (t.id, Index.Range()),
                where=t.orders_pending == Literal(True)))
        cls._order.insert(0, ('use_time', 'DESC'))

    @classmethod
    def check_modification(cls, mode, redemptions, values=None,
            external=False):
        Guard = Pool().get('dualrec.guard')
        super().check_modification(
            mode, redemptions, values=values, external=external)
        if mode == 'delete':
            raise CouponError(gettext(
                    'dualrec_valueadd.msg_redemption_delete'))
        Guard.check_modification(cls, mode, values, external)

    def get_rec_name(self, name):
        return f'{self.coupon.rec_name} @ {self.store.rec_name}'

    @classmethod
    def partner(cls):
        """Return the merchant partner user of the current user, or raise
        403 forbidden."""
        PartnerUser = Pool().get('dualrec.valueadd.user')
        with without_check_access():
            partner = PartnerUser.of_user()
        if not partner or not partner.party.merchant:
            raise CouponRefusal('forbidden', status=403)
        return partner

    @classmethod
    def redeem(cls, text, store_code, request_no, use_time=None,
            operator=None, plate=None, location=None):
        """Redeem the coupon of text (a code or a QR payload) at the store
        of store_code of the current user's merchant; return (redemption,
        created).  Idempotent on request_no: a retry returns the first
        redemption.  Raises CouponRefusal for every refusal."""
        pool = Pool()
        Party = pool.get('party.party')
        Store = pool.get('dualrec.merchant.store')
        info = pool.get('dualrec.valueadd.user').merchant_of_user()
        if not info or not info['merchant']:
            raise CouponRefusal('forbidden', status=403)
        merchant = Party(info['merchant'])
        request_no = str(request_no or '').strip()
        if not request_no:
            raise CouponRefusal('missing_field', field='use_request_no')
        with without_check_access():
            existing = cls.search([
                    ('merchant', '=', merchant.id),
                    ('request_no', '=', request_no),
                    ], limit=1)
        Coupon = Pool().get('dualrec.coupon')
        if existing:
            existing, = existing
            # a retry answers the first result, even once its QR token
            # has expired (the signature is still checked)
            if existing.coupon != Coupon.find_code(text, now_=0):
                raise CouponRefusal('request_conflict', status=409,
                    request_no=request_no)
            return existing, False
        coupon = Coupon.find_code(text)
        with without_check_access():
            if not store_code:
                raise CouponRefusal('missing_field', field='store')
            store_id = info['stores'].get(str(store_code))
            if store_id is None:
                raise CouponRefusal('unknown_store', store=store_code)
            if info['allowed'] and store_id not in info['allowed']:
                raise CouponRefusal('wrong_store', status=403,
                    store=store_code)
            store = Store(store_id)
            moment = now()
            if use_time is None:
                use_time = moment
            elif not (-USE_TIME_BEHIND
                    <= (use_time - moment).total_seconds()
                    <= USE_TIME_AHEAD):
                raise CouponRefusal('bad_use_time', field='use_time')
            company = coupon.company
            # the day of the use (a use queued offline on the last day is
            # still in time), as the orders are dated
            day = local_day(company, use_time)
            coupon.check_usable(merchant, store, plate, day)
            agreement = Pool().get('dualrec.merchant.agreement').find(
                company, merchant, coupon.batch.service, day)
            if not agreement:
                raise CouponRefusal('no_agreement', status=409,
                    merchant=merchant.rec_name,
                    service=coupon.batch.service.rec_name)
            if not coupon.take_use():
                raise coupon.already_redeemed()
            try:
                redemption = cls._insert({
                            'coupon': coupon.id,
                            'company': company.id,
                            'service': coupon.batch.service.id,
                            'merchant': merchant.id,
                            'store': store.id,
                            'user': Transaction().user,
                            'operator': operator,
                            'request_no': request_no,
                            'use_time': use_time,
                            'day': day,
                            'issue_days': round(max((use_time
                                        - coupon.issued_at).total_seconds(),
                                    0) / 86400, 2),
                            'plate_seen': (normalize_plate(plate) or plate
                                if plate else None),
                            'location': location,
                            'state': 'done',
                            'agreement': agreement.id,
                            'orders_pending': True,
                            })
            except (SQLConstraintError, DatabaseIntegrityError) as error:
                # the same request number at once for another coupon: the
                # retried transaction answers request_conflict
                raise DatabaseOperationalError(str(error)) from error
            if queued_orders():
                cls._queue_orders([redemption])
            else:
                cls.create_orders([redemption])
        return redemption, True

    @classmethod
    def _insert(cls, values):
        """Insert the redemption of values (the server's own, checked by
        redeem) with one SQL statement and return it: the hot path of the
        merchants' calls, without the ORM's create (no user values to
        validate, no trigger on redemptions)."""
        transaction = Transaction()
        database = transaction.database
        cursor = transaction.connection.cursor()
        table = cls.__table__()
        names = sorted(values)
        columns = [table.create_uid, table.create_date] + [
            Column(table, n) for n in names]
        row = [transaction.user, CurrentTimestamp()] + [
            cls._fields[n].sql_format(values[n]) for n in names]
        if database.has_returning():
            cursor.execute(*table.insert(columns, [row], [table.id]))
            id_, = cursor.fetchone()
        else:
            id_ = database.nextid(transaction.connection, cls._table)
            if id_:
                cursor.execute(*table.insert(
                        columns + [table.id], [row + [id_]]))
            else:
                cursor.execute(*table.insert(columns, [row]))
                id_ = database.lastid(cursor)
        return cls(id_)

    def _order_extension(self):
        coupon = self.coupon
        extension = {
            'use_time': self.use_time,
            'merchant_store': self.store.name,
            'region_code': self.store.region_code,
            }
        if coupon.vehicle_model:
            extension['vehicle_model'] = coupon.vehicle_model
        if self.location:
            extension['location'] = self.location
        return extension

    @classmethod
    def _queue_orders(cls, redemptions):
        """Queue the creation of the orders of redemptions for the worker,
        unless a task not yet taken will create them."""
        queue = Pool().get('ir.queue').__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*queue.select(queue.id,
                where=(queue.name == ORDERS_QUEUE)
                & (queue.dequeued_at == Null), limit=1))
        if cursor.fetchone():
            return
        with Transaction().set_context(queue_name=ORDERS_QUEUE):
            cls.__queue__.create_orders_task(list(redemptions))

    @classmethod
    def create_orders_task(cls, redemptions):
        """The queued task: create the orders of every redemption that waits
        for them, as the system (they are the order center's)."""
        with Transaction().set_user(0), without_check_access():
            cls.create_pending_orders()

    @classmethod
    def create_pending_orders_cron(cls):
        "The scheduled job: the orders a queued task missed."
        cls.create_pending_orders()

    @classmethod
    def create_pending_orders(cls, redemptions=None, size=ORDERS_BATCH):
        """Create the orders of the redemptions that still wait for them
        (the queued task of the worker, and every minute the scheduler for
        those a task missed), size at a time, each row locked (rows locked
        by another transaction are left to it); then of redemptions if
        given (return and rate need their orders at once)."""
        transaction = Transaction()
        database = transaction.database
        cursor = transaction.connection.cursor()
        table = cls.__table__()
        where = table.orders_pending == Literal(True)
        if redemptions:
            where &= table.id.in_([r.id for r in redemptions])
        total = 0
        while True:
            query = table.select(table.id, where=where,
                order_by=[table.id.asc], limit=size)
            if database.has_select_for():
                if redemptions:
                    query.for_ = For('UPDATE')
                else:
                    query.for_ = database.get_select_for_skip_locked()(
                        'UPDATE')
            cursor.execute(*query)
            ids = [i for i, in cursor]
            if not ids:
                return total
            with without_check_access():
                cls.create_orders(cls.browse(ids))
            total += len(ids)
            if redemptions or len(ids) < size:
                return total

    @classmethod
    def create_orders(cls, redemptions):
        """Create the confirmed orders of redemptions (one call to the order
        center for all) and link them."""
        pool = Pool()
        Order = pool.get('dualrec.order')
        vlist, links = [], []
        for redemption in redemptions:
            values = redemption._orders_values()
            links.append((redemption, len(vlist), len(values)))
            vlist.extend(values)
        orders = Order.create_from(vlist) if vlist else []
        to_write = []
        for redemption, start, count in links:
            values = {'merchant_order': orders[start].id,
                'orders_pending': False}
            if count > 1:
                values['insurer_order'] = orders[start + 1].id
            to_write.extend(([redemption], values))
        if to_write:
            cls.write(*to_write)

    def _orders_values(self):
        """Return the values of the orders of the redemption for the order
        center: the merchant's and, for an insurer-funded coupon, the
        insurer's."""
        coupon = self.coupon
        batch = coupon.batch
        agreement = self.agreement
        product = self.service.product
        description = gettext('dualrec_valueadd.msg_order_description',
            service=self.service.name, code=codes.mask_code(coupon.code),
            store=self.store.name)
        common = {
            'company': self.company.id,
            'type_': 'valueadd',
            'date': self.day,
            'source': 'coupon',
            'origin': self,
            'description': description,
            'extension': self._order_extension(),
            }
        vlist = [{**common,
                'direction': 'payable',
                'counterparty': self.merchant.id,
                'external_ref': f'{self.id}-M',
                'lines': [{'product': product.id, 'quantity': 1,
                        'unit_price': agreement.merchant_price,
                        'tax_rate': agreement.merchant_tax_rate}],
                }]
        if batch.funding != self.company.party:
            vlist.append({**common,
                    'direction': 'receivable',
                    'counterparty': batch.funding.id,
                    'external_ref': f'{self.id}-I',
                    'lines': [{'product': product.id, 'quantity': 1,
                            'unit_price': agreement.insurer_price,
                            'tax_rate': agreement.insurer_tax_rate}],
                    })
        return vlist

    @classmethod
    def return_(cls, code, request_no, return_request_no, reason):
        """Return the redemption of request_no (default: the latest
        standing one of the coupon code at the user's merchant) within the
        return window; its orders are cancelled or credited.  Idempotent on
        return_request_no.  Return (redemption, changed)."""
        pool = Pool()
        Coupon = pool.get('dualrec.coupon')
        Configuration = pool.get('dualrec.valueadd.configuration')
        partner = cls.partner()
        coupon = Coupon.find_code(code)
        return_request_no = str(return_request_no or '').strip()
        if not return_request_no:
            raise CouponRefusal('missing_field', field='return_request_no')
        if not (reason or '').strip():
            raise CouponRefusal('missing_field', field='reason')
        domain = [
            ('coupon', '=', coupon.id),
            ('merchant', '=', partner.party.id),
            ]
        if request_no:
            domain.append(('request_no', '=', str(request_no).strip()))
        with without_check_access():
            redemptions = cls.search(domain,
                order=[('state', 'ASC'), ('use_time', 'DESC'),
                    ('id', 'DESC')], limit=1)
            if not redemptions:
                raise CouponRefusal('not_redeemed', status=404,
                    code=coupon.formatted_code)
            redemption, = redemptions
            if redemption.state == 'returned':
                if redemption.return_request_no == return_request_no:
                    return redemption, False
                raise CouponRefusal('already_returned', status=409,
                    code=coupon.formatted_code,
                    returned_at=redemption.returned_at)
            configuration = Configuration(1)
            if not codes.returnable(redemption.day,
                    today(redemption.company), configuration.return_days):
                raise CouponRefusal('return_window', status=409,
                    code=coupon.formatted_code,
                    days=configuration.return_days)
            # the redemption row is the lock: two returns at once cannot
            # both give back the use
            table = cls.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*table.update(
                    [table.state, table.returned_at, table.return_request_no,
                        table.return_reason, table.write_date,
                        table.write_uid],
                    ['returned', now(), return_request_no, reason.strip(),
                        now(), Transaction().user],
                    where=(table.id == redemption.id)
                    & (table.state == 'done')))
            if cursor.rowcount != 1:
                raise DatabaseOperationalError("redemption returned at once")
            clear_cache(cls, [redemption.id])
            coupon.give_back_use()
            cls.create_pending_orders([redemption])
            redemption = cls(redemption.id)
            redemption._reverse_orders(reason.strip())
        return redemption, True

    def _reverse_orders(self, reason):
        "Cancel the orders of the returned redemption, or credit them."
        Order = Pool().get('dualrec.order')
        for order in filter(None, [self.merchant_order, self.insurer_order]):
            if order.state in {'draft', 'confirmed'}:
                Order.cancel_with_reason([order], reason)
            elif order.state in {'invoiced', 'settled'}:
                result = Order.credit([order])
                credits = Order.browse(result['res_id'])
                Order.confirm(credits)

    @classmethod
    def rate(cls, code, rating, comment=None, phone=None):
        """Rate the latest standing redemption of the coupon code (the
        owner, through the owner app); the rating and the comment land in
        the merchant order's extension data."""
        Coupon = Pool().get('dualrec.coupon')
        coupon = Coupon.find_code(code)
        if coupon.phone_index and not coupon.matches_phone(phone):
            raise CouponRefusal('not_owner', status=403)
        if (isinstance(rating, bool) or not isinstance(rating, int)
                or not 1 <= rating <= 5):
            raise CouponRefusal('bad_rating', field='rating', value=rating)
        if comment is not None and not isinstance(comment, str):
            raise CouponRefusal('bad_value', field='comment', value=comment)
        comment = (comment or '').strip()[:500] or None
        with without_check_access():
            redemptions = cls.search([
                    ('coupon', '=', coupon.id), ('state', '=', 'done')],
                order=[('use_time', 'DESC'), ('id', 'DESC')], limit=1)
            if not redemptions:
                raise CouponRefusal('not_redeemed', status=404,
                    code=coupon.formatted_code)
            redemption, = redemptions
            if redemption.rating:
                if (redemption.rating, redemption.comment) == (
                        rating, comment):
                    return redemption, False
                raise CouponRefusal('already_rated', status=409,
                    code=coupon.formatted_code)
            cls.write([redemption], {'rating': rating, 'comment': comment,
                    'rated_at': now()})
            if redemption.orders_pending:
                cls.create_pending_orders([redemption])
                redemption = cls(redemption.id)
            order = redemption.merchant_order
            if order:
                extension = dict(order.extension or {})
                extension['service_rating'] = rating
                if comment:
                    extension['comment'] = comment
                with Transaction().set_context(_dualrec_order_system=True,
                        _dualrec_order_rating=True):
                    order.__class__.write([order], {'extension': extension})
        return redemption, True


class Order(metaclass=PoolMeta):
    __name__ = 'dualrec.order'

    @classmethod
    def _get_mutable_fields(cls):
        # the owner's rating arrives after the order is confirmed
        names = super()._get_mutable_fields()
        if Transaction().context.get('_dualrec_order_rating'):
            names = names | {'extension'}
        return names


class IssueStart(ModelView):
    "Issue coupons of a batch: bearer coupons by number, or an xlsx of owners."
    __string__ = "Issue Coupons"
    __name__ = 'dualrec.coupon.issue.start'

    batch = fields.Many2One('dualrec.coupon.batch', "Batch", required=True,
        readonly=True)
    binding = fields.Selection([
            ('bound', "Bound to Owner and Vehicle"),
            ('bearer', "Bearer"),
            ], "Binding", readonly=True)
    count = fields.Integer("Number of Coupons",
        states={'invisible': Eval('binding') != 'bearer',
            'required': Eval('binding') == 'bearer'},
        domain=[If(Eval('binding') == 'bearer',
                [('count', '>', 0), ('count', '<=', 100000)], [])],
        help="How many bearer coupons to issue.")
    file = fields.Binary("Owners (xlsx)", filename='filename',
        states={'invisible': Eval('binding') != 'bound',
            'required': Eval('binding') == 'bound'},
        help="An xlsx sheet with the columns 姓名 (name), 手机号 (phone), "
        "车牌号 (plate), 车型 (vehicle model) and 保单号 (policy number), "
        "one coupon per row.")
    filename = fields.Char("File Name")


class Issue(Wizard):
    "Issue coupons of a batch."
    __name__ = 'dualrec.coupon.issue'
    start = StateView('dualrec.coupon.issue.start',
        'dualrec_valueadd.coupon_issue_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Issue", 'issue', 'tryton-ok', default=True),
            ])
    issue = StateAction('dualrec_valueadd.act_coupon_form')

    def default_start(self, fields):
        return {'batch': self.record.id, 'binding': self.record.binding}

    def do_issue(self, action):
        batch = self.record
        if batch.binding == 'bearer':
            owners = [{} for _ in range(self.start.count)]
        else:
            owners = read_owners(self.start.file)
        try:
            coupons = batch.issue(owners)
        except CouponRefusal as error:
            raise BatchError(error.message) from error
        action['pyson_domain'] = PYSONEncoder().encode(
            [('batch', '=', batch.id)])
        action['name'] += f' ({batch.number}, {len(coupons)})'
        return action, {}


OWNER_COLUMNS = {
    'name': ['姓名', '车主', 'name', 'owner'],
    'phone': ['手机号', '手机', '电话', 'phone', 'mobile'],
    'plate': ['车牌号', '车牌', 'plate'],
    'vehicle_model': ['车型', 'vehicle model', 'model'],
    'policy': ['保单号', 'policy', 'policy number'],
    }


def read_owners(data):
    "Return the owners of the xlsx data (a list of dicts)."
    import io

    from openpyxl import load_workbook
    try:
        sheet = load_workbook(io.BytesIO(data), read_only=True,
            data_only=True).worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
    except Exception:
        raise BatchError(gettext('dualrec_valueadd.msg_issue_file'))
    if not rows:
        raise BatchError(gettext('dualrec_valueadd.msg_issue_file'))
    header = [str(c or '').strip().lower() for c in rows[0]]
    columns = {}
    for name, titles in OWNER_COLUMNS.items():
        for title in titles:
            if title.lower() in header:
                columns[name] = header.index(title.lower())
                break
    if 'plate' not in columns:
        raise BatchError(gettext('dualrec_valueadd.msg_issue_columns'))
    owners = []
    for row in rows[1:]:
        if not any(c not in (None, '') for c in row):
            continue
        owners.append({name: (str(row[i]).strip()
                    if i < len(row) and row[i] is not None else None)
                for name, i in columns.items()})
    return owners


class AuditLog(metaclass=PoolMeta):
    __name__ = 'dualrec.audit.log'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.action.selection += [
            ('coupon_cancel', "Coupons Cancelled"),
            ]


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.extend([
                ('dualrec.coupon|expire', "Expire Coupons"),
                ('dualrec.coupon.redemption|create_pending_orders_cron',
                    "Create the Pending Orders of Redemptions"),
                ])
