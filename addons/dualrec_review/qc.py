# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Quality inspection (质检): rules, reproducible samples and QC tasks."""
import datetime as dt
import json


from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Unique, Workflow, fields)
from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.transaction import (
    Transaction, check_access, without_check_access)

from dualrec.qc import sampling
from .exceptions import QCError, QCRuleError

PERIODS = [
    ('daily', "Daily"),
    ('weekly', "Weekly"),
    ('monthly', "Monthly"),
    ]
QC_GROUP = 'group_dualrec_qc'


class Rule(DeactivableMixin, ModelSQL, ModelView):
    __string__ = "QC Rule"
    __name__ = 'dualrec.qc.rule'

    name = fields.Char("Name", required=True, translate=True,
        help="What the rule samples, e.g. \"Bank life products 10 %\".")
    company = fields.Many2One('company.company', "Company", required=True,
        help="The company whose tickets are sampled.")
    branch = fields.Many2One('dualrec.branch', "Branch",
        domain=[('company', '=', Eval('company', -1))],
        help="Sample only the tickets of this branch and its sub-branches; "
        "empty for the whole company.")
    product_type = fields.Many2One('dualrec.product.type', "Product Type",
        help="Sample only the tickets of products of this type.")
    product = fields.Many2One('dualrec.product', "Product",
        domain=[If(Eval('product_type'),
                ('type_', '=', Eval('product_type', -1)), ())],
        help="Sample only the tickets of this product.")
    min_applicant_age = fields.Integer("Minimum Applicant Age",
        domain=[If(Eval('min_applicant_age'),
                ('min_applicant_age', '>', 0), ())],
        help="Sample only applicants of this age or older (e.g. 60).")
    ratio = fields.Numeric("Ratio", digits=(1, 4), required=True,
        domain=[('ratio', '>', 0), ('ratio', '<=', 1)],
        help="The share of the completed tickets inspected: 0.1 for 10 %, "
        "1 for every ticket of a high-risk product.")
    period = fields.Selection(PERIODS, "Period", required=True, sort=False,
        help="How often the completed tickets are sampled.")
    cooling_off_days = fields.Integer("Cooling-off Days", required=True,
        domain=[('cooling_off_days', '>=', 0)],
        help="Days after completion within which a sampled ticket must be "
        "inspected (犹豫期).")
    samples = fields.One2Many('dualrec.qc.sample', 'rule', "Samples",
        readonly=True, help="The draws of the rule.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'sample': {},
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_period():
        return 'monthly'

    @classmethod
    def default_cooling_off_days(cls):
        Configuration = Pool().get('dualrec.configuration')
        return Configuration(1).cooling_off_days

    @classmethod
    def validate_fields(cls, rules, field_names):
        super().validate_fields(rules, field_names)
        for rule in rules:
            if (rule.product and rule.product_type
                    and rule.product.type_ != rule.product_type):
                raise QCRuleError(gettext(
                        'dualrec_review.msg_qc_rule_product_type',
                        rule=rule.rec_name))

    def _population_domain(self, first, last):
        "The completed tickets the rule samples between first and last."
        domain = [
            ('company', '=', self.company.id),
            ('completed_on', '>=', first),
            ('completed_on', '<=', last),
            ]
        if self.branch:
            domain.append(('branch', 'child_of', [self.branch.id], 'parent'))
        if self.product:
            domain.append(('product', '=', self.product.id))
        if self.product_type:
            domain.append(('product.type_', '=', self.product_type.id))
        if self.min_applicant_age:
            domain.append(('applicant_age', '>=', self.min_applicant_age))
        return domain

    @classmethod
    @ModelView.button
    def sample(cls, rules, today=None):
        "Draw the sample of the current period so far (topped up later)."
        for rule in rules:
            rule.draw(*sampling.period_bounds(rule.period,
                    today or rule.company.business_today()))

    @classmethod
    def sample_all(cls, today=None):
        """Draw every active rule's sample of its last complete period and
        top up the current one (the scheduled job)."""
        with without_check_access():
            for rule in cls.search([]):
                day = today or rule.company.business_today()
                rule.draw(*sampling.previous_period(rule.period, day))
                rule.draw(*sampling.period_bounds(rule.period, day))

    def draw(self, first, last):
        """Sample the period first..last: exactly ceil(ratio × completed
        tickets) over the period, never a ticket twice for the rule.

        A period drawn before it ended is topped up: the new draw takes the
        tickets not yet sampled and as many as the grown population needs.
        Returns the new dualrec.qc.sample or None when nothing is due.
        """
        pool = Pool()
        Ticket = pool.get('dualrec.ticket')
        Sample = pool.get('dualrec.qc.sample')
        Task = pool.get('dualrec.qc.task')
        AuditLog = pool.get('dualrec.audit.log')
        self.__class__.lock([self])
        with without_check_access():
            tickets = Ticket.search(self._population_domain(first, last))
            sampled = {t.ticket.id for t in Task.search([
                        ('rule', '=', self.id),
                        ('ticket', 'in', [t.id for t in tickets]),
                        ])}
            due = sampling.sample_size(self.ratio, len(tickets)) - len(sampled)
            if due <= 0:
                return None
            candidates = [t.id for t in tickets if t.id not in sampled]
            seed = sampling.new_seed()
            chosen = sampling.draw(seed, candidates, due)
            user = Transaction().user or None
            sample, = Sample.create([{
                        'rule': self.id,
                        'period_start': first,
                        'period_end': last,
                        'seed': seed,
                        'ratio': self.ratio,
                        'period_population': len(tickets),
                        'already_sampled': len(sampled),
                        'population': json.dumps(sorted(candidates)),
                        'size': due,
                        'drawn_at': dt.datetime.now(),
                        'drawn_by': user,
                        }])
            Task.create_for(sample, Ticket.browse(chosen))
        AuditLog.log('qc_sample', [sample], details=json.dumps({
                    'seed': seed, 'size': due,
                    'population': len(candidates)}))
        return sample


class Sample(ModelSQL, ModelView):
    __string__ = "QC Sample"
    __name__ = 'dualrec.qc.sample'

    rule = fields.Many2One('dualrec.qc.rule', "Rule", required=True,
        readonly=True, ondelete='RESTRICT', help="The rule drawn.")
    period_start = fields.Date("Period Start", required=True, readonly=True,
        help="The first day of the sampled period.")
    period_end = fields.Date("Period End", required=True, readonly=True,
        help="The last day of the sampled period.")
    seed = fields.Char("Seed", required=True, readonly=True,
        help="The random seed of the draw; with the population it replays "
        "the draw.")
    ratio = fields.Numeric("Ratio", digits=(1, 4), readonly=True,
        help="The rule's ratio at the draw.")
    period_population = fields.Integer("Completed Tickets", readonly=True,
        help="The completed tickets of the period at the draw.")
    already_sampled = fields.Integer("Already Sampled", readonly=True,
        help="Tickets of the period sampled by earlier draws.")
    population = fields.Text("Population", readonly=True,
        help="The ids of the tickets drawn from (JSON).")
    size = fields.Integer("Size", readonly=True,
        help="How many tickets were drawn.")
    drawn_at = fields.Timestamp("Drawn At", readonly=True,
        help="When the draw was made.")
    drawn_by = fields.Many2One('res.user', "Drawn By", readonly=True,
        help="Who made the draw; empty for the scheduled job.")
    tasks = fields.One2Many('dualrec.qc.task', 'sample', "Tasks",
        readonly=True, help="The QC tasks of the drawn tickets.")
    reproduced = fields.Function(fields.Boolean("Draw Reproduced",
            help="Drawing again from the stored seed and population gives "
            "the same tickets."), 'get_reproduced')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('drawn_at', 'DESC'), ('id', 'DESC')]

    def get_rec_name(self, name):
        return f'{self.rule.rec_name} {self.period_start}'

    def replay(self):
        "Return the ticket ids the stored seed and population draw."
        return sampling.draw(self.seed, json.loads(self.population or '[]'),
            self.size)

    def get_reproduced(self, name):
        return self.replay() == sorted(t.ticket.id for t in self.tasks)

    @classmethod
    def check_modification(cls, mode, samples, values=None, external=False):
        super().check_modification(
            mode, samples, values=values, external=external)
        if mode in {'write', 'delete'}:
            raise AccessError(gettext('dualrec_review.msg_qc_sample_immutable'))


