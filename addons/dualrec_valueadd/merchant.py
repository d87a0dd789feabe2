# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Service types, merchants with their stores and staff, and the merchant
agreements that price each redemption."""
import re
from decimal import Decimal

from trytond.cache import Cache
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Unique, fields)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access

from dualrec import money

from .exceptions import MerchantError

# the merchant of each partner user, for the redemptions
MERCHANTS = Cache('dualrec_valueadd.merchant_of_user', context=False,
    duration=60)

REGION_CODE = re.compile(r'^\d{6}$')


def check_region_code(code):
    "Tell whether code is an administrative division code (GB/T 2260)."
    return bool(code and REGION_CODE.match(code))


def region_prefixes(code):
    """Return the province, city and county codes that contain the county
    code (GB/T 2260: 44 01 06 is in 440100, in 440000)."""
    return {code, code[:4] + '00', code[:2] + '0000'}


class ServiceType(DeactivableMixin, ModelSQL, ModelView):
    "A kind of value-added service redeemed with coupons."
    __string__ = "Service Type"
    __name__ = 'dualrec.valueadd.service'

    code = fields.Char("Code", required=True, strip=True,
        help="The short stable name of the service, used by the API.")
    name = fields.Char("Name", required=True, translate=True,
        help="The name of the service: car wash, designated driver …")
    product = fields.Many2One('product.product', "Service Product",
        required=True, ondelete='RESTRICT',
        domain=[('type', '=', 'service')],
        help="The service product of the orders of its redemptions.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'dualrec_valueadd.msg_service_code_unique'),
            ]

    def get_rec_name(self, name):
        return self.name

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, operand, *extra = clause
        bool_op = 'AND' if operator.startswith(('!', 'not ')) else 'OR'
        return [bool_op,
            ('code', operator, operand, *extra),
            ('name', operator, operand, *extra),
            ]


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    merchant = fields.Boolean("Merchant",
        help="The party delivers value-added services to coupon holders.")
    merchant_stores = fields.One2Many('dualrec.merchant.store', 'merchant',
        "Stores", states={'invisible': ~Eval('merchant')},
        help="The stores where the merchant redeems coupons.")
    valueadd_users = fields.One2Many('dualrec.valueadd.user', 'party',
        "Partner Users",
        help="The users who act for the party: the merchant's staff who "
        "redeem coupons, the insurer's system that issues them.")

    @classmethod
    def default_merchant(cls):
        return False

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        MERCHANTS.clear()


class Store(DeactivableMixin, ModelSQL, ModelView):
    "A store of a merchant where coupons are redeemed."
    __string__ = "Merchant Store"
    __name__ = 'dualrec.merchant.store'

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        MERCHANTS.clear()

    merchant = fields.Many2One('party.party', "Merchant", required=True,
        ondelete='CASCADE', domain=[('merchant', '=', True)],
        help="The merchant of the store.")
    code = fields.Char("Code", required=True, strip=True,
        help="The code of the store, unique for its merchant, used by "
        "the API.")
    name = fields.Char("Name", required=True,
        help="The name of the store.")
    address = fields.Char("Address",
        help="The street address of the store.")
    region_code = fields.Char("Region Code", required=True, size=6,
        help="The administrative division code (GB/T 2260) of the "
        "county of the store, e.g. 440106.")
    latitude = fields.Float("Latitude", digits=(9, 6),
        domain=['OR', ('latitude', '=', None),
            [('latitude', '>=', -90), ('latitude', '<=', 90)]],
        help="The latitude of the store (GCJ-02, as Chinese maps give).")
    longitude = fields.Float("Longitude", digits=(9, 6),
        domain=['OR', ('longitude', '=', None),
            [('longitude', '>=', -180), ('longitude', '<=', 180)]],
        help="The longitude of the store (GCJ-02).")
    phone = fields.Char("Phone", help="The phone number of the store.")
    opening_hours = fields.Char("Opening Hours",
        help="When the store serves, e.g. \"08:30-20:00\".")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.merchant, t.code),
                'dualrec_valueadd.msg_store_code_unique'),
            ]
        cls.__access__.add('merchant')

    @classmethod
    def validate_fields(cls, stores, field_names):
        super().validate_fields(stores, field_names)
        if field_names is None or 'region_code' in field_names:
            for store in stores:
                if not check_region_code(store.region_code):
                    raise MerchantError(gettext(
                            'dualrec_valueadd.msg_store_region_code',
                            store=store.rec_name, code=store.region_code))

    def get_rec_name(self, name):
        return f'{self.merchant.rec_name} {self.name}'

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, operand, *extra = clause
        bool_op = 'AND' if operator.startswith(('!', 'not ')) else 'OR'
        return [bool_op,
            ('code', operator, operand, *extra),
            ('name', operator, operand, *extra),
            ('merchant.rec_name', operator, operand, *extra),
            ]


class PartnerUser(ModelSQL, ModelView):
    """A user who acts for a partner through the API: a merchant's staff
    member (bound to some of its stores) or an insurer's policy system."""
    __string__ = "Partner User"
    __name__ = 'dualrec.valueadd.user'

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        MERCHANTS.clear()

    @classmethod
    def merchant_of_user(cls):
        """Return what redeem needs of the current user's merchant, cached
        (cleared by a change of a partner user, store or party; 60 s at
        most): {'merchant': the party id or None, 'stores': {code: id} of
        its active stores, 'allowed': the ids of the stores the user may
        redeem at (empty: all)}, or None for a user who is no partner."""
        pool = Pool()
        Store = pool.get('dualrec.merchant.store')
        user_id = Transaction().user
        info = MERCHANTS.get(user_id, -1)
        if info != -1:
            return info
        with without_check_access():
            partner = cls.of_user(user_id)
            if not partner:
                info = None
            elif not partner.party.merchant:
                info = {'merchant': None, 'stores': {}, 'allowed': []}
            else:
                info = {
                    'merchant': partner.party.id,
                    'stores': {s.code: s.id for s in Store.search(
                            [('merchant', '=', partner.party.id)])},
                    'allowed': [s.id for s in partner.stores],
                    }
        MERCHANTS.set(user_id, info)
        return info

    user = fields.Many2One('res.user', "User", required=True,
        ondelete='CASCADE',
        help="The user of the API (an application key or a login).")
    party = fields.Many2One('party.party', "Partner", required=True,
        ondelete='CASCADE',
        help="The merchant or the insurer the user acts for.")
    stores = fields.Many2Many('dualrec.valueadd.user-dualrec.merchant.store',
        'partner_user', 'store', "Stores",
        domain=[('merchant', '=', Eval('party', -1))],
        help="The stores where the staff member redeems; none: every "
        "store of the merchant.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('user_unique', Unique(t, t.user),
                'dualrec_valueadd.msg_partner_user_unique'),
            ]
        cls.__access__.add('party')

    def get_rec_name(self, name):
        return self.user.rec_name

    @classmethod
    def of_user(cls, user_id=None):
        "Return the partner user of user_id (default: the current user)."
        if user_id is None:
            user_id = Transaction().user
        records = cls.search([('user', '=', user_id)], limit=1)
        return records[0] if records else None


