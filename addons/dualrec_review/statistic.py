# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Dashboard figures: pending reviews and their age, rejection rates, QC
pass rates; SQL views read through the same record rules as their rows."""
import datetime as dt
from collections import defaultdict

from sql import Literal, Null
from sql.aggregate import Count, Min, Sum
from sql.conditionals import Case

from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.transaction import Transaction



def _ratio(part, whole):
    return round(part / whole, 4) if whole else None


def _audit_columns(table):
    return [
        Literal(0).as_('create_uid'),
        Min(table.create_date).as_('create_date'),
        Literal(Null).as_('write_uid'),
        Literal(Null).as_('write_date'),
        ]


class ReviewStatistic(ModelSQL, ModelView):
    __string__ = "Review Figures"
    __name__ = 'dualrec.review.statistic'

    company = fields.Many2One('company.company', "Company", readonly=True,
        help="The company of the tickets.")
    branch = fields.Many2One('dualrec.branch', "Branch", readonly=True,
        help="The branch of the tickets.")
    product = fields.Many2One('dualrec.product', "Product", readonly=True,
        help="The product of the tickets.")
    tickets = fields.Integer("Tickets", readonly=True,
        help="Tickets of the branch and product.")
    pending = fields.Integer("Pending", readonly=True,
        help="Tickets waiting for review.")
    oldest_pending = fields.Timestamp("Oldest Pending Since", readonly=True,
        help="When the longest-waiting ticket was submitted.")
    pending_age = fields.Function(fields.Float("Average Pending Age",
            digits=(16, 1), help="Average days the pending tickets have "
            "waited."), 'get_figures')
    approved = fields.Integer("Approvals", readonly=True,
        help="Approval decisions.")
    rejected = fields.Integer("Rejections", readonly=True,
        help="Rejection decisions.")
    rejection_rate = fields.Function(fields.Float("Rejection Rate",
            digits=(16, 4), help="Rejections among the decisions."),
        'get_figures')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('branch', 'ASC'), ('product', 'ASC'), ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Ticket = pool.get('dualrec.ticket')
        Review = pool.get('dualrec.review')
        ticket = Ticket.__table__()
        review = Review.__table__()
        decisions = review.select(review.ticket,
            Sum(Case((review.decision == 'approve', 1), else_=0)).as_(
                'approved'),
            Sum(Case((review.decision == 'reject', 1), else_=0)).as_(
                'rejected'),
            group_by=[review.ticket])
        query = ticket.join(decisions, 'LEFT',
            condition=decisions.ticket == ticket.id)
        pending = ticket.state == 'pending'
        return query.select(
            Min(ticket.id).as_('id'),
            *_audit_columns(ticket),
            ticket.company.as_('company'),
            ticket.branch.as_('branch'),
            ticket.product.as_('product'),
            Count(ticket.id).as_('tickets'),
            Sum(Case((pending, 1), else_=0)).as_('pending'),
            Min(Case((pending, ticket.pending_since), else_=Null)).as_(
                'oldest_pending'),
            Sum(Case((decisions.approved != Null, decisions.approved),
                    else_=0)).as_('approved'),
            Sum(Case((decisions.rejected != Null, decisions.rejected),
                    else_=0)).as_('rejected'),
            group_by=[ticket.company, ticket.branch, ticket.product])

    @classmethod
    def get_figures(cls, statistics, names):
        result = {name: {} for name in names}
        if 'pending_age' in names:
            ages = cls._pending_ages(statistics)
        for statistic in statistics:
            if 'rejection_rate' in names:
                result['rejection_rate'][statistic.id] = _ratio(
                    statistic.rejected or 0,
                    (statistic.rejected or 0) + (statistic.approved or 0))
            if 'pending_age' in names:
                days = ages.get(
                    (statistic.branch.id, statistic.product.id))
                result['pending_age'][statistic.id] = (
                    round(sum(days) / len(days), 1) if days else None)
        return result

    @classmethod
    def _pending_ages(cls, statistics):
        """Return {(branch id, product id): [days waited]} of the pending
        tickets of statistics, in one search (the record rules apply)."""
        Ticket = Pool().get('dualrec.ticket')
        now = dt.datetime.now()
        keys = {(s.branch.id, s.product.id) for s in statistics}
        ages = defaultdict(list)
        for ticket in Ticket.search([
                    ('branch', 'in', list({b for b, _ in keys})),
                    ('product', 'in', list({p for _, p in keys})),
                    ('state', '=', 'pending'),
                    ('pending_since', '!=', None),
                    ]):
            key = (ticket.branch.id, ticket.product.id)
            if key in keys:
                ages[key].append(
                    (now - ticket.pending_since).total_seconds() / 86400)
        return ages


class QCStatistic(ModelSQL, ModelView):
    __string__ = "QC Figures"
    __name__ = 'dualrec.qc.statistic'

    rule = fields.Many2One('dualrec.qc.rule', "Rule", readonly=True,
        help="The QC rule.")
    branch = fields.Many2One('dualrec.branch', "Branch", readonly=True,
        help="The branch of the inspected tickets.")
    tasks = fields.Integer("Tasks", readonly=True, help="Sampled tickets.")
    open = fields.Integer("To Inspect", readonly=True,
        help="Tasks not inspected yet.")
    overdue = fields.Integer("Overdue", readonly=True,
        help="Open tasks past their deadline.")
    passed = fields.Integer("Passed", readonly=True, help="Passed tasks.")
    failed = fields.Integer("Failed", readonly=True, help="Failed tasks.")
    pass_rate = fields.Function(fields.Float("Pass Rate", digits=(16, 4),
            help="Passed among the inspected tasks."), 'get_pass_rate')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('rule', 'ASC'), ('branch', 'ASC'), ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        Task = Pool().get('dualrec.qc.task')
        task = Task.__table__()
        Date = Pool().get('ir.date')
        today = Transaction().context.get('date') or Date.today()
        is_open = task.state == 'open'
        return task.select(
            Min(task.id).as_('id'),
            *_audit_columns(task),
            task.rule.as_('rule'),
            task.branch.as_('branch'),
            Count(task.id).as_('tasks'),
            Sum(Case((is_open, 1), else_=0)).as_('open'),
            Sum(Case((is_open & (task.deadline < today), 1), else_=0)).as_(
                'overdue'),
            Sum(Case((task.state == 'passed', 1), else_=0)).as_('passed'),
            Sum(Case((task.state == 'failed', 1), else_=0)).as_('failed'),
            group_by=[task.rule, task.branch])

    def get_pass_rate(self, name):
        return _ratio(self.passed or 0, (self.passed or 0) + (self.failed or 0))