TASK_STATES = [
    ('open', "To Inspect"),
    ('passed', "Passed"),
    ('failed', "Failed"),
    ]


class Task(Workflow, ModelSQL, ModelView):
    __string__ = "QC Task"
    __name__ = 'dualrec.qc.task'
    _states = {'readonly': Eval('state') != 'open'}

    sample = fields.Many2One('dualrec.qc.sample', "Sample", required=True,
        readonly=True, ondelete='RESTRICT', help="The draw that chose it.")
    rule = fields.Many2One('dualrec.qc.rule', "Rule", required=True,
        readonly=True, ondelete='RESTRICT', help="The rule it serves.")
    ticket = fields.Many2One('dualrec.ticket', "Ticket", required=True,
        readonly=True, ondelete='RESTRICT', help="The ticket to inspect.")
    branch = fields.Many2One('dualrec.branch', "Branch", required=True,
        readonly=True, ondelete='RESTRICT', help="The ticket's branch.")
    product = fields.Many2One('dualrec.product', "Product", readonly=True,
        ondelete='RESTRICT', help="The ticket's product.")
    salesperson = fields.Many2One('res.user', "Salesperson", readonly=True,
        ondelete='RESTRICT', help="Who sold and recorded.")
    recording = fields.Many2One('dualrec.recording', "Recording",
        readonly=True, ondelete='RESTRICT',
        help="The recording version inspected.")
    inspector = fields.Many2One('res.user', "Inspector",
        states=_states, ondelete='RESTRICT',
        help="The QC inspector the task is assigned to.")
    deadline = fields.Date("Deadline", required=True, readonly=True,
        help="The end of the cooling-off period: inspect before it.")
    overdue = fields.Function(fields.Boolean("Overdue",
            help="Still open after its deadline."),
        'get_overdue', searcher='search_overdue')
    lines = fields.One2Many('dualrec.qc.task.line', 'task', "Checklist",
        states=_states, help="One line per script node.")
    check_result = fields.Function(fields.Selection(
            'get_check_results', "Automatic Checks",
            help="The automatic checks of the recording."),
        'get_check_result')
    comment = fields.Text("Comment", states=_states,
        help="The inspector's findings; required to fail.")
    state = fields.Selection(TASK_STATES, "State", required=True,
        readonly=True, sort=False, help="Where the inspection is.")
    inspected_by = fields.Many2One('res.user', "Inspected By", readonly=True,
        ondelete='RESTRICT', help="Who passed or failed it.")
    inspected_at = fields.Timestamp("Inspected At", readonly=True,
        help="When it was passed or failed.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('rule_ticket_unique', Unique(t, t.rule, t.ticket),
                'dualrec_review.msg_qc_task_unique'),
            ]
        cls._order = [('deadline', 'ASC'), ('id', 'ASC')]
        cls._transitions |= {('open', 'passed'), ('open', 'failed')}
        cls._buttons.update({
                'pass_': {
                    'invisible': Eval('state') != 'open',
                    'depends': ['state'],
                    },
                'fail': {
                    'invisible': Eval('state') != 'open',
                    'depends': ['state'],
                    },
                'play': {},
                })

    @staticmethod
    def default_state():
        return 'open'

    def get_rec_name(self, name):
        return self.ticket.rec_name

    @classmethod
    def search_rec_name(cls, name, clause):
        return [('ticket.rec_name',) + tuple(clause[1:])]

    @classmethod
    def get_check_results(cls):
        pool = Pool()
        Check = pool.get('dualrec.recording.check')
        return Check.fields_get(['result'])['result']['selection']

    def get_check_result(self, name):
        return self.recording.check_result if self.recording else None

    def get_overdue(self, name):
        return (self.state == 'open'
            and self.deadline < self.rule.company.business_today())

    @classmethod
    def search_overdue(cls, name, clause):
        _, operator, value = clause
        today = Pool().get('ir.date').today()
        overdue = [('state', '=', 'open'), ('deadline', '<', today)]
        if (operator == '=') == bool(value):
            return overdue
        return ['OR', ('state', '!=', 'open'),
            ('deadline', '>=', today)]

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('/tree', 'visual', If(Eval('overdue'), 'danger', '')),
            ]

    @classmethod
    def create_for(cls, sample, tickets):
        "Create the tasks of tickets drawn by sample, with their checklists."
        rule = sample.rule
        inspectors = cls._inspectors(tickets)
        vlist = []
        for ticket in tickets:
            script = ticket.script or ticket.product.current_script
            vlist.append({
                    'sample': sample.id,
                    'rule': rule.id,
                    'ticket': ticket.id,
                    'branch': ticket.branch.id,
                    'product': ticket.product.id if ticket.product else None,
                    'salesperson': ticket.salesperson.id,
                    'recording': (ticket.recording.id
                        if ticket.recording else None),
                    'inspector': inspectors.get(ticket.id),
                    'deadline': sampling.deadline(ticket.completed_on,
                        rule.cooling_off_days),
                    'lines': [('create', [{
                                    'sequence': index,
                                    'node': node.id,
                                    } for index, node in enumerate(
                                    script.nodes if script else [])])],
                    })
        return cls.create(vlist)

    @classmethod
    def _inspectors(cls, tickets):
        """Assign each ticket to the QC inspector of its scope (his branch
        is the ticket's or above it) with the fewest open tasks."""
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        group = ModelData.get_id('dualrec_core', QC_GROUP)
        users = User.search([('groups', '=', group), ('branch', '!=', None)])
        load = {u.id: cls.search_count([
                    ('inspector', '=', u.id), ('state', '=', 'open')])
            for u in users}
        result = {}
        for ticket in tickets:
            ancestors = set()
            branch = ticket.branch
            while branch:
                ancestors.add(branch.id)
                branch = branch.parent
            scope = [u for u in users if u.branch.id in ancestors
                and u.id != ticket.salesperson.id]
            if scope:
                chosen = min(scope, key=lambda u: (load[u.id], u.id))
                load[chosen.id] += 1
                result[ticket.id] = chosen.id
        return result

    @classmethod
    def _check_inspector(cls, tasks):
        """Only an inspector of the task's scope, the assigned one if any,
        never on his own ticket.  Buttons run without the record rules:
        they are checked here."""
        user = Transaction().user
        if not user:
            return
        with check_access():
            cls.read([t.id for t in tasks], ['state'])
        for task in tasks:
            if task.inspector and task.inspector.id != user:
                raise QCError(gettext('dualrec_review.msg_qc_not_inspector',
                        task=task.rec_name,
                        inspector=task.inspector.rec_name))
            if task.salesperson and task.salesperson.id == user:
                raise QCError(gettext('dualrec_review.msg_qc_own',
                        task=task.rec_name))

    @classmethod
    def _check_checklist(cls, tasks, passing):
        for task in tasks:
            if any(not line.status for line in task.lines):
                raise QCError(gettext(
                        'dualrec_review.msg_qc_checklist_incomplete',
                        task=task.rec_name))
            if passing and any(line.status == 'missing' for line in task.lines):
                raise QCError(gettext(
                        'dualrec_review.msg_qc_pass_missing',
                        task=task.rec_name))
            if not passing and not (task.comment or '').strip():
                raise QCError(gettext(
                        'dualrec_review.msg_qc_fail_comment',
                        task=task.rec_name))

    @classmethod
    def _inspected(cls, tasks):
        user = Transaction().user or None
        with without_check_access():
            cls.write(tasks, {
                    'inspected_by': user,
                    'inspected_at': dt.datetime.now(),
                    'inspector': user,
                    })

    @classmethod
    @ModelView.button
    @Workflow.transition('passed')
    def pass_(cls, tasks):
        "Pass the inspection: every node present or at least clear."
        cls._check_inspector(tasks)
        cls._check_checklist(tasks, passing=True)
        cls._inspected(tasks)
        Pool().get('dualrec.audit.log').log('qc_pass', tasks)

    @classmethod
    @ModelView.button
    @Workflow.transition('failed')
    def fail(cls, tasks):
        """Fail the inspection: the ticket must be rectified (recorded
        again); its salesperson and reviewer are told."""
        pool = Pool()
        Ticket = pool.get('dualrec.ticket')
        AuditLog = pool.get('dualrec.audit.log')
        cls._check_inspector(tasks)
        cls._check_checklist(tasks, passing=False)
        cls._inspected(tasks)
        for task in tasks:
            Ticket.rectify([task.ticket], gettext(
                    'dualrec_review.msg_qc_rectify', comment=task.comment))
        cls._notify(tasks)
        AuditLog.log('qc_fail', tasks, details='\n'.join(
                t.comment for t in tasks))

    @classmethod
    def _notify(cls, tasks):
        Notification = Pool().get('res.notification')
        vlist = []
        for task in tasks:
            users = {task.ticket.salesperson.id}
            if task.ticket.reviewer:
                users.add(task.ticket.reviewer.id)
            for user in users:
                vlist.append({
                        'user': user,
                        'label': gettext('dualrec_review.msg_qc_failed_notice',
                            ticket=task.ticket.rec_name),
                        'description': task.comment,
                        'icon': 'tryton-warning',
                        'model': 'dualrec.ticket',
                        'records': json.dumps([task.ticket.id]),
                        })
        with without_check_access():
            Notification.create(vlist)

    @classmethod
    @ModelView.button
    def play(cls, tasks):
        "Watch the inspected recording beside its node timeline."
        Recording = Pool().get('dualrec.recording')
        recordings = [t.recording for t in tasks if t.recording]
        if recordings:
            return Recording.review_play(recordings[:1])

    @classmethod
    def check_modification(cls, mode, tasks, values=None, external=False):
        super().check_modification(
            mode, tasks, values=values, external=external)
        # the draw creates the tasks and the buttons close them: a user's
        # RPC call writes only the inspector and the comment of open ones
        Guard = Pool().get('dualrec.guard')
        Guard.check_modification(cls, mode, values, external)
        if mode == 'write' and external:
            for task in tasks:
                if task.state != 'open':
                    raise AccessError(gettext(
                            'dualrec_review.msg_qc_task_closed',
                            task=task.rec_name))
        if mode == 'delete':
            raise AccessError(gettext('dualrec_review.msg_qc_task_delete'))