class PartnerUserStore(ModelSQL):
    __string__ = "Partner User - Store"
    __name__ = 'dualrec.valueadd.user-dualrec.merchant.store'

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        MERCHANTS.clear()

    partner_user = fields.Many2One('dualrec.valueadd.user', "Partner User",
        required=True, ondelete='CASCADE')
    store = fields.Many2One('dualrec.merchant.store', "Store",
        required=True, ondelete='CASCADE')


def overlapping(agreement, keys):
    """Return the other agreements of agreement's keys (field names) whose
    period (start_date to end_date, open-ended when empty) overlaps its
    own: at most one."""
    return agreement.__class__.search([
            ('id', '!=', agreement.id),
            *((key, '=', getattr(agreement, key).id) for key in keys),
            ['OR', ('end_date', '=', None),
                ('end_date', '>=', agreement.start_date)],
            ] + ([('start_date', '<=', agreement.end_date)]
                if agreement.end_date else []), limit=1)


class Agreement(ModelSQL, ModelView):
    """What one redemption of a service at a merchant costs and earns over a
    period: the price paid to the merchant, and the price the insurer pays
    for a redemption of a coupon it funds."""
    __string__ = "Merchant Agreement"
    __name__ = 'dualrec.merchant.agreement'

    company = fields.Many2One('company.company', "Company", required=True,
        ondelete='CASCADE', help="The company that pays the merchant.")
    merchant = fields.Many2One('party.party', "Merchant", required=True,
        ondelete='RESTRICT', domain=[('merchant', '=', True)],
        help="The merchant that delivers the service.")
    service = fields.Many2One('dualrec.valueadd.service', "Service",
        required=True, ondelete='RESTRICT',
        help="The service the agreement prices.")
    start_date = fields.Date("Start Date", required=True,
        domain=['OR', ('end_date', '=', None),
            ('start_date', '<=', Eval('end_date', None))],
        help="The first day of the agreement.")
    end_date = fields.Date("End Date",
        help="The last day of the agreement; none: open-ended.")
    merchant_price = fields.Numeric("Merchant Price (VAT incl.)",
        digits=(16, 2), required=True,
        domain=[('merchant_price', '>=', 0)],
        help="What we pay the merchant per redemption, VAT included.")
    merchant_tax_rate = fields.Numeric("Merchant VAT Rate", digits=(16, 4),
        required=True,
        help="The VAT rate of the merchant's fapiao, as a fraction.")
    insurer_price = fields.Numeric("Insurer Price (VAT incl.)",
        digits=(16, 2), required=True,
        domain=[('insurer_price', '>=', 0)],
        help="What the insurer pays us per redemption of a coupon it "
        "funds, VAT included.")
    insurer_tax_rate = fields.Numeric("Insurer VAT Rate", digits=(16, 4),
        required=True,
        help="The VAT rate of our fapiao to the insurer, as a fraction.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('start_date', 'DESC'))

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_merchant_tax_rate(cls):
        return Decimal('0.06')

    @classmethod
    def default_insurer_tax_rate(cls):
        return Decimal('0.06')

    def get_rec_name(self, name):
        return f'{self.merchant.rec_name} / {self.service.rec_name}'

    @classmethod
    def validate_fields(cls, agreements, field_names):
        super().validate_fields(agreements, field_names)
        for agreement in agreements:
            for rate in (agreement.merchant_tax_rate,
                    agreement.insurer_tax_rate):
                if rate not in money.VAT_RATES:
                    raise MerchantError(gettext(
                            'dualrec_valueadd.msg_agreement_rate',
                            agreement=agreement.rec_name, rate=rate))
            overlaps = overlapping(agreement, ['company', 'merchant',
                    'service'])
            if overlaps:
                raise MerchantError(gettext(
                        'dualrec_valueadd.msg_agreement_overlap',
                        agreement=agreement.rec_name,
                        other=overlaps[0].start_date))

    @classmethod
    def find(cls, company, merchant, service, day):
        "Return the agreement of merchant for service on day, or None."
        agreements = cls.search([
                ('company', '=', int(company)),
                ('merchant', '=', int(merchant)),
                ('service', '=', int(service)),
                ('start_date', '<=', day),
                ['OR', ('end_date', '=', None), ('end_date', '>=', day)],
                ], limit=1)
        return agreements[0] if agreements else None

