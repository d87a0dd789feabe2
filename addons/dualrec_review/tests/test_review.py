# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import atexit
import datetime as dt
import json
import os
import shutil
import tempfile
import threading
import time
from decimal import Decimal

from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import create_company, set_company
from trytond.modules.dualrec_core.tests.tools import (
    as_user, create_branches, create_product, create_user, script_timeline,
    submit_ticket, upload_recording, valid_resident_id)
from dualrec import testing
from trytond.modules.dualrec_review.exceptions import QCError, ReviewError
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, _DBTestCase, with_transaction
from trytond.transaction import Transaction


class ReviewFixtures:
    "Users of two provinces, a product with a three-node script, tickets"

    def _setup(self):
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        Configuration = pool.get('dualrec.configuration')
        # a storage of its own: every test database numbers its records
        # from 1 again, so its files would land on those of earlier tests
        storage = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, storage, ignore_errors=True)
        Configuration.write([Configuration(1)], {'storage_path': storage})
        company = create_company()
        branches = create_branches(company)
        users = {
            'sales': create_user('sales', company, 'group_dualrec_sales',
                branches['P1-C1-O1'], 'S1'),
            'sales_p2': create_user('sales_p2', company,
                'group_dualrec_sales', branches['P2-O1'], 'S2'),
            'reviewer': create_user('reviewer', company,
                'group_dualrec_reviewer', branches['P1-C1'], 'R1'),
            'reviewer2': create_user('reviewer2', company,
                'group_dualrec_reviewer', branches['P1'], 'R2'),
            'reviewer_p2': create_user('reviewer_p2', company,
                'group_dualrec_reviewer', branches['P2'], 'R3'),
            'qc': create_user('qc', company, 'group_dualrec_qc',
                branches['P1'], 'Q1'),
            'qc_p2': create_user('qc_p2', company, 'group_dualrec_qc',
                branches['P2'], 'Q2'),
            'manager': create_user('manager', company,
                'group_dualrec_manager', branches['P1'], 'M1'),
            'admin': create_user('sysadmin', company, 'group_dualrec_admin',
                None, 'A1'),
            }
        # a reviewer who also sells
        both = users['reviewer']
        User.write([both], {'groups': [('add', [
                            ModelData.get_id('dualrec_core',
                                'group_dualrec_sales')])]})
        # one-second nodes: the 4-second test recording passes the checks
        product = create_product(company, script_nodes=3, min_seconds=1)
        self._users = users
        return company, branches, users, product

    _clips = {}

    @classmethod
    def _clip(cls, faces=2):
        "A 4-second recording with faces faces, made once per test run"
        if faces not in cls._clips:
            directory = tempfile.mkdtemp()
            atexit.register(shutil.rmtree, directory, True)
            cls._clips[faces] = testing.generate_recording(
                os.path.join(directory, f'faces{faces}.mp4'), 4, 320, 240,
                fps=10, faces=faces)
        return cls._clips[faces]

    def _reviewer_of(self, ticket):
        "A reviewer whose scope holds the ticket, not its salesperson"
        ancestors = set()
        branch = ticket.branch
        while branch:
            ancestors.add(branch.id)
            branch = branch.parent
        for login in ['reviewer2', 'reviewer_p2', 'reviewer']:
            user = self._users[login]
            if (user.branch.id in ancestors
                    and user != ticket.salesperson):
                return user

    def _ticket(self, user, product, state='pending', age=None,
            completed_on=None, faces=2):
        """A ticket of user brought to state through the workflow: recorded
        by an upload the pipeline processes (its automatic checks fail with
        one face), submitted, then approved or rejected by a reviewer"""
        pool = Pool()
        Ticket = pool.get('dualrec.ticket')
        values = {
            'task_number': 'T-1', 'product': product.id,
            'policyholder_name': "张三",
            'id_type': 'resident_id',
            'id_number': valid_resident_id(),
            }
        if age is not None:
            values['applicant_age'] = age
        with as_user(user):
            ticket, = Ticket.create([values])
        if state == 'draft':
            return Ticket(ticket.id)
        recording = upload_recording(ticket, user, self._clip(faces))
        self.assertEqual(recording.status, 'ready', recording.error)
        if state == 'recorded':
            return Ticket(ticket.id)
        ticket = submit_ticket(ticket, user)
        if state in {'approved', 'rejected'}:
            with as_user(self._reviewer_of(ticket)):
                Ticket.decide([Ticket(ticket.id)],
                    'approve' if state == 'approved' else 'reject',
                    "Checked" if state == 'approved' else "Record again")
            if state == 'approved' and completed_on is not None:
                # completed that day: only the date is moved back
                Ticket.write([ticket], {'completed_on': completed_on})
        ticket = Ticket(ticket.id)
        self.assertEqual(ticket.state, state)
        return ticket


