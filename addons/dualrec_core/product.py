# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Unique, fields)
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from dualrec import rules
from .exceptions import ProductError

CATEGORIES = [
    ('auto', "Auto"),
    ('property', "Property"),
    ('liability', "Liability"),
    ('accident', "Accident"),
    ('health', "Health"),
    ('life', "Life"),
    ('investment_linked', "Investment-linked"),
    ('wealth', "Wealth Management"),
    ('loan', "Loan"),
    ('other', "Other"),
    ]
PERIOD_CLASSES = [
    ('short', "One Year or Less"),
    ('long', "Over One Year"),
    ]
CHANNELS = [
    ('bank', "Bank / Part-time Agency"),
    ('agency', "Professional Agency"),
    ('direct', "Direct"),
    ('phone', "Phone"),
    ]


class ProductType(DeactivableMixin, ModelSQL, ModelView):
    __string__ = "Product Type"
    __name__ = 'dualrec.product.type'

    name = fields.Char(
        "Name", required=True, translate=True,
        help="The name of the product type shown to users.")
    code = fields.Char(
        "Code", required=True, strip=True,
        help="The unique code of the product type.")
    category = fields.Selection(
        CATEGORIES, "Category", required=True, sort=False,
        help="The regulatory category that decides the recording rules.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'dualrec_core.msg_product_type_code_unique'),
            ]
        cls._order.insert(0, ('code', 'ASC'))


class Product(DeactivableMixin, ModelSQL, ModelView):
    __string__ = "Insurance Product"
    __name__ = 'dualrec.product'

    name = fields.Char("Name", required=True, help="The product's name.")
    code = fields.Char(
        "Code", required=True, strip=True,
        help="The product's code, unique within the company.")
    company = fields.Many2One(
        'company.company', "Company", required=True, ondelete='RESTRICT',
        help="The company that sells the product.")
    type_ = fields.Many2One(
        'dualrec.product.type', "Type", required=True, ondelete='RESTRICT',
        help="The type of the product.")
    category = fields.Function(fields.Selection(
            CATEGORIES, "Category",
            help="The regulatory category of the product type."),
        'on_change_with_category', searcher='search_category')
    insurer = fields.Many2One(
        'party.party', "Insurer", ondelete='RESTRICT',
        context={
            'company': Eval('company', -1),
            },
        depends={'company'},
        help="The insurer or issuer that underwrites the product.")
    period_class = fields.Selection(
        PERIOD_CLASSES, "Insurance Period", required=True, sort=False,
        help="The insurance period class; it drives the recording rule "
        "and the retention period of recordings.")
    channel = fields.Selection(
        CHANNELS, "Sales Channel", required=True, sort=False,
        help="The channel through which the product is sold.")
    recording_mandatory = fields.Boolean(
        "Recording Mandatory",
        help="Every sale of the product must be recorded on audio and video.")
    recording_obligation = fields.Function(fields.Selection([
                (rules.ALWAYS, "Every Sale"),
                (rules.ELDERLY, "Applicants Aged 60 or More"),
                (rules.OPTIONAL, "Not Required"),
                ], "Regulatory Obligation",
            help="When CIRC [2017] No. 54 requires a recording."),
        'on_change_with_recording_obligation')
    scripts = fields.One2Many(
        'dualrec.script', 'product', "Scripts",
        help="The successive versions of the product's recording script.")
    current_script = fields.Function(fields.Many2One(
            'dualrec.script', "Current Script",
            help="The latest version of the product's script."),
        'get_current_script')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('company_code_unique', Unique(t, t.company, t.code),
                'dualrec_core.msg_product_code_unique'),
            ]
        cls._order.insert(0, ('code', 'ASC'))

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_period_class(cls):
        return 'short'

    @classmethod
    def default_channel(cls):
        return 'direct'

    @classmethod
    def default_recording_mandatory(cls):
        return False

    def get_rec_name(self, name):
        return f'[{self.code}] {self.name}'

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, operand, *extra = clause
        if operator.startswith('!') or operator.startswith('not '):
            bool_op = 'AND'
        else:
            bool_op = 'OR'
        return [bool_op,
            ('code', operator, operand, *extra),
            ('name', operator, operand, *extra),
            ]

    @fields.depends('type_')
    def on_change_with_category(self, name=None):
        return self.type_.category if self.type_ else None

    @classmethod
    def search_category(cls, name, clause):
        return [('type_.category', *clause[1:])]

    @fields.depends('type_', 'period_class', 'channel')
    def on_change_with_recording_obligation(self, name=None):
        return rules.recording_obligation(
            self.on_change_with_category(), self.period_class, self.channel)

    @fields.depends(methods=['on_change_with_recording_obligation'])
    def on_change_type_(self):
        self._set_recording_mandatory()

    @fields.depends(methods=['on_change_with_recording_obligation'])
    def on_change_period_class(self):
        self._set_recording_mandatory()

    @fields.depends(methods=['on_change_with_recording_obligation'])
    def on_change_channel(self):
        self._set_recording_mandatory()

    def _set_recording_mandatory(self):
        self.recording_mandatory = (
            self.on_change_with_recording_obligation() == rules.ALWAYS)

    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        ProductType = pool.get('dualrec.product.type')
        values = super().preprocess_values(mode, values)
        # A product created without the flag gets the regulatory default.
        if mode == 'create' and 'recording_mandatory' not in values:
            type_ = values.get('type_')
            category = ProductType(type_).category if type_ else None
            values['recording_mandatory'] = rules.recording_obligation(
                category,
                values.get('period_class', cls.default_period_class()),
                values.get('channel', cls.default_channel())) == rules.ALWAYS
        return values

    @classmethod
    def validate_fields(cls, products, field_names):
        super().validate_fields(products, field_names)
        cls.check_recording_mandatory(products, field_names)

    @classmethod
    def check_recording_mandatory(cls, products, field_names=None):
        "A product that No. 54 requires to record cannot be made optional."
        if field_names and not field_names & {
                'recording_mandatory', 'type_', 'period_class', 'channel'}:
            return
        for product in products:
            if (not product.recording_mandatory
                    and product.recording_obligation == rules.ALWAYS):
                raise ProductError(gettext(
                        'dualrec_core.msg_product_recording_mandatory',
                        product=product.rec_name))

    @classmethod
    def get_current_script(cls, products, name):
        pool = Pool()
        Script = pool.get('dualrec.script')
        result = {p.id: None for p in products}
        for script in Script.search([
                    ('product', 'in', [p.id for p in products]),
                    ], order=[('version', 'ASC')]):
            result[script.product.id] = script.id
        return result
