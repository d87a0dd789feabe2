# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.model import ModelSingleton, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Id


class Configuration(ModelSingleton, ModelSQL, ModelView):
    "The settings of the order center."
    __string__ = "Order Center Configuration"
    __name__ = 'dualrec.order.configuration'

    order_sequence = fields.Many2One('ir.sequence', "Order Sequence",
        required=True,
        domain=[('sequence_type', '=',
                Id('dualrec_orders', 'sequence_type_order'))],
        help="The sequence that numbers the orders.")
    stuck_days = fields.Integer("Stuck After", required=True,
        help="An order that stays longer than this in draft, confirmed or "
        "invoiced is listed as stuck, in days.")
    import_queue_rows = fields.Integer("Queue Imports Above", required=True,
        help="A file with more rows than this is imported by a queued task, "
        "not inside the request.")

    @classmethod
    def default_order_sequence(cls):
        ModelData = Pool().get('ir.model.data')
        try:
            return ModelData.get_id('dualrec_orders', 'sequence_order')
        except KeyError:
            return None

    @classmethod
    def default_stuck_days(cls):
        return 30

    @classmethod
    def default_import_queue_rows(cls):
        return 5000

    def get_order_sequence(self, company=None):
        "Return the sequence that numbers the orders of company."
        return self.order_sequence
