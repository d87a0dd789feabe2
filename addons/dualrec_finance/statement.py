# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Reconciliation statements (对账单): the confirmed orders of one
counterparty and period, agreed with it, then invoiced and settled."""
from collections import defaultdict
from decimal import Decimal

from sql import Literal, Null
from sql.aggregate import Sum
from sql.functions import CurrentTimestamp
from sql.operators import Exists

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    ModelSQL, ModelView, Unique, Workflow, fields)
from trytond.model.exceptions import AccessError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from dualrec.cn import amount_in_words

from .exceptions import StatementError

STATES = [
    ('draft', "Draft"),
    ('sent', "Sent"),
    ('confirmed', "Confirmed"),
    ('invoiced', "Invoiced"),
    ('settled', "Settled"),
    ('cancelled', "Cancelled"),
    ]
DIRECTIONS = [
    ('receivable', "Receivable"),
    ('payable', "Payable"),
    ]
#: states in which lines are removed, disputed and adjusted
OPEN_STATES = {'draft', 'sent'}
ZERO = Decimal('0.00')
_open = {'readonly': ~Eval('state').in_(['draft'])}


def _fen(value, exp=ZERO):
    "Return the SQL sum value as a Decimal of exp (SQLite sums as floats)."
    return Decimal(str(value or 0)).quantize(exp)


class Statement(Workflow, ModelSQL, ModelView):
    __name__ = 'dualrec.statement'
    _rec_name = 'number'

    number = fields.Char("Number", readonly=True)
    company = fields.Many2One('company.company', "Company", required=True,
        states=_open)
    branch = fields.Many2One('dualrec.branch', "Branch", states=_open,
        domain=[('company', '=', Eval('company', -1))],
        help="Empty: the whole company.")
    counterparty = fields.Many2One('party.party', "Counterparty",
        required=True, states=_open)
    direction = fields.Selection(DIRECTIONS, "Direction", required=True,
        states=_open)
    date_from = fields.Date("From", required=True, states=_open,
        domain=[('date_from', '<=', Eval('date_to', None))])
    date_to = fields.Date("To", required=True, states=_open)
    order_types = fields.Many2Many('dualrec.statement-dualrec.order.type',
        'statement', 'type_', "Order Types", states=_open,
        help="Empty: every type of the direction.")
    currency = fields.Many2One('currency.currency', "Currency",
        required=True, states=_open)
    lines = fields.One2Many('dualrec.statement.line', 'statement', "Lines",
        states={'readonly': ~Eval('state').in_(list(OPEN_STATES))})
    untaxed_amount = fields.Numeric("Untaxed", digits=(16, 2), readonly=True)
    tax_amount = fields.Numeric("Tax", digits=(16, 2), readonly=True)
    total_amount = fields.Numeric("Total", digits=(16, 2), readonly=True)
    amount_in_words = fields.Function(fields.Char("Total in Words"),
        'get_amount_in_words')
    disputed = fields.Function(fields.Integer("Disputed Lines"),
        'get_disputed')
    agreed_total = fields.Numeric("Agreed Total", digits=(16, 2),
        readonly=True)
    sent_at = fields.DateTime("Sent At", readonly=True)
    confirmed_at = fields.DateTime("Confirmed At", readonly=True)
    confirmed_by = fields.Many2One('res.user', "Confirmed By", readonly=True)
    invoice = fields.Many2One('account.invoice', "Invoice", readonly=True,
        domain=[('company', '=', Eval('company', -1))])
    invoice_state = fields.Function(fields.Selection(
            'get_invoice_states', "Invoice State"), 'get_invoice_state')
    cancel_reason = fields.Text("Cancel Reason", readonly=True)
    state = fields.Selection(STATES, "State", readonly=True, required=True,
        sort=False)
    state_string = state.translated('state')
    direction_string = direction.translated('direction')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('date_to', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'sent'),
            ('sent', 'draft'),
            ('sent', 'confirmed'),
            ('draft', 'cancelled'),
            ('sent', 'cancelled'),
            ('confirmed', 'cancelled'),
            ('confirmed', 'invoiced'),
            ('invoiced', 'settled'),
            # its fapiao reversed (red letter) or voided
            ('invoiced', 'confirmed'),
            # the payment of its invoice failed
            ('settled', 'invoiced'),
            }
        cls._buttons.update({
                'send': {'invisible': Eval('state') != 'draft',
                    'depends': ['state']},
                'draft': {'invisible': Eval('state') != 'sent',
                    'icon': 'tryton-back', 'depends': ['state']},
                'confirm': {'invisible': Eval('state') != 'sent',
                    'icon': 'tryton-ok', 'depends': ['state']},
                'adjust': {
                    'invisible': ~Eval('state').in_(list(OPEN_STATES)),
                    'depends': ['state']},
                'cancel': {
                    'invisible': ~Eval('state').in_(
                        ['draft', 'sent', 'confirmed']),
                    'icon': 'tryton-cancel', 'depends': ['state']},
                'create_invoice': {
                    'invisible': Eval('state') != 'confirmed',
                    'depends': ['state']},
                })

    @staticmethod
    def default_state():
        return 'draft'

    @staticmethod
    def default_direction():
        return 'receivable'

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_currency(cls):
        Company = Pool().get('company.company')
        company = cls.default_company()
        if company is not None and company >= 0:
            return Company(company).currency.id

    def get_amount_in_words(self, name):
        if self.total_amount is not None:
            return amount_in_words(self.total_amount)

    @classmethod
    def get_disputed(cls, statements, name):
        Line = Pool().get('dualrec.statement.line')
        line = Line.__table__()
        cursor = Transaction().connection.cursor()
        result = {s.id: 0 for s in statements}
        for sub_ids in grouped_slice([s.id for s in statements], 1000):
            cursor.execute(*line.select(line.statement, Literal(1),
                    where=line.statement.in_(list(sub_ids))
                    & (line.disputed == Literal(True))
                    & (line.resolved == Literal(False))))
            for statement, one in cursor:
                result[statement] += one
        return result

    @classmethod
    def get_invoice_states(cls):
        Invoice = Pool().get('account.invoice')
        return [(None, '')] + Invoice.fields_get(['state'])['state'][
            'selection']

    def get_invoice_state(self, name):
        if self.invoice:
            return self.invoice.state

    @classmethod
    def now(cls):
        Order = Pool().get('dualrec.order')
        return Order.now()

    @classmethod
    def create(cls, vlist):
        pool = Pool()
        Sequence = pool.get('ir.sequence')
        ModelData = pool.get('ir.model.data')
        vlist = [dict(v) for v in vlist]
        with without_check_access():
            sequence = Sequence(ModelData.get_id(
                    'dualrec_finance', 'sequence_statement'))
            for values in vlist:
                if not values.get('number'):
                    values['number'] = sequence.get()
        return super().create(vlist)

    @classmethod
    def copy(cls, statements, default=None):
        "A copy is a new draft of the same counterparty and period."
        default = default.copy() if default is not None else {}
        for name in ['number', 'lines', 'agreed_total', 'sent_at',
                'confirmed_at', 'confirmed_by', 'invoice', 'cancel_reason',
                'untaxed_amount', 'tax_amount', 'total_amount']:
            default.setdefault(name, None)
        default.setdefault('state', 'draft')
        return super().copy(statements, default=default)

    @classmethod
    def check_modification(cls, mode, statements, values=None,
            external=False):
        super().check_modification(mode, statements, values=values,
            external=external)
        if mode == 'delete':
            for statement in statements:
                if statement.state != 'draft':
                    raise AccessError(gettext(
                            'dualrec_finance.msg_statement_delete',
                            statement=statement.rec_name))

    # -- amounts ----------------------------------------------------------

    @classmethod
    def get_orders(cls, statements):
        """Return {statement id: its orders}, read by SQL: browsing the
        lines of many statements at once instantiates each line with the
        ids of all of them."""
        pool = Pool()
        Order = pool.get('dualrec.order')
        line = pool.get('dualrec.statement.line').__table__()
        cursor = Transaction().connection.cursor()
        result = {s.id: [] for s in statements}
        for sub_ids in grouped_slice(list(result), 1000):
            cursor.execute(*line.select(line.statement, line.order,
                    where=line.statement.in_(list(sub_ids)),
                    order_by=[line.statement, line.id]))
            for statement, order in cursor:
                result[statement].append(order)
        return {s: Order.browse(o) for s, o in result.items()}

    @classmethod
    def update_amounts(cls, statements):
        "Store the sums of the lines of statements (one query for all)."
        pool = Pool()
        Line = pool.get('dualrec.statement.line')
        line = Line.__table__()
        cursor = Transaction().connection.cursor()
        sums = {}
        for sub_ids in grouped_slice([s.id for s in statements], 1000):
            cursor.execute(*line.select(line.statement,
                    Sum(line.untaxed_amount), Sum(line.tax_amount),
                    Sum(line.total_amount),
                    where=line.statement.in_(list(sub_ids)),
                    group_by=[line.statement]))
            for statement, untaxed, tax, total in cursor:
                sums[statement] = [_fen(v) for v in (untaxed, tax, total)]
        to_write = []
        for statement in cls.browse(statements):
            untaxed, tax, total = sums.get(statement.id, [ZERO] * 3)
            to_write.extend(([statement], {
                        'untaxed_amount': untaxed,
                        'tax_amount': tax,
                        'total_amount': total,
                        }))
        if to_write:
            with without_check_access():
                cls.write(*to_write)

    # -- building -----------------------------------------------------------

    @classmethod
    def build(cls, company, direction, date_from, date_to,
            counterparties=None, types=None, branch=None):
        """Create and return one draft statement per counterparty (and
        currency) with confirmed orders of company in direction, dated from
        date_from to date_to, of types (all when empty), that are on no
        other statement; counterparties: all when empty.

        The lines are inserted by one SQL statement per statement."""
        pool = Pool()
        Order = pool.get('dualrec.order')
        Line = pool.get('dualrec.statement.line')
        AuditLog = pool.get('dualrec.audit.log')
        order = Order.__table__()
        line = Line.__table__()
        cursor = Transaction().connection.cursor()
        if date_from > date_to:
            raise StatementError(gettext(
                    'dualrec_finance.msg_statement_period'))

        def where(order):
            clause = ((order.company == company.id)
                & (order.direction == direction)
                & (order.state == 'confirmed')
                & (order.date >= date_from) & (order.date <= date_to)
                & ~Exists(line.select(Literal(1),
                        where=line.active_order == order.id)))
            if types:
                clause &= order.type_.in_([t.id for t in types])
            if counterparties:
                clause &= order.counterparty.in_(
                    [p.id for p in counterparties])
            if branch:
                Branch = pool.get('dualrec.branch')
                branches = Branch.search([('parent', 'child_of',
                            [branch.id])])
                clause &= order.branch.in_([b.id for b in branches])
            return clause

        cursor.execute(*order.select(order.counterparty, order.currency,
                where=where(order),
                group_by=[order.counterparty, order.currency],
                order_by=[order.counterparty, order.currency]))
        groups = cursor.fetchall()
        if not groups:
            return []
        statements = cls.create([{
                    'company': company.id,
                    'branch': branch.id if branch else None,
                    'counterparty': counterparty,
                    'currency': currency,
                    'direction': direction,
                    'date_from': date_from,
                    'date_to': date_to,
                    'order_types': [('add', [t.id for t in types or []])],
                    } for counterparty, currency in groups])
        user = Transaction().user
        try:
            for statement, (counterparty, currency) in zip(
                    statements, groups):
                cursor.execute(*line.insert(
                        [line.statement, line.order, line.active_order,
                            line.kind, line.untaxed_amount, line.tax_amount,
                            line.total_amount, line.disputed, line.resolved,
                            line.create_uid, line.create_date],
                        order.select(Literal(statement.id), order.id,
                            order.id, Literal('order'),
                            order.untaxed_amount, order.tax_amount,
                            order.total_amount, Literal(False),
                            Literal(False), Literal(user),
                            CurrentTimestamp(),
                            where=where(order)
                            & (order.counterparty == counterparty)
                            & (order.currency == currency))))
        except backend.DatabaseIntegrityError as error:
            raise StatementError(gettext(
                    'dualrec_finance.msg_statement_build_conflict')
                ) from error
        cls.update_amounts(statements)
        statements = cls.browse([s.id for s in statements])
        AuditLog.log('statement_build', statements, model=cls.__name__)
        return statements

    # -- workflow -------------------------------------------------------------

    @classmethod
    def _log(cls, action, statements, details=None):
        AuditLog = Pool().get('dualrec.audit.log')
        AuditLog.log(action, statements, model=cls.__name__,
            details=details)

    @classmethod
    @ModelView.button
    @Workflow.transition('sent')
    def send(cls, statements):
        "Send the statements to their counterparty for reconciliation."
        orders = cls.get_orders(statements)
        for statement in statements:
            if not orders[statement.id]:
                raise StatementError(gettext(
                        'dualrec_finance.msg_statement_empty',
                        statement=statement.rec_name))
        cls.write(statements, {'sent_at': cls.now()})
        cls._log('statement_send', statements)

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def draft(cls, statements):
        cls._log('statement_draft', statements)

    @classmethod
    @ModelView.button_action('dualrec_finance.wizard_statement_confirm')
    def confirm(cls, statements):
        pass

    @classmethod
    @Workflow.transition('confirmed')
    def confirm_agreed(cls, statements, agreed_total):
        """Confirm statements with the total agreed with the counterparty:
        it must be their total, and no disputed line may be left open."""
        agreed_total = Decimal(agreed_total).quantize(Decimal('0.01'))
        for statement in statements:
            if statement.disputed:
                raise StatementError(gettext(
                        'dualrec_finance.msg_statement_disputed',
                        statement=statement.rec_name,
                        count=statement.disputed))
            if statement.total_amount != agreed_total:
                raise StatementError(gettext(
                        'dualrec_finance.msg_statement_agreed_total',
                        statement=statement.rec_name,
                        agreed=agreed_total, total=statement.total_amount))
        cls.write(statements, {
                'agreed_total': agreed_total,
                'confirmed_at': cls.now(),
                'confirmed_by': Transaction().user or None,
                })
        cls._log('statement_confirm', statements,
            details=f'agreed total {agreed_total}')

    @classmethod
    @ModelView.button_action('dualrec_finance.wizard_statement_cancel')
    def cancel(cls, statements):
        pass

    @classmethod
    @Workflow.transition('cancelled')
    def cancel_with_reason(cls, statements, reason):
        "Cancel statements: their orders are free for another statement."
        pool = Pool()
        Line = pool.get('dualrec.statement.line')
        reason = (reason or '').strip()
        if not reason:
            raise StatementError(gettext(
                    'dualrec_finance.msg_statement_cancel_reason'))
        line = Line.__table__()
        cursor = Transaction().connection.cursor()
        for sub_ids in grouped_slice([s.id for s in statements], 1000):
            cursor.execute(*line.update([line.active_order], [Null],
                    where=line.statement.in_(list(sub_ids))))
        cls.write(statements, {'cancel_reason': reason})
        cls._log('statement_cancel', statements, details=reason)

    @classmethod
    @ModelView.button_action('dualrec_finance.wizard_statement_adjust')
    def adjust(cls, statements):
        pass

    def add_adjustment(self, line, amount, reason):
        """Add to the statement an adjustment order of amount (VAT
        included; negative: a credit) for the disputed line, created
        through the order center; the dispute is resolved."""
        pool = Pool()
        Order = pool.get('dualrec.order')
        Line = pool.get('dualrec.statement.line')
        amount = Decimal(amount).quantize(Decimal('0.01'))
        reason = (reason or '').strip()
        if self.state not in OPEN_STATES:
            raise StatementError(gettext(
                    'dualrec_finance.msg_statement_not_open',
                    statement=self.rec_name))
        if not amount or not reason:
            raise StatementError(gettext(
                    'dualrec_finance.msg_statement_adjust_values'))
        if line.statement != self or line.kind != 'order':
            raise StatementError(gettext(
                    'dualrec_finance.msg_statement_adjust_line'))
        source = line.order
        order_line = source.lines[0]
        count = len([l for l in self.lines if l.kind == 'adjustment'])
        adjustment, = Order.create_from([{
                    'company': self.company.id,
                    'branch': source.branch.id if source.branch else None,
                    'type_': source.type_.id,
                    'direction': self.direction,
                    'counterparty': self.counterparty.id,
                    'currency': self.currency.id,
                    'date': pool.get('ir.date').today(),
                    'source': 'statement',
                    'external_ref': f'{self.number}-A{count + 1}',
                    'origin': str(self),
                    'description': reason,
                    'lines': [{
                            'product': order_line.product.id,
                            'description': reason,
                            'quantity': Decimal(1 if amount > 0 else -1),
                            'unit_price': abs(amount),
                            'tax_rate': order_line.tax_rate,
                            }],
                    }])
        with without_check_access():
            Line.create([{
                        'statement': self.id,
                        'order': adjustment.id,
                        'kind': 'adjustment',
                        'adjusted_line': line.id,
                        'reason': reason,
                        }])
            Line.write([line], {'resolved': True})
        self._log('statement_adjust', [self],
            details=f'{line.order.rec_name}: {amount} {reason}')
        return adjustment

    @classmethod
    @ModelView.button
    @Workflow.transition('invoiced')
    def create_invoice(cls, statements):
        """Create and post the invoice of each statement (customer invoice
        for a receivable statement, supplier invoice for a payable one);
        its orders become invoiced."""
        pool = Pool()
        Order = pool.get('dualrec.order')
        Invoice = pool.get('account.invoice')
        Fapiao = pool.get('dualrec.fapiao')
        invoices = []
        for statement in statements:
            groups = statement._invoice_groups()
            invoice = statement.get_invoice(groups)
            invoice.save()
            statement._fix_invoice_taxes(invoice, groups)
            invoices.append(invoice)
            statement.invoice = invoice
        cls.save(statements)
        Invoice.post(invoices)
        orders = cls.get_orders(statements)
        for statement in statements:
            with without_check_access():
                Order.invoice(orders[statement.id],
                    comment=statement.number)
        cls._log('statement_invoice', statements)
        # the fapiao requests (开票申请) of the customer invoices
        Fapiao.create_for_invoices([i for i in invoices if i.type == 'out'])

    def _invoice_groups(self):
        """Return {(product, rate): [untaxed, tax]} of the order lines."""
        pool = Pool()
        OrderLine = pool.get('dualrec.order.line')
        table = OrderLine.__table__()
        Line = pool.get('dualrec.statement.line')
        line = Line.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.join(line,
                condition=line.order == table.order).select(
                table.product, table.tax_rate, Sum(table.untaxed_amount),
                Sum(table.tax_amount),
                where=line.statement == self.id,
                group_by=[table.product, table.tax_rate],
                order_by=[table.product, table.tax_rate]))
        return {(p, _fen(r, Decimal('0.0001'))): [_fen(u), _fen(t)]
            for p, r, u, t in cursor}

    def get_invoice(self, groups=None):
        "Return the draft invoice of the statement (one line per product)."
        pool = Pool()
        Invoice = pool.get('account.invoice')
        InvoiceLine = pool.get('account.invoice.line')
        Product = pool.get('product.product')
        from .accounting import service_account, tax_for_rate
        type_ = 'out' if self.direction == 'receivable' else 'in'
        kind = 'sale' if type_ == 'out' else 'purchase'
        invoice = Invoice(company=self.company, type=type_,
            party=self.counterparty, currency=self.currency,
            invoice_date=pool.get('ir.date').today(),
            reference=self.number,
            description=gettext('dualrec_finance.msg_statement_invoice',
                statement=self.number, date_from=self.date_from,
                date_to=self.date_to))
        invoice.on_change_type()
        invoice.on_change_party()
        if not invoice.invoice_address:
            raise StatementError(gettext(
                    'dualrec_finance.msg_statement_no_address',
                    party=self.counterparty.rec_name))
        lines = []
        if groups is None:
            groups = self._invoice_groups()
        for (product, rate), (untaxed, tax) in groups.items():
            product = Product(product)
            line = InvoiceLine(invoice=invoice, company=self.company,
                currency=self.currency, type='line', product=product,
                quantity=1, unit=product.default_uom,
                unit_price=untaxed, origin=self)
            line.description = product.rec_name
            line.taxes = [tax_for_rate(self.company, rate, kind)]
            # a service without an account category of its own: the
            # company's default accounts of categories
            if product.account_category:
                line.account = (product.account_revenue_used
                    if kind == 'sale' else product.account_expense_used)
            else:
                line.account = service_account(self.company, kind)
            if not line.account:
                raise StatementError(gettext(
                        'dualrec_finance.msg_statement_no_account',
                        product=product.rec_name))
            lines.append(line)
        invoice.lines = lines
        return invoice

    def _fix_invoice_taxes(self, invoice, groups):
        """Make the taxes of invoice those of the orders: VAT is split per
        order (rounded to the fen each), the invoice computes it on the
        sums, and the two may differ by a few fen."""
        from .accounting import set_invoice_taxes, tax_for_rate
        kind = 'sale' if invoice.type == 'out' else 'purchase'
        expected = defaultdict(Decimal)
        for (product, rate), (untaxed, tax) in groups.items():
            expected[tax_for_rate(self.company, rate, kind).id] += tax
        set_invoice_taxes(invoice, expected)

    @classmethod
    @Workflow.transition('settled')
    def settle(cls, statements):
        "Settle invoiced statements and their orders: the invoice is paid."
        Order = Pool().get('dualrec.order')
        orders = cls.get_orders(statements)
        for statement in statements:
            with without_check_access():
                Order.settle(orders[statement.id],
                    comment=statement.number)
        cls._log('statement_settle', statements)


    @classmethod
    @Workflow.transition('confirmed')
    def reopen(cls, statements, comment=None):
        """Take invoiced statements back to confirmed, their orders too:
        the fapiao of their invoice was reversed by a red-letter fapiao or
        voided and the invoice cancelled.  They can be invoiced again."""
        Order = Pool().get('dualrec.order')
        orders = cls.get_orders(statements)
        for statement in statements:
            with without_check_access():
                Order.reopen(orders[statement.id],
                    comment=comment or statement.number)
        cls.write(list(statements), {'invoice': None})
        cls._log('statement_reopen', statements, comment)

    @classmethod
    @Workflow.transition('invoiced')
    def unsettle(cls, statements, comment=None):
        """Take settled statements back to invoiced, their orders too: the
        payment of their invoice failed and the invoice is open again."""
        Order = Pool().get('dualrec.order')
        orders = cls.get_orders(statements)
        for statement in statements:
            with without_check_access():
                Order.unsettle(orders[statement.id],
                    comment=comment or statement.number)
        cls._log('statement_unsettle', statements, comment)


class StatementOrderType(ModelSQL):
    __name__ = 'dualrec.statement-dualrec.order.type'
    statement = fields.Many2One('dualrec.statement', "Statement",
        required=True, ondelete='CASCADE')
    type_ = fields.Many2One('dualrec.order.type', "Type", required=True,
        ondelete='CASCADE')


class StatementLine(ModelSQL, ModelView):
    __name__ = 'dualrec.statement.line'

    statement = fields.Many2One('dualrec.statement', "Statement",
        required=True, ondelete='CASCADE')
    order = fields.Many2One('dualrec.order', "Order", required=True,
        ondelete='RESTRICT', readonly=True)
    # the order while the statement is not cancelled: unique
    active_order = fields.Integer("Active Order", readonly=True)
    kind = fields.Selection([
            ('order', "Order"),
            ('adjustment', "Adjustment"),
            ], "Kind", readonly=True, required=True)
    kind_string = kind.translated('kind')
    order_date = fields.Function(fields.Date("Date"), 'get_order_field')
    order_type = fields.Function(fields.Many2One('dualrec.order.type',
            "Type"), 'get_order_field')
    untaxed_amount = fields.Numeric("Untaxed", digits=(16, 2), readonly=True)
    tax_amount = fields.Numeric("Tax", digits=(16, 2), readonly=True)
    total_amount = fields.Numeric("Total", digits=(16, 2), readonly=True)
    disputed = fields.Boolean("Disputed",
        states={'readonly': Eval('kind') != 'order'},
        help="The counterparty does not agree with this line.")
    reason = fields.Text("Reason",
        states={'required': Bool(Eval('disputed'))})
    resolved = fields.Boolean("Resolved", readonly=True,
        help="An adjustment settles the dispute.")
    adjusted_line = fields.Many2One('dualrec.statement.line',
        "Adjusted Line", readonly=True,
        domain=[('statement', '=', Eval('statement', -1))])

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('active_order_unique', Unique(t, t.active_order),
                'dualrec_finance.msg_statement_order_unique'),
            ]
        cls._order = [('id', 'ASC')]

    @staticmethod
    def default_kind():
        return 'order'

    @staticmethod
    def default_disputed():
        return False

    @staticmethod
    def default_resolved():
        return False

    def get_order_field(self, name):
        value = getattr(self.order, {'order_date': 'date',
                'order_type': 'type_'}[name])
        return value.id if hasattr(value, 'id') else value

    def get_rec_name(self, name):
        return self.order.rec_name

    @classmethod
    def create(cls, vlist):
        pool = Pool()
        Order = pool.get('dualrec.order')
        Statement = pool.get('dualrec.statement')
        vlist = [dict(v) for v in vlist]
        for values in vlist:
            order = Order(values['order'])
            statement = Statement(values['statement'])
            if statement.state not in OPEN_STATES:
                raise StatementError(gettext(
                        'dualrec_finance.msg_statement_not_open',
                        statement=statement.rec_name))
            if (order.state != 'confirmed'
                    or order.counterparty != statement.counterparty
                    or order.company != statement.company
                    or order.direction != statement.direction):
                raise StatementError(gettext(
                        'dualrec_finance.msg_statement_line_order',
                        order=order.rec_name,
                        statement=statement.rec_name))
            values['active_order'] = order.id
            for name in ('untaxed_amount', 'tax_amount', 'total_amount'):
                values[name] = getattr(order, name)
        lines = super().create(vlist)
        Statement.update_amounts(list({l.statement for l in lines}))
        return lines

    @classmethod
    def check_modification(cls, mode, lines, values=None, external=False):
        super().check_modification(mode, lines, values=values,
            external=external)
        if mode in {'write', 'delete'}:
            if mode == 'write' and set(values) <= {'resolved',
                    'active_order'}:
                return
            for line in lines:
                if line.statement.state not in OPEN_STATES:
                    raise StatementError(gettext(
                            'dualrec_finance.msg_statement_not_open',
                            statement=line.statement.rec_name))
                if mode == 'write' and set(values) - {'disputed', 'reason'}:
                    raise StatementError(gettext(
                            'dualrec_finance.msg_statement_line_readonly'))

    @classmethod
    def on_modification(cls, mode, lines, field_names=None):
        super().on_modification(mode, lines, field_names=field_names)
        if mode == 'write' and field_names and 'disputed' in field_names:
            to_reset = [l for l in lines if not l.disputed and l.resolved]
            if to_reset:
                cls.write(to_reset, {'resolved': False})

    @classmethod
    def on_delete(cls, lines):
        Statement = Pool().get('dualrec.statement')
        statements = list({l.statement for l in lines})
        callback = super().on_delete(lines)
        callback.append(lambda: Statement.update_amounts(
                Statement.browse([s.id for s in statements])))
        return callback


class Order(metaclass=PoolMeta):
    __name__ = 'dualrec.order'

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['dualrec.statement']

    @classmethod
    def cancel_with_reason(cls, orders, reason):
        "Refuse to cancel an order that is on a statement."
        Line = Pool().get('dualrec.statement.line')
        with without_check_access():
            lines = Line.search([
                    ('active_order', 'in', [o.id for o in orders])],
                limit=1)
        if lines:
            raise StatementError(gettext(
                    'dualrec_finance.msg_order_on_statement',
                    order=lines[0].order.rec_name,
                    statement=lines[0].statement.rec_name))
        super().cancel_with_reason(orders, reason)


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    @classmethod
    def _check_taxes(cls, invoices):
        """The taxes of a statement's invoice are the VAT rates of its
        orders, not the defaults of the products: do not warn of them."""
        def of_statement(line):
            origin = line.origin
            # a credit note's line comes from the line it credits
            if getattr(origin, '__name__', None) == 'account.invoice.line':
                origin = origin.origin
            return getattr(origin, '__name__', None) == 'dualrec.statement'

        def of_statements(invoice):
            return invoice.line_lines and all(
                of_statement(l) for l in invoice.line_lines)
        super()._check_taxes([i for i in invoices if not of_statements(i)])

    @classmethod
    def paid(cls, invoices):
        "Settle the statements of the invoices that are paid."
        Statement = Pool().get('dualrec.statement')
        super().paid(invoices)
        paid = [i.id for i in cls.browse(invoices) if i.state == 'paid']
        if paid:
            with without_check_access():
                statements = Statement.search([
                        ('invoice', 'in', paid),
                        ('state', '=', 'invoiced'),
                        ])
                if statements:
                    Statement.settle(statements)


    @classmethod
    def _post(cls, invoices):
        """Unsettle the statements of paid invoices that are posted again:
        a payment of theirs failed after it had succeeded."""
        Statement = Pool().get('dualrec.statement')
        reopened = [i.id for i in invoices if i.state == 'paid']
        super()._post(invoices)
        if reopened:
            with without_check_access():
                statements = Statement.search([
                        ('invoice', 'in', reopened),
                        ('state', '=', 'settled'),
                        ])
                if statements:
                    Statement.unsettle(statements)


class InvoiceLine(metaclass=PoolMeta):
    __name__ = 'account.invoice.line'

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['dualrec.statement']


class BuildStart(ModelView):
    __name__ = 'dualrec.statement.build.start'
    company = fields.Many2One('company.company', "Company", required=True)
    direction = fields.Selection(DIRECTIONS, "Direction", required=True)
    date_from = fields.Date("From", required=True,
        domain=[('date_from', '<=', Eval('date_to', None))])
    date_to = fields.Date("To", required=True)
    counterparties = fields.Many2Many('party.party', None, None,
        "Counterparties", help="Empty: every counterparty.")
    order_types = fields.Many2Many('dualrec.order.type', None, None,
        "Order Types", domain=[('direction', '=', Eval('direction'))],
        help="Empty: every type of the direction.")

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_direction():
        return 'receivable'

    @staticmethod
    def default_date_from():
        today = Pool().get('ir.date').today()
        return today.replace(day=1)

    @staticmethod
    def default_date_to():
        return Pool().get('ir.date').today()


class Build(Wizard):
    "Build the statements of a period"
    __name__ = 'dualrec.statement.build'
    start = StateView('dualrec.statement.build.start',
        'dualrec_finance.statement_build_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Build", 'build', 'tryton-ok', default=True),
            ])
    build = StateTransition()

    def transition_build(self):
        Statement = Pool().get('dualrec.statement')
        start = self.start
        statements = Statement.build(start.company, start.direction,
            start.date_from, start.date_to,
            counterparties=list(start.counterparties),
            types=list(start.order_types))
        if not statements:
            raise StatementError(gettext(
                    'dualrec_finance.msg_statement_build_nothing'))
        return 'end'

    def end(self):
        return 'reload'


class ConfirmStart(ModelView):
    __name__ = 'dualrec.statement.confirm.start'
    total = fields.Numeric("Total", digits=(16, 2), readonly=True)
    agreed_total = fields.Numeric("Agreed Total", digits=(16, 2),
        required=True, help="The total the counterparty agreed to.")


class Confirm(Wizard):
    "Confirm a statement with the agreed total"
    __name__ = 'dualrec.statement.confirm'
    start = StateView('dualrec.statement.confirm.start',
        'dualrec_finance.statement_confirm_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Confirm", 'confirm', 'tryton-ok', default=True),
            ])
    confirm = StateTransition()

    def default_start(self, fields):
        return {'total': self.record.total_amount}

    def transition_confirm(self):
        self.model.confirm_agreed([self.record], self.start.agreed_total)
        return 'end'


class CancelStart(ModelView):
    __name__ = 'dualrec.statement.cancel.start'
    reason = fields.Text("Reason", required=True)


class Cancel(Wizard):
    "Cancel a statement"
    __name__ = 'dualrec.statement.cancel'
    start = StateView('dualrec.statement.cancel.start',
        'dualrec_finance.statement_cancel_start_view_form', [
            Button("Back", 'end', 'tryton-back'),
            Button("Cancel Statement", 'cancel', 'tryton-cancel',
                default=True),
            ])
    cancel = StateTransition()

    def transition_cancel(self):
        self.model.cancel_with_reason(self.records, self.start.reason)
        return 'end'


class AdjustStart(ModelView):
    __name__ = 'dualrec.statement.adjust.start'
    statement = fields.Many2One('dualrec.statement', "Statement",
        readonly=True)
    line = fields.Many2One('dualrec.statement.line', "Disputed Line",
        required=True, domain=[
            ('statement', '=', Eval('statement', -1)),
            ('kind', '=', 'order'),
            ('disputed', '=', True),
            ('resolved', '=', False),
            ])
    amount = fields.Numeric("Amount", digits=(16, 2), required=True,
        help="VAT included; negative for a credit to the counterparty.")
    reason = fields.Text("Reason", required=True)


class Adjust(Wizard):
    "Adjust a disputed line of a statement"
    __name__ = 'dualrec.statement.adjust'
    start = StateView('dualrec.statement.adjust.start',
        'dualrec_finance.statement_adjust_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Adjust", 'adjust', 'tryton-ok', default=True),
            ])
    adjust = StateTransition()

    def default_start(self, fields):
        return {'statement': self.record.id}

    def transition_adjust(self):
        self.record.add_adjustment(self.start.line, self.start.amount,
            self.start.reason)
        return 'end'