LINE_STATUSES = [
    (None, ""),
    ('present', "Present"),
    ('missing', "Missing"),
    ('unclear', "Unclear"),
    ]


class TaskLine(ModelSQL, ModelView):
    __string__ = "QC Checklist Line"
    __name__ = 'dualrec.qc.task.line'

    task = fields.Many2One('dualrec.qc.task', "Task", required=True,
        ondelete='CASCADE', readonly=True, help="The inspection.")
    sequence = fields.Integer("Sequence", readonly=True,
        help="The node's place in the script.")
    node = fields.Many2One('dualrec.script.node', "Node", readonly=True,
        ondelete='RESTRICT', help="The script node inspected.")
    kind = fields.Function(fields.Selection('get_kinds', "Kind",
            help="What the node records."), 'on_change_with_kind')
    status = fields.Selection(LINE_STATUSES, "Status", sort=False,
        states={'readonly': Eval('task_state') != 'open'},
        help="Whether the node's content is in the recording.")
    note = fields.Char("Note",
        states={'readonly': Eval('task_state') != 'open'},
        help="What is missing or unclear.")
    task_state = fields.Function(fields.Selection(TASK_STATES, "Task State",
            help="The state of the inspection."),
        'on_change_with_task_state')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('task', 'ASC'), ('sequence', 'ASC'), ('id', 'ASC')]

    @classmethod
    def get_kinds(cls):
        Node = Pool().get('dualrec.script.node')
        return Node.fields_get(['kind'])['kind']['selection']

    @fields.depends('node')
    def on_change_with_kind(self, name=None):
        return self.node.kind if self.node else None

    @fields.depends('task', '_parent_task.state')
    def on_change_with_task_state(self, name=None):
        return self.task.state if self.task else None

    def get_rec_name(self, name):
        return self.node.rec_name if self.node else str(self.sequence)

    @classmethod
    def check_modification(cls, mode, lines, values=None, external=False):
        super().check_modification(
            mode, lines, values=values, external=external)
        if mode in {'create', 'delete'} and external:
            raise AccessError(gettext('dualrec_review.msg_qc_line_fixed'))
        if mode == 'write' and external:
            Guard = Pool().get('dualrec.guard')
            Guard.check_write(cls, values, Guard.system_fields(cls))
        if mode == 'write':
            for line in lines:
                if line.task.state != 'open':
                    raise AccessError(gettext(
                            'dualrec_review.msg_qc_task_closed',
                            task=line.task.rec_name))
