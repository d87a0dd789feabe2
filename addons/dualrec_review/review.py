# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The review decisions, kept for ever, and the wizard that takes them."""
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.wizard import Button, StateTransition, StateView, Wizard


from .check import CHECK_RESULTS

DECISIONS = [
    ('approve', "Approved"),
    ('reject', "Rejected"),
    ]


class Review(ModelSQL, ModelView):
    __string__ = "Review Decision"
    __name__ = 'dualrec.review'

    ticket = fields.Many2One('dualrec.ticket', "Ticket", required=True,
        readonly=True, ondelete='RESTRICT',
        help="The ticket decided on.")
    recording = fields.Many2One('dualrec.recording', "Recording",
        readonly=True, ondelete='RESTRICT',
        help="The recording version that was reviewed.")
    reviewer = fields.Many2One('res.user', "Reviewer", readonly=True,
        ondelete='RESTRICT', help="Who decided.")
    decision = fields.Selection(DECISIONS, "Decision", required=True,
        readonly=True, help="Approved or rejected.")
    comment = fields.Text("Comment", readonly=True,
        help="Why; required to reject.")
    check_result = fields.Selection(CHECK_RESULTS, "Automatic Checks",
        readonly=True,
        help="The result of the automatic checks when it was decided.")
    decided_at = fields.Timestamp("Decided At", required=True,
        readonly=True, help="When it was decided.")
    pending_since = fields.Timestamp("Pending Since", readonly=True,
        help="When the ticket had been submitted.")
    branch = fields.Function(fields.Many2One('dualrec.branch', "Branch",
            help="The branch of the ticket."), 'get_ticket_field',
        searcher='search_ticket_field')
    product = fields.Function(fields.Many2One('dualrec.product', "Product",
            help="The product of the ticket."), 'get_ticket_field',
        searcher='search_ticket_field')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('decided_at', 'DESC'), ('id', 'DESC')]

    def get_ticket_field(self, name):
        value = getattr(self.ticket, name)
        return value.id if value else None

    @classmethod
    def search_ticket_field(cls, name, clause):
        return [('ticket.' + clause[0],) + tuple(clause[1:])]

    @classmethod
    def check_modification(cls, mode, reviews, values=None, external=False):
        super().check_modification(
            mode, reviews, values=values, external=external)
        if mode in {'write', 'delete'}:
            raise AccessError(gettext('dualrec_review.msg_review_immutable'))
        # only the decision of the review wizard creates one
        Guard = Pool().get('dualrec.guard')
        Guard.check_modification(cls, mode, values, external)


class ReviewStart(ModelView):
    __string__ = "Review Ticket"
    __name__ = 'dualrec.ticket.review.start'

    ticket = fields.Many2One('dualrec.ticket', "Ticket", readonly=True,
        help="The ticket to decide on.")
    recording = fields.Many2One('dualrec.recording', "Recording",
        readonly=True, help="The recording to watch before deciding.")
    check_result = fields.Selection(CHECK_RESULTS, "Automatic Checks",
        readonly=True,
        help="The worst result of the automatic checks; a failure needs a "
        "comment to approve.")
    checks = fields.Many2Many('dualrec.recording.check', None, None,
        "Automatic Checks", readonly=True,
        help="Each automatic check with its value and threshold.")
    comment = fields.Text("Comment",
        help="Required to reject, and to approve despite failed checks.")


class ReviewTicket(Wizard):
    "Approve or reject a pending ticket."
    __string__ = "Review Ticket"
    __name__ = 'dualrec.ticket.review'

    start = StateView('dualrec.ticket.review.start',
        'dualrec_review.ticket_review_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Reject", 'reject', 'tryton-back',
                states={'readonly': ~Eval('comment')}),
            Button("Approve", 'approve', 'tryton-ok', default=True),
            ])
    approve = StateTransition()
    reject = StateTransition()

    def default_start(self, fields):
        ticket = self.record
        return {
            'ticket': ticket.id,
            'recording': ticket.recording.id if ticket.recording else None,
            'check_result': ticket.check_result,
            'checks': [c.id for c in ticket.checks],
            }

    def _decide(self, decision):
        Ticket = Pool().get('dualrec.ticket')
        Ticket.decide([self.record], decision, self.start.comment)
        return 'end'

    def transition_approve(self):
        return self._decide('approve')

    def transition_reject(self):
        return self._decide('reject')

    def end(self):
        return 'reload'
