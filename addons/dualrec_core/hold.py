# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.pyson import Bool, Eval
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from . import guard
from .audit import AuditMixin
from .company import company_today
from .exceptions import RetentionError

REASONS = [
    ('complaint', "Complaint"),
    ('litigation', "Litigation"),
    ('inquiry', "Regulatory Inquiry"),
    ]


class LegalHold(AuditMixin, ModelSQL, ModelView):
    "Keep the recordings of a ticket while a complaint or a case runs"
    __string__ = "Legal Hold"
    __name__ = 'dualrec.legal.hold'

    ticket = fields.Many2One('dualrec.ticket', "Ticket", required=True,
        ondelete='RESTRICT', states={'readonly': Bool(Eval('id', -1) >= 0)},
        help="The ticket whose recordings are kept.")
    reason = fields.Selection(REASONS, "Reason", required=True,
        help="Why the recordings must be kept.")
    description = fields.Text("Description",
        help="The case: reference, parties, who asked for the hold.")
    placed_on = fields.Date("Placed On", required=True,
        help="When the hold started.")
    released_on = fields.Date("Released On",
        domain=[
            ['OR',
                ('released_on', '=', None),
                ('released_on', '>=', Eval('placed_on', None)),
                ],
            ],
        help="When the hold was lifted; empty while it is active.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('placed_on', 'DESC'), ('id', 'DESC')]

    @staticmethod
    def default_placed_on():
        return company_today()

    def get_rec_name(self, name):
        return f'{self.ticket.rec_name} ({self.placed_on})'

    @classmethod
    def check_modification(cls, mode, holds, values=None, external=False):
        super().check_modification(
            mode, holds, values=values, external=external)
        # moved to another ticket, a hold would stop keeping the first
        # one's recordings without a release on record
        if mode == 'write' and 'ticket' in values:
            guard.refuse(cls, {'ticket'})
        # a hold is evidence of why recordings were kept: release it, never
        # remove it
        if mode == 'delete':
            raise RetentionError(gettext(
                    'dualrec_core.msg_hold_delete', hold=holds[0].rec_name))

    @classmethod
    def on_modification(cls, mode, holds, field_names=None):
        super().on_modification(mode, holds, field_names=field_names)
        Ticket = Pool().get('dualrec.ticket')
        with without_check_access():
            Ticket.update_retention(
                Ticket.browse(list({h.ticket.id for h in holds})))


RETENTION_GROUPS = ['group_dualrec_admin', 'group_dualrec_manager']


def set_contract_end(tickets, contract_end):
    """Set the contract end of tickets, which decides their retention.

    Only administrators and managers may: the field is closed to every
    other write (ir.model.field.access) and this is the one way in.
    """
    pool = Pool()
    Ticket = pool.get('dualrec.ticket')
    User = pool.get('res.user')
    transaction = Transaction()
    if transaction.user and transaction.check_access:
        if not User.holds_group(*RETENTION_GROUPS):
            raise AccessError(gettext('dualrec_core.msg_contract_end_denied'))
        # the user must see the tickets: the record rules decide
        Ticket.read([t.id for t in tickets], ['id'])
    with without_check_access():
        Ticket.write(list(tickets), {'contract_end': contract_end})


class SetContractEndStart(ModelView):
    __string__ = "Set Contract End"
    __name__ = 'dualrec.ticket.set_contract_end.start'

    contract_end = fields.Date("Contract End",
        help="When the insurance contract ends; empty if not known.")


class SetContractEnd(Wizard):
    "Set the contract end of tickets, from which their retention runs"
    __string__ = "Set Contract End"
    __name__ = 'dualrec.ticket.set_contract_end'

    start = StateView('dualrec.ticket.set_contract_end.start',
        'dualrec_core.ticket_set_contract_end_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Set", 'set_', 'tryton-ok', default=True),
            ])
    set_ = StateTransition()

    def default_start(self, fields):
        return {'contract_end': self.record.contract_end
            if len(self.records) == 1 else None}

    def transition_set_(self):
        set_contract_end(self.records, self.start.contract_end)
        return 'end'
