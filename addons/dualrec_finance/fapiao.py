# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Fapiao (发票) requests and received fapiao, on Tryton invoices.

A customer invoice of a statement gets a request (开票申请) that finance
sends to the fapiao provider: *manual* (finance issues it in the tax
bureau's platform and enters the number and files) or *HTTP provider* (our
request number is the idempotency key; the result comes by callback and by
polling).  A red-letter fapiao (红冲, after a 红字确认单) or a void cancels
the invoice by a credit note and reopens the statement and its orders.  A
supplier's fapiao is registered against the supplier invoice of a payable
statement and must match it."""
import base64
import datetime as dt
import os
from decimal import Decimal

from trytond import config
from trytond.i18n import gettext
from trytond.model import (
    ModelSingleton, ModelSQL, ModelView, Unique, Workflow, fields)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval, Id
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from dualrec import fapiao as cn_fapiao
from dualrec.errors import CodedError
from dualrec.fapiao_provider import (
    FAILED, ISSUED, ISSUING, VOIDED, HttpFapiaoProvider,
    ProviderError)

from .accounting import set_invoice_taxes
from .exceptions import FapiaoError

KINDS = [(k, label) for k, (label, _) in cn_fapiao.KINDS.items()]
PROVIDERS = [
    (None, ''),
    ('manual', "Manual (tax bureau platform)"),
    ('http', "HTTP Provider"),
    ]
STATES = [
    ('draft', "Draft"),
    ('issuing', "Issuing"),
    ('issued', "Issued"),
    ('failed', "Failed"),
    ('voided', "Voided"),
    ('reversed', "Reversed"),
    ]
DIRECTIONS = [
    ('out', "Issued by Us"),
    ('in', "Received"),
    ]
QUEUE = 'dualrec_fapiao'
FILE_KINDS = ('pdf', 'ofd', 'xml')
# the labels of the fields a coded error of dualrec.fapiao names
_WHAT = {
    'fapiao number': 'msg_fapiao_what_number',
    'fapiao code': 'msg_fapiao_what_code',
    'tax classification code': 'msg_fapiao_what_tax_code',
    'buyer name': 'msg_fapiao_what_buyer_name',
    'remark': 'msg_fapiao_what_remark',
    'item name': 'msg_fapiao_what_item_name',
    }


def raise_coded(error):
    "Raise the coded error of dualrec.fapiao as a translated FapiaoError."
    params = dict(error.params)
    if params.get('what') in _WHAT:
        params['what'] = gettext(
            'dualrec_finance.' + _WHAT[params['what']])
    params = {k: v if v is not None else '' for k, v in params.items()}
    try:
        message = gettext('dualrec_finance.msg_' + error.code, **params)
    except (KeyError, ValueError):
        message = error.message
    raise FapiaoError(message) from error


class Configuration(ModelSingleton, ModelSQL, ModelView):
    "The settings of finance: how fapiao are issued."
    __string__ = "Finance Configuration"
    __name__ = 'dualrec.finance.configuration'

    fapiao_provider = fields.Selection(PROVIDERS[1:], "Fapiao Provider",
        required=True,
        help="Manual: finance issues each fapiao in the tax bureau's "
        "platform and enters its number and files.\n"
        "HTTP Provider: the fapiao are issued through the provider's API.")
    fapiao_url = fields.Char("Provider URL",
        states={
            'invisible': Eval('fapiao_provider') != 'http',
            'required': Eval('fapiao_provider') == 'http',
            },
        help="The base address of the provider's API. Its token is read "
        "from the server configuration ([dualrec_finance] fapiao_token) or "
        "the DUALREC_FAPIAO_TOKEN environment variable, never stored here.")
    callback_base_url = fields.Char("Callback Base URL",
        states={'invisible': Eval('fapiao_provider') != 'http'},
        help="The public address of this server that the provider calls "
        "back when a fapiao is issued, e.g. https://erp.example.com. "
        "Empty: the results are polled only.")
    fapiao_wait = fields.Integer("Wait for Result",
        required=True, domain=[('fapiao_wait', '>=', 0)],
        help="How many seconds a request waits for the provider's result "
        "before it is left to the callback and the polling, in seconds.")
    fapiao_kind = fields.Selection(KINDS, "Default Fapiao Kind",
        required=True)
    fapiao_sequence = fields.Many2One('ir.sequence', "Request Sequence",
        required=True,
        domain=[('sequence_type', '=',
                Id('dualrec_finance', 'sequence_type_fapiao'))],
        help="The sequence of the request numbers, the idempotency keys "
        "of the provider.")

    @classmethod
    def default_fapiao_provider(cls):
        return 'manual'

    @classmethod
    def default_fapiao_wait(cls):
        return 3

    @classmethod
    def default_fapiao_kind(cls):
        return 'digital_normal'

    @classmethod
    def default_fapiao_sequence(cls):
        ModelData = Pool().get('ir.model.data')
        try:
            return ModelData.get_id('dualrec_finance', 'sequence_fapiao')
        except KeyError:
            return None

    def get_provider(self):
        "Return the FapiaoProvider of the HTTP provider."
        token = (config.get('dualrec_finance', 'fapiao_token', default=None)
            or os.environ.get('DUALREC_FAPIAO_TOKEN'))
        return HttpFapiaoProvider(self.fapiao_url, token=token)

    def get_callback_url(self):
        if not self.callback_base_url:
            return None
        database = Transaction().database.name
        return (f'{self.callback_base_url.rstrip("/")}/{database}'
            '/dualrec/fapiao/callback')


class Fapiao(Workflow, ModelSQL, ModelView):
    "A fapiao request of a customer invoice or a fapiao received."
    __string__ = "Fapiao"
    __name__ = 'dualrec.fapiao'
    _rec_name = 'request_no'

    _draft = {'readonly': Eval('state') != 'draft'}

    company = fields.Many2One('company.company', "Company", required=True,
        readonly=True)
    invoice = fields.Many2One('account.invoice', "Invoice", required=True,
        readonly=True, ondelete='RESTRICT',
        domain=[('company', '=', Eval('company', -1))])
    statement = fields.Many2One('dualrec.statement', "Statement",
        readonly=True)
    party = fields.Many2One('party.party', "Party", required=True,
        readonly=True)
    direction = fields.Selection(DIRECTIONS, "Direction", required=True,
        readonly=True)
    kind = fields.Selection(KINDS, "Kind", required=True, states=_draft)
    request_no = fields.Char("Request Number", readonly=True,
        help="Our number of the request, unique: sent twice, it never "
        "issues a second fapiao.")
    provider = fields.Selection(PROVIDERS, "Provider", readonly=True)
    red = fields.Boolean("Red Letter", readonly=True)
    blue = fields.Many2One('dualrec.fapiao', "Reverses", readonly=True,
        states={'invisible': ~Eval('red')})
    reds = fields.One2Many('dualrec.fapiao', 'blue', "Red Letters",
        readonly=True)
    confirmation = fields.Char("Red-Letter Confirmation", readonly=True,
        states={'invisible': ~Eval('red')},
        help="The number of the 红字确认单.")
    reason = fields.Text("Reason", readonly=True,
        states={'invisible': ~Eval('reason')})
    buyer_name = fields.Char("Buyer", states=_draft)
    buyer_tax_id = fields.Char("Buyer Tax ID", states=_draft,
        help="The buyer's unified social credit code (纳税人识别号).")
    seller_tax_id = fields.Char("Seller Tax ID", readonly=True,
        states={'invisible': Eval('direction') != 'in'})
    remark = fields.Char("Remark", states=_draft)
    currency = fields.Many2One('currency.currency', "Currency",
        required=True, readonly=True)
    untaxed_amount = fields.Numeric("Untaxed", digits=(16, 2),
        readonly=True)
    tax_amount = fields.Numeric("Tax", digits=(16, 2), readonly=True)
    total_amount = fields.Numeric("Total", digits=(16, 2), readonly=True)
    number = fields.Char("Fapiao Number", readonly=True)
    code = fields.Char("Fapiao Code", readonly=True,
        help="Legacy fapiao only: the 10 or 12 digit code.")
    issue_date = fields.Date("Issue Date", readonly=True)
    cause = fields.Text("Cause", readonly=True,
        states={'invisible': ~Eval('cause')},
        help="Why the provider failed it, or the last error of the "
        "provider.")
    requested_at = fields.DateTime("Requested At", readonly=True)
    issued_at = fields.DateTime("Issued At", readonly=True)
    state = fields.Selection(STATES, "State", required=True, readonly=True,
        sort=False)
    state_string = state.translated('state')
    kind_string = kind.translated('kind')

    del _draft

    @classmethod
    def __setup__(cls):
        super().__setup__()
        table = cls.__table__()
        cls._sql_constraints += [
            ('request_no_unique', Unique(table, table.company,
                    table.request_no),
                'dualrec_finance.msg_fapiao_request_no_unique'),
            ]
        cls._order = [('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'issuing'),
            ('issuing', 'issued'),
            ('issuing', 'failed'),
            ('issued', 'voided'),
            ('issued', 'reversed'),
            }
        cls._buttons.update({
                'request': {
                    'invisible': Eval('state') != 'draft',
                    'icon': 'tryton-forward', 'depends': ['state']},
                'poll': {
                    'invisible': ((Eval('state') != 'issuing')
                        | (Eval('provider') != 'http')),
                    'icon': 'tryton-refresh',
                    'depends': ['state', 'provider']},
                'enter': {
                    'invisible': ((Eval('state') != 'issuing')
                        | (Eval('provider') != 'manual')),
                    'depends': ['state', 'provider']},
                'retry': {
                    'invisible': Eval('state') != 'failed',
                    'icon': 'tryton-refresh', 'depends': ['state']},
                'void': {
                    'invisible': ((Eval('state') != 'issued')
                        | Eval('red') | (Eval('direction') != 'out')
                        | Eval('kind').in_(list(cn_fapiao.DIGITAL_KINDS))),
                    'icon': 'tryton-cancel',
                    'depends': ['state', 'red', 'direction', 'kind']},
                'red_letter': {
                    'invisible': ((Eval('state') != 'issued')
                        | Eval('red') | (Eval('direction') != 'out')),
                    'depends': ['state', 'red', 'direction']},
                })

    @staticmethod
    def default_state():
        return 'draft'

    @staticmethod
    def default_direction():
        return 'out'

    @staticmethod
    def default_red():
        return False

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def now(cls):
        return Pool().get('dualrec.statement').now()

    def get_rec_name(self, name):
        return self.number or self.request_no or str(self.id)

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value = clause
        bool_op = 'AND' if operator.startswith('!') else 'OR'
        return [bool_op,
            ('number', operator, value),
            ('request_no', operator, value),
            ]

    @classmethod
    def validate_fields(cls, fapiaos, field_names):
        super().validate_fields(fapiaos, field_names)
        if field_names & {'number', 'code', 'kind'}:
            for fapiao in fapiaos:
                if fapiao.number:
                    try:
                        cn_fapiao.check_number(
                            fapiao.kind, fapiao.number, fapiao.code)
                    except CodedError as error:
                        raise_coded(error)
            cls._check_unique_number(fapiaos)

    @classmethod
    def _check_unique_number(cls, fapiaos):
        for fapiao in fapiaos:
            if not fapiao.number:
                continue
            with without_check_access():
                others = cls.search([
                        ('direction', '=', fapiao.direction),
                        ('number', '=', fapiao.number),
                        ('code', '=', fapiao.code),
                        ('id', '!=', fapiao.id),
                        ('state', '!=', 'failed'),
                        ], limit=1)
            if others:
                raise FapiaoError(gettext(
                        'dualrec_finance.msg_fapiao_number_unique',
                        number=fapiao.number,
                        invoice=others[0].invoice.rec_name))

    @classmethod
    def _log(cls, action, fapiaos, details=None):
        AuditLog = Pool().get('dualrec.audit.log')
        with without_check_access():
            AuditLog.log(action, fapiaos, model=cls.__name__,
                details=details)

    @classmethod
    def _next_request_no(cls):
        Configuration = Pool().get('dualrec.finance.configuration')
        return Configuration(1).fapiao_sequence.get()

    # requests of customer invoices
    @classmethod
    def create_for_invoices(cls, invoices, kind=None):
        """Create the draft fapiao requests of posted customer invoices
        (their 开票申请) and return them."""
        pool = Pool()
        Configuration = pool.get('dualrec.finance.configuration')
        Statement = pool.get('dualrec.statement')
        configuration = Configuration(1)
        fapiaos = []
        for invoice in invoices:
            statements = Statement.search([('invoice', '=', invoice.id)])
            statement = statements[0] if statements else None
            tax_id = invoice.party.tax_identifier
            remark = invoice.reference or ''
            if statement:
                # printed on a Chinese fapiao, whoever asks for it
                with Transaction().set_context(language='zh_CN'):
                    remark = gettext('dualrec_finance.msg_fapiao_remark',
                        statement=statement.number,
                        date_from=statement.date_from,
                        date_to=statement.date_to)
            fapiaos.append(cls(company=invoice.company, invoice=invoice,
                    statement=statement, party=invoice.party,
                    direction='out',
                    kind=kind or configuration.fapiao_kind,
                    request_no=cls._next_request_no(),
                    buyer_name=invoice.party.name,
                    buyer_tax_id=tax_id.code if tax_id else None,
                    remark=remark, currency=invoice.currency,
                    untaxed_amount=invoice.untaxed_amount,
                    tax_amount=invoice.tax_amount,
                    total_amount=invoice.total_amount))
        # created by finance's actions only, never by hand
        with without_check_access():
            cls.save(fapiaos)
        return fapiaos

    def check_request(self):
        """Refuse, before it is sent, what the provider would refuse: the
        buyer's tax id, names and remark over their GBK byte limits, a
        service without tax classification code."""
        try:
            cn_fapiao.check_gbk(self.buyer_name, cn_fapiao.BUYER_NAME_LIMIT,
                'buyer name')
            cn_fapiao.check_gbk(self.remark, cn_fapiao.REMARK_LIMIT,
                'remark')
            if (self.buyer_tax_id
                    or self.kind in {'digital_special', 'paper_special'}):
                cn_fapiao.check_tax_id(self.buyer_tax_id)
            for line in self.invoice.line_lines:
                name = line.product.name if line.product else line.description
                cn_fapiao.check_gbk(name, cn_fapiao.ITEM_NAME_LIMIT,
                    'item name')
                code = (line.product.template.fapiao_tax_code
                    if line.product else None)
                if not code:
                    raise FapiaoError(gettext(
                            'dualrec_finance.msg_fapiao_no_tax_code',
                            product=name))
                cn_fapiao.check_tax_code(code)
        except CodedError as error:
            raise_coded(error)
        if not self.buyer_name:
            raise FapiaoError(gettext(
                    'dualrec_finance.msg_fapiao_no_buyer',
                    fapiao=self.rec_name))

    def get_payload(self, callback_url=None):
        "Return the request that the provider is sent."
        lines = []
        for line in self.invoice.line_lines:
            taxes = [t for t in self.invoice.taxes
                if t.tax and t.tax in line.taxes]
            rate = line.taxes[0].rate if line.taxes else Decimal(0)
            lines.append({
                    'name': line.product.name if line.product
                    else line.description,
                    'tax_code': line.product.template.fapiao_tax_code
                    if line.product else None,
                    'quantity': str(line.quantity),
                    'unit_price': str(line.unit_price),
                    'tax_rate': str(rate),
                    'amount': str(line.amount),
                    'tax': str(sum((t.amount for t in taxes), Decimal(0))),
                    })
        payload = {
            'request_no': self.request_no,
            'kind': self.kind,
            'type_code': cn_fapiao.KINDS[self.kind][1],
            'buyer_name': self.buyer_name,
            'buyer_tax_id': self.buyer_tax_id,
            'remark': self.remark,
            'untaxed': str(self.untaxed_amount),
            'tax': str(self.tax_amount),
            'total': str(self.total_amount),
            'lines': lines,
            }
        if callback_url:
            payload['callback_url'] = callback_url
        return payload

    @classmethod
    @ModelView.button
    @Workflow.transition('issuing')
    def request(cls, fapiaos):
        """Send the requests: checked first; then sent to the HTTP
        provider by a queued task, or issued by finance (manual)."""
        pool = Pool()
        Configuration = pool.get('dualrec.finance.configuration')
        configuration = Configuration(1)
        for fapiao in fapiaos:
            fapiao.check_request()
            if not fapiao.red:
                cls._check_one_live(fapiao)
        cls.write(list(fapiaos), {
                'provider': configuration.fapiao_provider,
                'requested_at': cls.now(),
                'cause': None,
                })
        cls._log('fapiao_request', fapiaos)
        if configuration.fapiao_provider == 'http':
            with Transaction().set_context(queue_name=QUEUE):
                for fapiao in fapiaos:
                    cls.__queue__.send([fapiao])

    @classmethod
    def _check_one_live(cls, fapiao):
        "An invoice has at most one blue fapiao that is not failed."
        with without_check_access():
            others = cls.search([
                    ('invoice', '=', fapiao.invoice.id),
                    ('direction', '=', 'out'),
                    ('red', '=', False),
                    ('id', '!=', fapiao.id),
                    ('state', 'in', ['issuing', 'issued']),
                    ], limit=1)
        if others:
            raise FapiaoError(gettext(
                    'dualrec_finance.msg_fapiao_one_live',
                    invoice=fapiao.invoice.rec_name,
                    fapiao=others[0].rec_name))

    @classmethod
    def send(cls, fapiaos):
        """Send the issuing requests to the HTTP provider (a queued task:
        sending again is harmless, the request number is the idempotency
        key) and apply the result if it comes within the configured
        wait."""
        pool = Pool()
        Configuration = pool.get('dualrec.finance.configuration')
        configuration = Configuration(1)
        fapiaos = [f for f in cls.browse(fapiaos)
            if f.state == 'issuing' and f.provider == 'http']
        if not fapiaos:
            return
        provider = configuration.get_provider()
        callback_url = configuration.get_callback_url()
        for fapiao in fapiaos:
            try:
                if fapiao.red:
                    status = provider.red_letter(fapiao.blue.number,
                        fapiao.request_no, reason=fapiao.reason,
                        callback_url=callback_url)
                else:
                    status = provider.issue(fapiao.get_payload(callback_url))
                if not status.final and configuration.fapiao_wait:
                    status = provider.wait(fapiao.request_no,
                        timeout=configuration.fapiao_wait)
            except ProviderError as error:
                # left issuing: the cron polls and sends it again
                cls.write([fapiao], {'cause': error.message})
                continue
            fapiao.apply_status(status)

    @classmethod
    @ModelView.button
    def poll(cls, fapiaos):
        """Ask the provider for the result of issuing requests; a request
        the provider does not know (it never arrived) is sent again."""
        pool = Pool()
        Configuration = pool.get('dualrec.finance.configuration')
        fapiaos = [f for f in cls.browse(fapiaos)
            if f.state == 'issuing' and f.provider == 'http']
        if not fapiaos:
            return
        provider = Configuration(1).get_provider()
        resend = []
        for fapiao in fapiaos:
            try:
                status = provider.query(fapiao.request_no)
            except ProviderError as error:
                if error.params.get('status') == 404:
                    resend.append(fapiao)
                else:
                    cls.write([fapiao], {'cause': error.message})
                continue
            fapiao.apply_status(status)
        if resend:
            cls.send(resend)

    @classmethod
    def poll_issuing(cls):
        "Poll every issuing request of the HTTP provider (cron)."
        with without_check_access():
            fapiaos = cls.search([
                    ('state', '=', 'issuing'),
                    ('provider', '=', 'http'),
                    ], order=[('id', 'ASC')])
        by_company = {}
        for fapiao in fapiaos:
            by_company.setdefault(fapiao.company.id, []).append(fapiao)
        for company, fapiaos in by_company.items():
            with Transaction().set_context(company=company):
                cls.poll(cls.browse(fapiaos))

    @classmethod
    def callback(cls, request_no):
        """The provider calls back for request_no: read its result back
        from the provider (the callback itself is not trusted).  Return
        the fapiao or None when no issuing request has this number."""
        with without_check_access():
            fapiaos = cls.search([('request_no', '=', request_no)], limit=1)
        if not fapiaos:
            return None
        fapiao, = fapiaos
        with Transaction().set_context(company=fapiao.company.id):
            cls.poll([fapiao])
        return cls(fapiao.id)

    def apply_status(self, status):
        "Apply the FapiaoStatus of the provider to the request."
        if status.request_no != self.request_no or status.state == ISSUING:
            return
        if status.state == ISSUED and self.state == 'issuing':
            self.issue(status.number, status.date, status.files,
                code=status.code, confirmation=status.confirmation)
        elif status.state == FAILED and self.state == 'issuing':
            self.__class__.fail([self], status.cause)
        elif status.state == VOIDED and self.state == 'issued':
            self.__class__._voided([self])

    def issue(self, number, date, files=None, code=None, confirmation=None):
        "Mark the issuing request issued as number of date with its files."
        cls = self.__class__
        if isinstance(date, str):
            date = dt.date.fromisoformat(date)
        self.number = number
        self.code = code
        self.issue_date = date
        self.confirmation = confirmation or self.confirmation
        self.issued_at = cls.now()
        self.cause = None
        self.save()
        self.attach_files(files or {})
        cls._issued([self])

    @classmethod
    @Workflow.transition('issued')
    def _issued(cls, fapiaos):
        cls._log('fapiao_issue', fapiaos,
            ', '.join(f.number for f in fapiaos))
        reds = [f for f in fapiaos if f.red]
        if reds:
            cls._reversed([f.blue for f in reds])
            cls.reverse_invoices(reds)

    @classmethod
    @Workflow.transition('reversed')
    def _reversed(cls, fapiaos):
        pass

    @classmethod
    @Workflow.transition('failed')
    def fail(cls, fapiaos, cause=None):
        cls.write(list(fapiaos), {'cause': cause})
        cls._log('fapiao_fail', fapiaos, cause)

    def attach_files(self, files):
        """Attach the fapiao's files (base64 of PDF, OFD, XML) to its
        invoice: the XML or OFD is the legal original."""
        Attachment = Pool().get('ir.attachment')
        attachments = []
        for kind in FILE_KINDS:
            if files.get(kind):
                data = files[kind]
                if isinstance(data, str):
                    data = base64.b64decode(data)
                attachments.append(Attachment(
                        resource=self.invoice,
                        name=f'{self.number}.{kind}',
                        type='data', data=data))
        if attachments:
            with without_check_access():
                Attachment.save(attachments)

    @classmethod
    @ModelView.button_action('dualrec_finance.wizard_fapiao_enter')
    def enter(cls, fapiaos):
        pass

    @classmethod
    @ModelView.button
    def retry(cls, fapiaos):
        "Request again what failed, under a new request number."
        cls.copy_failed(fapiaos)

    @classmethod
    def copy_failed(cls, fapiaos):
        """Return the new draft requests of the failed fapiaos, with new
        request numbers: the failed requests stay as they were."""
        new = []
        for fapiao in fapiaos:
            if fapiao.state != 'failed':
                continue
            with without_check_access():
                new.extend(cls.copy([fapiao], default={
                            'request_no': cls._next_request_no(),
                            'state': 'draft',
                            }))
        return new

    @classmethod
    def copy(cls, fapiaos, default=None):
        default = default.copy() if default else {}
        for name in ['number', 'code', 'issue_date', 'cause',
                'requested_at', 'issued_at', 'provider', 'confirmation',
                'reds']:
            default.setdefault(name, None)
        default.setdefault('state', 'draft')
        return super().copy(fapiaos, default=default)

    @classmethod
    @ModelView.button
    def void(cls, fapiaos):
        """Void issued paper fapiao (作废, in their month): with the HTTP
        provider through its API; the invoice is cancelled and the
        statement reopened."""
        pool = Pool()
        Configuration = pool.get('dualrec.finance.configuration')
        for fapiao in fapiaos:
            if (fapiao.state != 'issued' or fapiao.red
                    or fapiao.kind in cn_fapiao.DIGITAL_KINDS):
                raise FapiaoError(gettext(
                        'dualrec_finance.msg_fapiao_void_digital',
                        fapiao=fapiao.rec_name))
            cls._check_reversible(fapiao)
        for fapiao in fapiaos:
            if fapiao.provider == 'http':
                provider = Configuration(1).get_provider()
                try:
                    status = provider.void(fapiao.request_no)
                except ProviderError as error:
                    raise_coded(error)
                if status.state != VOIDED:
                    raise FapiaoError(gettext(
                            'dualrec_finance.msg_fapiao_not_voided',
                            fapiao=fapiao.rec_name))
        cls._voided(fapiaos)

    @classmethod
    @Workflow.transition('voided')
    def _voided(cls, fapiaos):
        cls._log('fapiao_void', fapiaos)
        cls.reverse_invoices(fapiaos)

    @classmethod
    def _check_reversible(cls, fapiao):
        "A fapiao is reversed only while its invoice is not paid."
        invoice = fapiao.invoice
        if invoice.state != 'posted':
            states = dict(invoice.fields_get(['state'])['state']['selection'])
            raise FapiaoError(gettext(
                    'dualrec_finance.msg_fapiao_invoice_not_posted',
                    fapiao=fapiao.rec_name, invoice=invoice.rec_name,
                    state=states[invoice.state]))

    @classmethod
    @ModelView.button_action('dualrec_finance.wizard_fapiao_red_letter')
    def red_letter(cls, fapiaos):
        pass

    @classmethod
    def request_red_letter(cls, blues, reason):
        """Create and send the red-letter requests (红字确认单 then red
        fapiao) of issued blue fapiao; return them."""
        reds = []
        for blue in blues:
            if blue.state != 'issued' or blue.red or blue.direction != 'out':
                raise FapiaoError(gettext(
                        'dualrec_finance.msg_fapiao_red_state',
                        fapiao=blue.rec_name))
            cls._check_reversible(blue)
            if any(r.state in {'draft', 'issuing', 'issued'}
                    for r in blue.reds):
                raise FapiaoError(gettext(
                        'dualrec_finance.msg_fapiao_red_twice',
                        fapiao=blue.rec_name))
            reds.append(cls(company=blue.company, invoice=blue.invoice,
                    statement=blue.statement, party=blue.party,
                    direction='out', kind=blue.kind, red=True, blue=blue,
                    request_no=cls._next_request_no(), reason=reason,
                    buyer_name=blue.buyer_name,
                    buyer_tax_id=blue.buyer_tax_id, remark=blue.remark,
                    currency=blue.currency,
                    untaxed_amount=-blue.untaxed_amount,
                    tax_amount=-blue.tax_amount,
                    total_amount=-blue.total_amount))
        with without_check_access():
            cls.save(reds)
        cls._log('fapiao_red_letter', reds, reason)
        cls.request(reds)
        return reds

    @classmethod
    def reverse_invoices(cls, fapiaos):
        """Cancel the invoices of reversed or voided fapiao by a credit note
        of the same amounts (the red invoice) and reopen their
        statements."""
        pool = Pool()
        Invoice = pool.get('account.invoice')
        Statement = pool.get('dualrec.statement')
        invoices = list({f.invoice for f in fapiaos})
        with without_check_access():
            for invoice in invoices:
                if invoice.state == 'cancelled':
                    continue
                credit, = Invoice.credit([invoice])
                expected = {}
                for tax in invoice.taxes:
                    if tax.tax:
                        expected[tax.tax.id] = (
                            expected.get(tax.tax.id, 0) - tax.amount)
                set_invoice_taxes(credit, expected)
                Invoice.post([credit])
                invoice = Invoice(invoice.id)
                invoice.cancel_move = Invoice(credit.id).move
                invoice.save()
                Invoice.cancel([invoice])
            statements = Statement.search([
                    ('invoice', 'in', [i.id for i in invoices]),
                    ('state', '=', 'invoiced'),
                    ])
            if statements:
                numbers = ', '.join(f.rec_name for f in fapiaos)
                Statement.reopen(statements, comment=numbers)

    # fapiao of suppliers
    @classmethod
    def register(cls, invoice, kind, number, issue_date, total_amount,
            tax_amount, code=None, seller_tax_id=None, file_name=None,
            data=None):
        """Register the fapiao that the supplier issued for the posted
        supplier invoice; it must match the invoice (amounts and seller).
        Return it."""
        if invoice.type != 'in' or invoice.state not in {'posted', 'paid'}:
            raise FapiaoError(gettext(
                    'dualrec_finance.msg_fapiao_register_invoice',
                    invoice=invoice.rec_name))
        try:
            number, code = cn_fapiao.check_number(kind, number, code)
            if seller_tax_id:
                seller_tax_id = cn_fapiao.check_tax_id(seller_tax_id)
        except CodedError as error:
            raise_coded(error)
        party_tax_id = invoice.party.tax_identifier
        if (seller_tax_id and party_tax_id
                and party_tax_id.code != seller_tax_id):
            raise FapiaoError(gettext(
                    'dualrec_finance.msg_fapiao_register_seller',
                    tax_id=seller_tax_id, party=invoice.party.rec_name,
                    expected=party_tax_id.code))
        if (total_amount != invoice.total_amount
                or tax_amount != invoice.tax_amount):
            raise FapiaoError(gettext(
                    'dualrec_finance.msg_fapiao_register_amount',
                    total=total_amount, tax=tax_amount,
                    invoice=invoice.rec_name,
                    invoice_total=invoice.total_amount,
                    invoice_tax=invoice.tax_amount))
        Statement = Pool().get('dualrec.statement')
        statements = Statement.search([('invoice', '=', invoice.id)])
        fapiao = cls(company=invoice.company, invoice=invoice,
            statement=statements[0] if statements else None,
            party=invoice.party, direction='in', kind=kind,
            number=number, code=code, issue_date=issue_date,
            seller_tax_id=seller_tax_id, provider='manual',
            currency=invoice.currency,
            untaxed_amount=total_amount - tax_amount,
            tax_amount=tax_amount, total_amount=total_amount,
            issued_at=cls.now(), state='issued')
        with without_check_access():
            fapiao.save()
        if data:
            Attachment = Pool().get('ir.attachment')
            with without_check_access():
                Attachment.save([Attachment(resource=invoice,
                            name=file_name or f'{number}.pdf',
                            type='data', data=data)])
        cls._log('fapiao_register', [fapiao], number)
        return fapiao


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    fapiaos = fields.One2Many('dualrec.fapiao', 'invoice', "Fapiao",
        readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'register_fapiao': {
                    'invisible': ((Eval('type') != 'in')
                        | ~Eval('state').in_(['posted', 'paid'])),
                    'depends': ['type', 'state'],
                    },
                })

    @classmethod
    @ModelView.button_action('dualrec_finance.wizard_fapiao_register')
    def register_fapiao(cls, invoices):
        pass

    @classmethod
    def copy(cls, invoices, default=None):
        default = default.copy() if default else {}
        default.setdefault('fapiaos', None)
        return super().copy(invoices, default=default)


class ProductTemplate(metaclass=PoolMeta):
    __name__ = 'product.template'

    fapiao_tax_code = fields.Char("Tax Classification Code", size=19,
        help="The 19-digit 税收分类编码 printed on the fapiao of this "
        "service.")

    @classmethod
    def validate_fields(cls, templates, field_names):
        super().validate_fields(templates, field_names)
        if 'fapiao_tax_code' in field_names:
            for template in templates:
                if template.fapiao_tax_code:
                    try:
                        cn_fapiao.check_tax_code(template.fapiao_tax_code)
                    except CodedError as error:
                        raise_coded(error)


class EnterStart(ModelView):
    "The fapiao that finance issued in the tax bureau's platform."
    __string__ = "Enter Fapiao"
    __name__ = 'dualrec.fapiao.enter.start'

    kind = fields.Selection(KINDS, "Kind", readonly=True)
    red = fields.Boolean("Red Letter", readonly=True)
    number = fields.Char("Fapiao Number", required=True)
    code = fields.Char("Fapiao Code",
        states={
            'invisible': Eval('kind').in_(list(cn_fapiao.DIGITAL_KINDS)),
            'required': ~Eval('kind').in_(list(cn_fapiao.DIGITAL_KINDS)),
            })
    issue_date = fields.Date("Issue Date", required=True)
    confirmation = fields.Char("Red-Letter Confirmation",
        states={'invisible': ~Eval('red'), 'required': Bool(Eval('red'))})
    xml = fields.Binary("XML File", help="The legal original of a 数电票.")
    ofd = fields.Binary("OFD File")
    pdf = fields.Binary("PDF File")

    @staticmethod
    def default_issue_date():
        return Pool().get('ir.date').today()


class Enter(Wizard):
    "Enter the fapiao issued in the tax bureau's platform."
    __name__ = 'dualrec.fapiao.enter'
    start = StateView('dualrec.fapiao.enter.start',
        'dualrec_finance.fapiao_enter_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Enter", 'enter', 'tryton-ok', default=True),
            ])
    enter = StateTransition()

    def default_start(self, fields):
        return {'kind': self.record.kind, 'red': self.record.red}

    def transition_enter(self):
        fapiao = self.record
        if fapiao.state != 'issuing' or fapiao.provider != 'manual':
            raise FapiaoError(gettext(
                    'dualrec_finance.msg_fapiao_enter_state',
                    fapiao=fapiao.rec_name))
        try:
            number, code = cn_fapiao.check_number(
                fapiao.kind, self.start.number, self.start.code)
        except CodedError as error:
            raise_coded(error)
        files = {kind: getattr(self.start, kind) for kind in FILE_KINDS
            if getattr(self.start, kind)}
        fapiao.issue(number, self.start.issue_date, files, code=code,
            confirmation=self.start.confirmation)
        return 'end'


class RedLetterStart(ModelView):
    "Why the fapiao is reversed."
    __string__ = "Red-Letter Fapiao"
    __name__ = 'dualrec.fapiao.red_letter.start'

    reason = fields.Text("Reason", required=True)


class RedLetter(Wizard):
    "Reverse a fapiao by a red-letter fapiao."
    __name__ = 'dualrec.fapiao.red_letter'
    start = StateView('dualrec.fapiao.red_letter.start',
        'dualrec_finance.fapiao_red_letter_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Request", 'request', 'tryton-ok', default=True),
            ])
    request = StateTransition()

    def transition_request(self):
        self.model.request_red_letter(self.records, self.start.reason)
        return 'end'


class RegisterStart(ModelView):
    "The fapiao the supplier issued for the invoice."
    __string__ = "Register Supplier Fapiao"
    __name__ = 'dualrec.fapiao.register.start'

    kind = fields.Selection(KINDS, "Kind", required=True)
    number = fields.Char("Fapiao Number", required=True)
    code = fields.Char("Fapiao Code",
        states={
            'invisible': Eval('kind').in_(list(cn_fapiao.DIGITAL_KINDS)),
            'required': ~Eval('kind').in_(list(cn_fapiao.DIGITAL_KINDS)),
            })
    issue_date = fields.Date("Issue Date", required=True)
    seller_tax_id = fields.Char("Seller Tax ID")
    total_amount = fields.Numeric("Total", digits=(16, 2), required=True)
    tax_amount = fields.Numeric("Tax", digits=(16, 2), required=True)
    file_ = fields.Binary("File", filename='file_name')
    file_name = fields.Char("File Name")

    @staticmethod
    def default_kind():
        return 'digital_special'

    @staticmethod
    def default_issue_date():
        return Pool().get('ir.date').today()


class Register(Wizard):
    "Register the fapiao of a supplier invoice."
    __name__ = 'dualrec.fapiao.register'
    start = StateView('dualrec.fapiao.register.start',
        'dualrec_finance.fapiao_register_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Register", 'register', 'tryton-ok', default=True),
            ])
    register = StateTransition()

    def default_start(self, fields):
        invoice = self.record
        tax_id = invoice.party.tax_identifier
        return {
            'total_amount': invoice.total_amount,
            'tax_amount': invoice.tax_amount,
            'seller_tax_id': tax_id.code if tax_id else None,
            }

    def transition_register(self):
        Fapiao = Pool().get('dualrec.fapiao')
        start = self.start
        Fapiao.register(self.record, start.kind, start.number,
            start.issue_date, start.total_amount, start.tax_amount,
            code=start.code, seller_tax_id=start.seller_tax_id,
            file_name=start.file_name, data=start.file_)
        return 'end'


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('dualrec.fapiao|poll_issuing', "Poll Fapiao Requests"))
