# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Review of the sales tickets: approve or reject, once, by someone else."""
import datetime as dt

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.model.exceptions import AccessError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import (
    Transaction, check_access, without_check_access)


from .check import CHECK_RESULTS
from .exceptions import ReviewError

REVIEWER_GROUP = 'group_dualrec_reviewer'


class Ticket(metaclass=PoolMeta):
    __name__ = 'dualrec.ticket'

    pending_since = fields.Timestamp("Pending Since", readonly=True,
        help="When the ticket was last submitted for review.")
    reviewer = fields.Many2One('res.user', "Reviewer", readonly=True,
        ondelete='RESTRICT', help="Who took the latest review decision.")
    reviewed_at = fields.Timestamp("Reviewed At", readonly=True,
        help="When the latest review decision was taken.")
    completed_on = fields.Date("Completed On", readonly=True,
        help="The day the ticket was approved; QC samples by it.")
    reviews = fields.One2Many('dualrec.review', 'ticket', "Reviews",
        readonly=True, help="Every review decision on the ticket.")
    check_result = fields.Function(fields.Selection(
            CHECK_RESULTS, "Automatic Checks",
            help="The worst result of the automatic checks of the current "
            "recording."),
        'get_check_result')
    checks = fields.Function(fields.Many2Many(
            'dualrec.recording.check', None, None, "Automatic Checks",
            help="The automatic checks of the current recording."),
        'get_checks')
    rectification = fields.Boolean("Rectification Required", readonly=True,
        help="A failed quality inspection asks the salesperson to record "
        "the sale again.")
    qc_tasks = fields.One2Many('dualrec.qc.task', 'ticket', "QC Tasks",
        readonly=True, help="The quality inspections of the ticket.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # QC may send a completed ticket back (整改).
        cls._transitions |= {('approved', 'rejected')}
        cls._buttons.update({
                'review': {
                    'invisible': Eval('state') != 'pending',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def copy(cls, tickets, default=None):
        default = default.copy() if default is not None else {}
        for name in ['pending_since', 'reviewer', 'reviewed_at',
                'completed_on', 'reviews', 'rectification', 'qc_tasks']:
            default.setdefault(name, None)
        return super().copy(tickets, default=default)

    def get_check_result(self, name):
        recording = self.recording
        return recording.check_result if recording else None

    def get_checks(self, name):
        recording = self.recording
        return [c.id for c in recording.checks] if recording else []

    @classmethod
    def submit(cls, tickets):
        super().submit(tickets)
        with without_check_access():
            cls.write(tickets, {'pending_since': dt.datetime.now()})

    @classmethod
    def reopen(cls, tickets):
        # corrected after its approval: pending again, not completed
        super().reopen(tickets)
        # the transition moves only the approved ones
        tickets = [t for t in cls.browse([t.id for t in tickets])
            if t.state == 'pending']
        with without_check_access():
            cls.write(tickets, {
                    'pending_since': dt.datetime.now(),
                    'completed_on': None,
                    })

    @classmethod
    @ModelView.button_action('dualrec_review.wizard_ticket_review')
    def review(cls, tickets):
        "Open the review of a pending ticket."
        pass

    @classmethod
    def decide(cls, tickets, decision, comment=None):
        """Approve or reject pending tickets as the current reviewer.

        The tickets are locked first: of two reviewers deciding at once one
        wins, the other is told the ticket was decided.  A reviewer never
        decides on his own ticket, a rejection needs a comment and so does
        the approval of a recording whose automatic checks failed.
        """
        pool = Pool()
        Review = pool.get('dualrec.review')
        AuditLog = pool.get('dualrec.audit.log')
        User = pool.get('res.user')
        if decision not in {'approve', 'reject'}:
            raise ValueError(decision)
        if not User.holds_group(REVIEWER_GROUP):
            raise AccessError(gettext('dualrec_review.msg_review_denied'))
        comment = (comment or '').strip() or None
        if Transaction().user:
            # buttons and wizards run without the record rules, and reading
            # an instance's fields never applies them: check them here
            with check_access():
                cls.read([t.id for t in tickets], ['state'])
        cls.lock(tickets)
        user = Transaction().user
        # read again under the lock: a concurrent decision is seen now
        tickets = cls.browse([t.id for t in tickets])
        for ticket in tickets:
            if ticket.state != 'pending':
                last = ticket.reviews[-1] if ticket.reviews else None
                raise ReviewError(gettext(
                        'dualrec_review.msg_review_already_decided',
                        ticket=ticket.rec_name,
                        reviewer=last.reviewer.rec_name if last else '-'))
            if ticket.salesperson.id == user:
                raise ReviewError(gettext('dualrec_review.msg_review_own',
                        ticket=ticket.rec_name))
            if decision == 'reject' and not comment:
                raise ReviewError(gettext(
                        'dualrec_review.msg_review_reject_comment',
                        ticket=ticket.rec_name))
            if (decision == 'approve' and ticket.check_result == 'fail'
                    and not comment):
                raise ReviewError(gettext(
                        'dualrec_review.msg_review_failed_checks_comment',
                        ticket=ticket.rec_name))
        now = dt.datetime.now()
        with without_check_access():
            Review.create([{
                        'ticket': t.id,
                        'recording': t.recording.id if t.recording else None,
                        'reviewer': user or None,
                        'decision': decision,
                        'comment': comment,
                        'check_result': t.check_result,
                        'decided_at': now,
                        'pending_since': t.pending_since,
                        } for t in tickets])
            values = {'reviewer': user or None, 'reviewed_at': now}
            if decision == 'approve':
                values['completed_on'] = Pool().get('ir.date').today()
                values['rectification'] = False
                cls.write(tickets, values)
                cls.approve(tickets, comment)
            else:
                cls.write(tickets, values)
                cls.reject(tickets, comment)
        AuditLog.log(decision, tickets, details=comment)

    @classmethod
    def rectify(cls, tickets, comment):
        "Send completed tickets back to be recorded again (failed QC)."
        with without_check_access():
            cls.write(tickets, {'rectification': True})
            cls.reject([t for t in tickets if t.state == 'approved'],
                comment)
