# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Order types and the keys of the orders' extension data."""
import datetime as dt
import json
from decimal import Decimal

from trytond.model import (
    DeactivableMixin, DictSchemaMixin, ModelSQL, ModelView, Unique, fields,
    sequence_ordered)
from trytond.pyson import PYSONDecoder
from trytond.tools.domain_inversion import eval_domain

from .common import DIRECTIONS


class OrderType(DeactivableMixin, sequence_ordered(), ModelSQL, ModelView):
    "A kind of billable service; the analysis groups orders by it."
    __string__ = "Order Type"
    __name__ = 'dualrec.order.type'

    code = fields.Char("Code", required=True, strip=True,
        help="The short stable name of the type, used by imports and the "
        "API.")
    name = fields.Char("Name", required=True, translate=True,
        help="The name of the type shown to users.")
    direction = fields.Selection(DIRECTIONS, "Default Direction",
        required=True,
        help="Whether the orders of this type are usually billed to the "
        "counterparty (receivable) or owed to it (payable).")
    extension_keys = fields.Many2Many(
        'dualrec.order.type-dualrec.order.extension.key', 'type_', 'key',
        "Extension Keys",
        help="The extension data that the orders of this type carry.")
    description = fields.Text("Description", translate=True,
        help="What services the type covers.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'dualrec_orders.msg_order_type_code_unique'),
            ]

    @classmethod
    def default_direction(cls):
        return 'receivable'

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


class ExtensionKey(DictSchemaMixin, ModelSQL, ModelView):
    "A key of the extension data of orders (use time, vehicle model …)."
    __string__ = "Order Extension Key"
    __name__ = 'dualrec.order.extension.key'

    types = fields.Many2Many(
        'dualrec.order.type-dualrec.order.extension.key', 'key', 'type_',
        "Order Types", help="The order types whose orders carry the key.")
    type_string = DictSchemaMixin.type_.translated('type_')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('name_unique', Unique(t, t.name),
                'dualrec_orders.msg_extension_key_unique'),
            ]


class OrderTypeExtensionKey(ModelSQL):
    __string__ = "Order Type - Extension Key"
    __name__ = 'dualrec.order.type-dualrec.order.extension.key'

    type_ = fields.Many2One('dualrec.order.type', "Order Type",
        required=True, ondelete='CASCADE')
    key = fields.Many2One('dualrec.order.extension.key', "Key",
        required=True, ondelete='CASCADE')


def ExtensionKey_accepts(key, value):
    "Tell whether value is of the kind of the extension key."
    kind = key.type_
    if kind == 'boolean':
        ok = isinstance(value, bool)
    elif kind == 'integer':
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind in {'float', 'numeric'}:
        ok = (isinstance(value, (int, float, Decimal))
            and not isinstance(value, bool))
    elif kind in {'char', 'color'}:
        ok = isinstance(value, str)
    elif kind == 'date':
        ok = isinstance(value, dt.date) and not isinstance(
            value, dt.datetime)
    elif kind == 'datetime':
        ok = isinstance(value, dt.datetime)
    elif kind == 'selection':
        ok = value in {k for k, _ in json.loads(key.selection_json or '[]')}
    elif kind == 'multiselection':
        keys = {k for k, _ in json.loads(key.selection_json or '[]')}
        ok = isinstance(value, (list, tuple)) and set(value) <= keys
    else:
        ok = True
    if ok and key.domain:
        domain = PYSONDecoder().decode(key.domain)
        ok = eval_domain(domain, {key.name: value})
    return ok