class ReviewTestCase(ReviewFixtures, _DBTestCase):
    "Test the review of tickets"
    module = 'dualrec_review'

    @with_transaction()
    def test_approve_completes_and_is_audited(self):
        "An approval completes the ticket, is kept and audited"
        pool = Pool()
        Ticket = pool.get('dualrec.ticket')
        AuditLog = pool.get('dualrec.audit.log')
        company, branches, users, product = self._setup()
        with set_company(company):
            ticket = self._ticket(users['sales'], product)
            with as_user(users['reviewer2']):
                Ticket.decide([Ticket(ticket.id)], 'approve', "  ")
        ticket = Ticket(ticket.id)
        self.assertEqual(ticket.state, 'approved')
        self.assertEqual(ticket.completed_on, dt.date.today())
        self.assertEqual(ticket.reviewer, users['reviewer2'])
        review, = ticket.reviews
        self.assertEqual(review.decision, 'approve')
        self.assertEqual(review.recording, ticket.recording)
        self.assertIsNone(review.comment)
        self.assertEqual(AuditLog.search_count([('action', '=', 'approve'),
                    ('record_id', '=', ticket.id)]), 1)

    @with_transaction()
    def test_reject_needs_comment_shown_to_salesperson(self):
        "A rejection needs a comment, which the salesperson reads"
        Ticket = Pool().get('dualrec.ticket')
        company, branches, users, product = self._setup()
        with set_company(company):
            ticket = self._ticket(users['sales'], product)
            with as_user(users['reviewer2']):
                with self.assertRaises(ReviewError):
                    Ticket.decide([Ticket(ticket.id)], 'reject', ' ')
                self.assertEqual(Ticket(ticket.id).state, 'pending')
                Ticket.decide([Ticket(ticket.id)], 'reject',
                    "Customer not in frame")
            with as_user(users['sales']):
                mine = Ticket(ticket.id)
                self.assertEqual(mine.state, 'rejected')
                self.assertEqual(mine.review_comment, "Customer not in frame")
                self.assertEqual(mine.reviews[0].decision, 'reject')

    @with_transaction()
    def test_second_decision_refused(self):
        "A decided ticket cannot be decided again"
        Ticket = Pool().get('dualrec.ticket')
        company, branches, users, product = self._setup()
        with set_company(company):
            ticket = self._ticket(users['sales'], product)
            with as_user(users['reviewer2']):
                Ticket.decide([Ticket(ticket.id)], 'approve')
            with as_user(users['reviewer']):
                with self.assertRaises(ReviewError) as cm:
                    Ticket.decide([Ticket(ticket.id)], 'reject', "late")
        self.assertIn(users['reviewer2'].rec_name, cm.exception.message)
        self.assertEqual(len(Ticket(ticket.id).reviews), 1)

    @with_transaction()
    def test_own_ticket_not_reviewed(self):
        "A reviewer cannot review a ticket he sold"
        Ticket = Pool().get('dualrec.ticket')
        company, branches, users, product = self._setup()
        with set_company(company):
            ticket = self._ticket(users['reviewer'], product)
            with as_user(users['reviewer']):
                with self.assertRaises(ReviewError):
                    Ticket.decide([Ticket(ticket.id)], 'approve')
        self.assertEqual(Ticket(ticket.id).state, 'pending')

    @with_transaction()
    def test_failed_checks_need_comment_to_approve(self):
        "A failed automatic check is approved only with a comment"
        Ticket = Pool().get('dualrec.ticket')
        company, branches, users, product = self._setup()
        with set_company(company):
            # one face in the picture: the pipeline's 'faces' check fails
            ticket = self._ticket(users['sales'], product, faces=1)
            with as_user(users['reviewer2']):
                self.assertEqual(Ticket(ticket.id).check_result, 'fail')
                with self.assertRaises(ReviewError):
                    Ticket.decide([Ticket(ticket.id)], 'approve')
                Ticket.decide([Ticket(ticket.id)], 'approve',
                    "Customer's face hidden by the light; checked by phone")
        review, = Ticket(ticket.id).reviews
        self.assertEqual(review.check_result, 'fail')

    @with_transaction()
    def test_salesperson_cannot_decide(self):
        "Only reviewers approve or reject"
        Ticket = Pool().get('dualrec.ticket')
        company, branches, users, product = self._setup()
        with set_company(company):
            ticket = self._ticket(users['sales_p2'], product)
            for role in ['sales', 'qc', 'manager']:
                with self.subTest(role=role), as_user(users[role]):
                    with self.assertRaises(AccessError):
                        Ticket.decide([Ticket(ticket.id)], 'approve')
        self.assertEqual(Ticket(ticket.id).state, 'pending')

    @with_transaction()
    def test_reviewer_limited_to_branch_scope(self):
        "A reviewer sees and decides only his branch's tickets"
        Ticket = Pool().get('dualrec.ticket')
        company, branches, users, product = self._setup()
        with set_company(company):
            ticket = self._ticket(users['sales'], product)
            with as_user(users['reviewer_p2']):
                self.assertEqual(
                    Ticket.search([('state', '=', 'pending')]), [])
                with self.assertRaises(AccessError):
                    Ticket.decide([Ticket(ticket.id)], 'approve')
            with as_user(users['reviewer2']):
                self.assertEqual(
                    Ticket.search([('state', '=', 'pending')]), [ticket])
        self.assertEqual(Ticket(ticket.id).state, 'pending')

    @with_transaction()
    def test_review_wizard(self):
        "The wizard shows the checks and approves or rejects"
        pool = Pool()
        Ticket = pool.get('dualrec.ticket')
        Wizard = pool.get('dualrec.ticket.review', type='wizard')
        company, branches, users, product = self._setup()
        with set_company(company):
            ticket = self._ticket(users['sales'], product, faces=1)
            with as_user(users['reviewer2']):
                with Transaction().set_context(active_model='dualrec.ticket',
                        active_id=ticket.id, active_ids=[ticket.id]):
                    session_id, _, _ = Wizard.create()
                    wizard = Wizard(session_id)
                    defaults = wizard.default_start(None)
                    self.assertEqual(defaults['check_result'], 'fail')
                    self.assertEqual(defaults['checks'],
                        [c.id for c in Ticket(ticket.id).recording.checks])
                    failed, = [c for c in Pool().get(
                            'dualrec.recording.check').browse(
                            defaults['checks']) if c.result == 'fail']
                    self.assertEqual(failed.code, 'faces')
                    wizard.start.comment = "Too dark"
                    wizard.transition_reject()
        self.assertEqual(Ticket(ticket.id).state, 'rejected')

    @with_transaction()
    def test_decisions_immutable(self):
        "Review decisions cannot be changed or deleted"
        pool = Pool()
        Ticket = pool.get('dualrec.ticket')
        Review = pool.get('dualrec.review')
        company, branches, users, product = self._setup()
        with set_company(company):
            ticket = self._ticket(users['sales'], product)
            with as_user(users['reviewer2']):
                Ticket.decide([Ticket(ticket.id)], 'approve')
        review, = Review.search([])
        with self.assertRaises(AccessError):
            Review.write([review], {'decision': 'reject'})
        with self.assertRaises(AccessError):
            Review.delete([review])

    @with_transaction()
    def test_review_figures(self):
        "Pending count and rejection rate per branch and product"
        pool = Pool()
        Ticket = pool.get('dualrec.ticket')
        Statistic = pool.get('dualrec.review.statistic')
        company, branches, users, product = self._setup()
        with set_company(company):
            tickets = [self._ticket(users['sales'], product)
                for _ in range(4)]
            with as_user(users['reviewer2']):
                Ticket.decide(tickets[:1], 'approve')
                Ticket.decide(tickets[1:3], 'reject', "No")
            with as_user(users['manager']):
                statistic, = Statistic.search([])
                self.assertEqual(statistic.branch, branches['P1-C1-O1'])
                self.assertEqual(statistic.tickets, 4)
                self.assertEqual(statistic.pending, 1)
                self.assertEqual(statistic.approved, 1)
                self.assertEqual(statistic.rejected, 2)
                self.assertAlmostEqual(statistic.rejection_rate, 0.6667)
                self.assertEqual(statistic.pending_age, 0)
            # the pending ticket has waited 3 days
            Ticket.write([tickets[3]], {'pending_since':
                    dt.datetime.now() - dt.timedelta(days=3)})
            with as_user(users['manager']):
                self.assertEqual(Statistic(statistic.id).pending_age, 3)
            with as_user(users['reviewer_p2']):
                self.assertEqual(Statistic.search([]), [])


class QCTestCase(ReviewFixtures, _DBTestCase):
    "Test QC rules, samples and tasks"
    module = 'dualrec_review'

    def _rule(self, company, product=None, ratio='0.1', **values):
        Rule = Pool().get('dualrec.qc.rule')
        rule, = Rule.create([{
                    'name': "Rule", 'company': company.id,
                    'product': product.id if product else None,
                    'ratio': Decimal(ratio), 'period': 'monthly',
                    **values}])
        return rule

    @with_transaction()
    def test_sample_exact_and_reproducible(self):
        "A draw takes exactly ceil(ratio × completed), replayable, once"
        pool = Pool()
        Sample = pool.get('dualrec.qc.sample')
        company, branches, users, product = self._setup()
        with set_company(company):
            rule = self._rule(company, product, ratio='0.25')
            day = dt.date.today()
            for _ in range(10):
                self._ticket(users['sales'], product, 'approved')
            # not completed: not in the population
            self._ticket(users['sales'], product, 'pending')
            sample = rule.draw(day.replace(day=1), day)
            self.assertEqual(sample.size, 3)
            self.assertEqual(sample.period_population, 10)
            self.assertEqual(len(json.loads(sample.population)), 10)
            self.assertEqual(len(sample.tasks), 3)
            self.assertTrue(Sample(sample.id).reproduced)
            self.assertEqual(sample.replay(),
                sorted(t.ticket.id for t in sample.tasks))
            # nothing new: nothing more to draw
            self.assertIsNone(rule.draw(day.replace(day=1), day))
            # the period grows to 14: ceil(3.5) = 4, one more, never twice
            for _ in range(4):
                self._ticket(users['sales'], product, 'approved')
            top_up = rule.draw(day.replace(day=1), day)
            self.assertEqual(top_up.size, 1)
            self.assertEqual(top_up.already_sampled, 3)
            ticket_ids = [t.ticket.id for s in rule.samples for t in s.tasks]
            self.assertEqual(len(ticket_ids), 4)
            self.assertEqual(len(set(ticket_ids)), 4)
            self.assertNotIn(sample.tasks[0].ticket.id,
                json.loads(top_up.population))

    @with_transaction()
    def test_sample_filters_of_rule(self):
        "Rules sample by product type, branch and applicant age"
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        company, branches, users, product = self._setup()
        other = create_product(company, code='Q', type_='product_type_auto',
            period_class='short', channel='direct', script_nodes=1,
            min_seconds=1)
        with set_company(company):
            day = dt.date.today()
            elderly = self._ticket(users['sales'], product, 'approved',
                age=65)
            self._ticket(users['sales'], product, 'approved', age=40)
            self._ticket(users['sales'], other, 'approved', age=70)
            self._ticket(users['sales_p2'], product, 'approved', age=80)
            high_risk = self._rule(company, ratio='1',
                product_type=ModelData.get_id('dualrec_core',
                    'product_type_life'),
                branch=branches['P1'].id, min_applicant_age=60)
            sample = high_risk.draw(day.replace(day=1), day)
            self.assertEqual([t.ticket for t in sample.tasks], [elderly])

    @with_transaction()
    def test_sample_all_by_cron(self):
        "The scheduled job samples the last period and tops up this one"
        Rule = Pool().get('dualrec.qc.rule')
        company, branches, users, product = self._setup()
        with set_company(company):
            rule = self._rule(company, product, ratio='0.5', period='daily')
            yesterday = dt.date.today() - dt.timedelta(days=1)
            for _ in range(3):
                self._ticket(users['sales'], product, 'approved',
                    completed_on=yesterday)
            self._ticket(users['sales'], product, 'approved')
            Rule.sample_all()
            sizes = sorted((s.period_start, s.size)
                for s in Rule(rule.id).samples)
        self.assertEqual(sizes, [(yesterday, 2), (dt.date.today(), 1)])

    def _task(self, company, users, product, completed_on=None):
        rule = self._rule(company, product, ratio='1')
        ticket = self._ticket(users['sales'], product, 'approved',
            completed_on=completed_on)
        day = ticket.completed_on
        sample = rule.draw(day.replace(day=1), day)
        task, = sample.tasks
        return task

    @with_transaction()
    def test_task_assigned_with_checklist_and_deadline(self):
        "A task goes to a QC inspector of the scope, one line per node"
        company, branches, users, product = self._setup()
        with set_company(company):
            task = self._task(company, users, product)
        self.assertEqual(task.inspector, users['qc'])
        self.assertEqual(len(task.lines), 3)
        self.assertEqual(task.deadline,
            task.ticket.completed_on + dt.timedelta(days=15))
        self.assertEqual(task.state, 'open')
        self.assertFalse(task.overdue)

    @with_transaction()
    def test_overdue_tasks(self):
        "A task open past the cooling-off period is overdue"
        Task = Pool().get('dualrec.qc.task')
        company, branches, users, product = self._setup()
        with set_company(company):
            task = self._task(company, users, product,
                completed_on=dt.date.today() - dt.timedelta(days=16))
        self.assertTrue(Task(task.id).overdue)
        self.assertEqual(Task.search([('overdue', '=', True)]), [task])
        self.assertEqual(Task.search([('overdue', '=', False)]), [])

    @with_transaction()
    def test_pass_needs_complete_checklist(self):
        "Pass needs every node marked and none missing"
        pool = Pool()
        Task = pool.get('dualrec.qc.task')
        Line = pool.get('dualrec.qc.task.line')
        company, branches, users, product = self._setup()
        with set_company(company):
            task = self._task(company, users, product)
            with as_user(users['qc']):
                task = Task(task.id)
                with self.assertRaises(QCError):
                    Task.pass_([task])
                Line.write(list(task.lines), {'status': 'present'})
                Line.write([task.lines[1]], {'status': 'missing'})
                with self.assertRaises(QCError):
                    Task.pass_([Task(task.id)])
                Line.write([task.lines[1]], {'status': 'unclear',
                        'note': "low voice"})
                Task.pass_([Task(task.id)])
                task = Task(task.id)
                self.assertEqual(task.state, 'passed')
                self.assertEqual(task.inspected_by, users['qc'])
                with self.assertRaises(AccessError):
                    Line.write([task.lines[0]], {'status': 'missing'})

    @with_transaction()
    def test_fail_rectifies_and_notifies(self):
        "A failed QC sends the ticket back and tells salesperson, reviewer"
        pool = Pool()
        Ticket = pool.get('dualrec.ticket')
        Task = pool.get('dualrec.qc.task')
        Line = pool.get('dualrec.qc.task.line')
        Notification = pool.get('res.notification')
        company, branches, users, product = self._setup()
        with set_company(company):
            task = self._task(company, users, product)
            # approved by reviewer2 through the workflow
            self.assertEqual(task.ticket.reviewer, users['reviewer2'])
            with as_user(users['qc']):
                task = Task(task.id)
                Line.write(list(task.lines), {'status': 'missing'})
                with self.assertRaises(QCError):
                    Task.fail([Task(task.id)])
                Task.write([task], {'comment': "No risk disclosure"})
                Task.fail([Task(task.id)])
        ticket = Ticket(task.ticket.id)
        self.assertEqual(ticket.state, 'rejected')
        self.assertTrue(ticket.rectification)
        self.assertIn("No risk disclosure", ticket.review_comment)
        self.assertEqual(
            {n.user for n in Notification.search([])},
            {users['sales'], users['reviewer2']})

    @with_transaction()
    def test_qc_scope_and_own_tasks(self):
        "QC inspectors see their branch's tasks, salespeople their own"
        pool = Pool()
        Task = pool.get('dualrec.qc.task')
        company, branches, users, product = self._setup()
        with set_company(company):
            task = self._task(company, users, product)
            with as_user(users['qc_p2']):
                self.assertEqual(Task.search([]), [])
                with self.assertRaises(AccessError):
                    Task.pass_([Task(task.id)])
            with as_user(users['qc']):
                self.assertEqual(Task.search([]), [task])
            with as_user(users['sales']):
                self.assertEqual(Task.search([]), [task])
                with self.assertRaises(AccessError):
                    Task.write([Task(task.id)], {'comment': "mine"})
            with as_user(users['sales_p2']):
                self.assertEqual(Task.search([]), [])

    @with_transaction()
    def test_only_assigned_inspector_decides(self):
        "A task assigned to one inspector is not decided by another"
        pool = Pool()
        Task = pool.get('dualrec.qc.task')
        Line = pool.get('dualrec.qc.task.line')
        company, branches, users, product = self._setup()
        other = create_user('qc2', company, 'group_dualrec_qc',
            branches['P1-C1'], 'Q3')
        with set_company(company):
            task = self._task(company, users, product)
            Task.write([task], {'inspector': users['qc'].id})
            Line.write(list(task.lines), {'status': 'present'})
            with as_user(other):
                with self.assertRaises(QCError):
                    Task.pass_([Task(task.id)])

    @with_transaction()
    def test_qc_figures(self):
        "QC pass rate per rule and branch"
        pool = Pool()
        Task = pool.get('dualrec.qc.task')
        Line = pool.get('dualrec.qc.task.line')
        Statistic = pool.get('dualrec.qc.statistic')
        company, branches, users, product = self._setup()
        with set_company(company):
            rule = self._rule(company, product, ratio='1')
            for _ in range(3):
                self._ticket(users['sales'], product, 'approved')
            day = dt.date.today()
            sample = rule.draw(day.replace(day=1), day)
            first, second, third = sample.tasks
            Line.write([l for t in sample.tasks for l in t.lines],
                {'status': 'present'})
            Task.write([second], {'comment': "bad"})
            with as_user(users['qc']):
                Task.pass_([Task(first.id)])
                Task.fail([Task(second.id)])
                statistic, = Statistic.search([])
                self.assertEqual(
                    (statistic.tasks, statistic.open, statistic.passed,
                        statistic.failed), (3, 1, 1, 1))
                self.assertEqual(statistic.pass_rate, 0.5)
            with as_user(users['qc_p2']):
                self.assertEqual(Statistic.search([]), [])

    @with_transaction()
    def test_samples_immutable(self):
        "A stored sample cannot be changed or deleted"
        Sample = Pool().get('dualrec.qc.sample')
        company, branches, users, product = self._setup()
        with set_company(company):
            task = self._task(company, users, product)
        with self.assertRaises(AccessError):
            Sample.write([task.sample], {'seed': 'x'})
        with self.assertRaises(AccessError):
            Sample.delete([task.sample])


class ConcurrentReviewTestCase(ReviewFixtures, _DBTestCase):
    "Test two reviewers deciding on one ticket at once (PostgreSQL)"
    module = 'dualrec_review'

    def _decide(self, user_id, company_id, ticket_id, decision, barrier,
            results):
        "Decide as the dispatcher of a request would: retry on locks"
        from trytond import backend
        from trytond.exceptions import UserError
        from trytond.transaction import TransactionError
        extras, first = {}, True
        for _ in range(100):
            try:
                with Transaction().start(DB_NAME, user_id,
                        context={'company': company_id},
                        **extras) as transaction:
                    pool = Pool()
                    User = pool.get('res.user')
                    Ticket = pool.get('dualrec.ticket')
                    try:
                        with transaction.set_context(
                                User.get_preferences(context_only=True),
                                _check_access=True):
                            if first:
                                first = False
                                barrier.wait(timeout=30)
                            Ticket.decide([Ticket(ticket_id)], decision,
                                "concurrent")
                            # hold the lock a while: the other one waits
                            time.sleep(0.5)
                        transaction.commit()
                        results[user_id] = 'decided'
                        return
                    except TransactionError as error:
                        transaction.rollback()
                        error.fix(extras)
                        continue
                    except UserError as error:
                        results[user_id] = ('refused', error.message)
                        return
            except backend.DatabaseOperationalError:
                time.sleep(0.05)
        results[user_id] = 'gave up'

    def test_concurrent_decisions(self):
        "Exactly one of two simultaneous decisions wins"
        from trytond import backend
        if backend.name != 'postgresql':
            self.skipTest("row locks are PostgreSQL's (SQLite serialises "
                "every writing transaction)")
        from trytond.transaction import TransactionError
        extras = {}
        while True:
            # the workflow locks tables (the configuration singleton): the
            # transaction is taken again with them, as a request is
            with Transaction().start(DB_NAME, 0, **extras) as transaction:
                try:
                    company, branches, users, product = self._setup()
                    with set_company(company):
                        ticket = self._ticket(users['sales'], product)
                except TransactionError as error:
                    transaction.rollback()
                    error.fix(extras)
                    continue
                ids = (users['reviewer'].id, users['reviewer2'].id,
                    company.id, ticket.id)
                transaction.commit()
            break
        reviewer, reviewer2, company_id, ticket_id = ids
        barrier = threading.Barrier(2)
        results = {}
        threads = [threading.Thread(target=self._decide, args=(
                    user, company_id, ticket_id, decision, barrier, results))
            for user, decision in [
                (reviewer, 'approve'), (reviewer2, 'reject')]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        outcomes = sorted(str(r[0] if isinstance(r, tuple) else r)
            for r in results.values())
        self.assertEqual(outcomes, ['decided', 'refused'], results)
        with Transaction().start(DB_NAME, 0):
            Ticket = Pool().get('dualrec.ticket')
            ticket = Ticket(ticket_id)
            self.assertEqual(len(ticket.reviews), 1)
            winner = [u for u, r in results.items() if r == 'decided'][0]
            self.assertEqual(ticket.reviews[0].reviewer.id, winner)
            self.assertEqual(ticket.state, {reviewer: 'approved',
                    reviewer2: 'rejected'}[winner])


class PipelineChecksTestCase(ReviewFixtures, _DBTestCase):
    "Test the automatic checks run by the media pipeline"
    module = 'dualrec_review'

    @with_transaction()
    def test_pipeline_stores_checks(self):
        "Processing a recording stores its checks; one face fails 'faces'"
        pool = Pool()
        Recording = pool.get('dualrec.recording')
        company, branches, users, product = self._setup()
        with set_company(company):
            ticket = self._ticket(users['sales'], product, state='draft')
        # recorded by the salesperson through the upload calls of the API,
        # processed by the queued task as the worker does
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory, True)
        path = testing.generate_recording(
            os.path.join(directory, 'one-face.mp4'), 16, faces=1)
        with set_company(company):
            recording = upload_recording(ticket, users['sales'], path,
                timeline=script_timeline(product.current_script,
                    dt.datetime(2026, 12, 1, 1, 0, 0, tzinfo=dt.timezone.utc),
                    seconds=5))
        recording = Recording(recording.id)
        self.assertEqual(recording.status, 'ready', recording.error)
        results = {c.code: c.result for c in recording.checks}
        self.assertEqual(set(results), {'duration', 'timeline', 'silence',
                'loudness', 'black', 'freeze', 'faces', 'continuity'})
        self.assertEqual(results['continuity'], 'pass')
        self.assertEqual(results['faces'], 'fail')
        self.assertEqual(results['black'], 'pass')
        self.assertEqual(results['timeline'], 'pass')
        self.assertEqual(recording.check_result, 'fail')
        faces, = [c for c in recording.checks if c.code == 'faces']
        self.assertEqual(faces.rule, 'circ54_art8_identifiable')
        self.assertLess(faces.value, faces.threshold)
        self.assertEqual(Pool().get('dualrec.ticket')(ticket.id).check_result,
            'fail')
