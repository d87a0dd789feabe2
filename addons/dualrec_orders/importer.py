# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Orders imported from spreadsheets (xlsx or CSV in UTF-8 or GBK).

An import reads its file in batches of orders: references are resolved in
bulk with caches, the existing orders of the batch are looked up by their
external references and compared by fingerprint (no line read for an
unchanged order), the new orders are created in one
``Order._bulk_create`` per batch (multirow inserts of the orders, their
lines, events and audit entries, on the references resolved here).  A file over the configured number of rows is imported by a queued
task that commits each batch with the progress, so that a restart resumes
where the last batch ended.
"""
import json
import logging
from types import SimpleNamespace

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool
from trytond.tools import grouped_slice
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import (
    Button, StateAction, StateTransition, StateView, Wizard)

from dualrec.sheets import files, orders as sheet

from .exceptions import OrderImportError
from .order_type import ExtensionKey_accepts

logger = logging.getLogger(__name__)

STATES = [
    ('draft', "Draft"),
    ('previewed', "Previewed"),
    ('queued', "Queued"),
    ('running', "Running"),
    ('done', "Done"),
    ('failed', "Failed"),
    ]
BATCH = 500
COUNTS = ('new_rows', 'unchanged_rows', 'updated_rows', 'rejected_rows')


class OrderImport(Workflow, ModelSQL, ModelView):
    "A spreadsheet of orders and what its import did."
    __string__ = "Order Import"
    __name__ = 'dualrec.order.import'

    _draft = {'readonly': Eval('state') != 'draft'}

    company = fields.Many2One('company.company', "Company", required=True,
        states=_draft, ondelete='RESTRICT',
        help="The company the orders are imported into.")
    file = fields.Binary("File", required=True, filename='filename',
        states=_draft, help="The xlsx or CSV (UTF-8 or GBK) file of orders.")
    filename = fields.Char("File Name", states=_draft,
        help="The name of the file.")
    source = fields.Char("Source", required=True, strip=True,
        states=_draft,
        help="The source of the orders; with the external reference it "
        "identifies an order, so a file imported twice creates nothing.")
    confirm = fields.Boolean("Confirm Orders", states=_draft,
        help="Confirm the orders the import creates.")
    state = fields.Selection(STATES, "State", readonly=True, required=True,
        sort=False, help="Where the import is.")
    total_rows = fields.Integer("Rows", readonly=True,
        help="The number of rows of the file.")
    new_rows = fields.Integer("New", readonly=True,
        help="The rows of orders that do not exist yet.")
    unchanged_rows = fields.Integer("Unchanged", readonly=True,
        help="The rows of orders that exist with the same content.")
    updated_rows = fields.Integer("Updated", readonly=True,
        help="The rows of draft orders whose content changed.")
    rejected_rows = fields.Integer("Rejected", readonly=True,
        help="The rows that are not imported; the error file gives why.")
    progress = fields.Integer("Progress", readonly=True,
        help="The number of rows processed so far.")
    error_file = fields.Binary("Rejected Rows", readonly=True,
        filename='error_filename',
        help="The rejected rows with their reason, as xlsx.")
    error_filename = fields.Char("Rejected Rows File Name", readonly=True,
        help="The name of the file of rejected rows.")
    messages = fields.Text("Messages", readonly=True,
        help="What the import noticed: ignored columns, failures.")

    del _draft

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('create_date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'previewed'),
            ('previewed', 'queued'),
            ('previewed', 'running'),
            ('queued', 'running'),
            ('running', 'done'),
            ('running', 'failed'),
            ('queued', 'failed'),
            }
        cls._buttons.update({
                'preview': {
                    'invisible': Eval('state') != 'draft',
                    'depends': ['state'],
                    },
                'import_': {
                    'invisible': Eval('state') != 'previewed',
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_source(cls):
        return 'import'

    @classmethod
    def default_confirm(cls):
        return False

    @classmethod
    def default_state(cls):
        return 'draft'

    @classmethod
    def queue_rows(cls):
        "Return the number of rows above which a file is queued."
        Configuration = Pool().get('dualrec.order.configuration')
        return Configuration(1).import_queue_rows or 0

    def is_queued(self):
        return (self.total_rows or 0) > self.queue_rows()

    # -- workflow -------------------------------------------------------------

    @classmethod
    @ModelView.button
    @Workflow.transition('previewed')
    def preview(cls, imports):
        """Count the rows of imports and, for a file that is not queued,
        what importing it would do (nothing is written)."""
        for record in imports:
            data = bytes(record.file or b'')
            try:
                total = files.count_rows(data)
            except files.SheetError as error:
                raise OrderImportError(gettext(
                        'dualrec_orders.msg_import_' + error.code,
                        **error.params)) from error
            record.total_rows = total
            for name in COUNTS:
                setattr(record, name, 0)
            record.progress = 0
            record.messages = None
            if record.is_queued():
                record.messages = gettext(
                    'dualrec_orders.msg_import_will_queue',
                    rows=total, limit=record.queue_rows())
            else:
                with without_check_access():
                    Importer(record, dry_run=True).run()
        cls.save(imports)

    @classmethod
    @ModelView.button
    def import_(cls, imports):
        """Import previewed imports: a file over the configured rows by a
        queued task, the others now."""
        queued = [i for i in imports if i.is_queued()]
        now = [i for i in imports if not i.is_queued()]
        if queued:
            cls.write(queued, {'state': 'queued', 'progress': 0})
            for record in queued:
                cls.__queue__.run_import([record])
        if now:
            cls.run_import(now, commit=False)

    @classmethod
    def run_import(cls, imports, commit=True):
        """Import imports, resuming from their progress; when commit is
        True (the queued task) each batch is committed with its progress
        (tests run the task inside their transaction with the context key
        ``_dualrec_import_no_commit``)."""
        if Transaction().context.get('_dualrec_import_no_commit'):
            commit = False
        for record in imports:
            if record.state not in {'previewed', 'queued', 'running'}:
                continue
            if record.state != 'running':
                if record.state == 'previewed':
                    record.progress = 0
                record.state = 'running'
                record.save()
            try:
                with without_check_access():
                    Importer(record, commit=commit).run()
            except Exception as error:
                if not commit:
                    raise
                logger.exception("import %s failed", record.id)
                transaction = Transaction()
                transaction.rollback()
                record = cls(record.id)
                record.state = 'failed'
                record.messages = '\n'.join(filter(None, [
                            record.messages, str(error)]))
                record.save()
                transaction.commit()
                continue
            record.state = 'done'
            record.save()
            if commit:
                Transaction().commit()


class Importer:
    "The import of one file, batch by batch."

    def __init__(self, record, dry_run=False, commit=False):
        pool = Pool()
        self.record = record
        self.dry_run = dry_run
        self.commit = commit
        self.company = record.company.id
        self.source = record.source
        self.Order = pool.get('dualrec.order')
        self.currency = self.Order.default_currency()
        self.parties, self.products, self.branches = {}, {}, {}
        self.types = {}
        self.type_keys = {}
        OrderType = pool.get('dualrec.order.type')
        Language = pool.get('ir.lang')
        types = OrderType.search([('active', 'in', [True, False])])
        for type_ in types:
            self.types.setdefault(type_.code, type_)
            self.type_keys[type_.id] = {k.name for k in type_.extension_keys}
        # a type by its name in any language (订单类型 in Chinese sheets)
        for language in Language.search([('translatable', '=', True)]):
            with Transaction().set_context(language=language.code):
                for type_ in OrderType.browse(types):
                    self.types.setdefault(type_.name, OrderType(type_.id))
        for type_ in types:
            self.types.setdefault(type_.name, type_)
        # plain copies: an attribute of a record costs more than the check
        self.keys = {k.name: _snapshot(k) for k in pool.get(
                'dualrec.order.extension.key').search([])}
        self.rejected = []

    def extension_keys(self):
        result = {}
        for name, key in self.keys.items():
            selection = ()
            if key.type_ in {'selection', 'multiselection'}:
                selection = tuple(k for k, _ in json.loads(
                        key.selection_json or '[]'))
            result[name] = (key.string, key.type_, selection)
        return result

    def run(self):
        record = self.record
        data = bytes(record.file or b'')
        try:
            rows = files.read_rows(data)
            header = sheet.Header(next(rows, ()), self.extension_keys())
        except files.SheetError as error:
            raise OrderImportError(gettext(
                    'dualrec_orders.msg_import_' + error.code,
                    columns=', '.join(error.params.get('columns', [])))) \
                from error
        if header.ignored:
            record.messages = gettext(
                'dualrec_orders.msg_import_ignored_columns',
                columns=', '.join(header.ignored))
        start = 0 if self.dry_run else (record.progress or 0)
        counts = {n: (getattr(record, n) or 0) if start else 0
            for n in COUNTS}
        processed = start
        # row 1 is the header: data rows are numbered from 2
        numbered = enumerate(rows, 2)
        for batch in sheet.read_orders(numbered, header, BATCH):
            batch = [e for e in batch if e['rows'][-1][0] - 1 > start]
            if not batch:
                continue
            for kind, entry in self.process(batch):
                counts[kind] += len(entry['rows'])
                processed += len(entry['rows'])
                if kind == 'rejected_rows':
                    for number, cells, reason in sheet.row_reasons(entry):
                        self.rejected.append((cells, self.reason(reason)))
            if not self.dry_run:
                processed = batch[-1]['rows'][-1][0] - 1
                record.progress = processed
                for name, value in counts.items():
                    setattr(record, name, value)
                record.save()
                if self.commit:
                    Transaction().commit()
        for name, value in counts.items():
            setattr(record, name, value)
        record.progress = processed if not self.dry_run else 0
        if not self.dry_run or self.rejected:
            record.total_rows = max(record.total_rows or 0, processed)
        if self.rejected:
            record.error_file = files.write_rows(header.cells, self.rejected,
                reason_label=gettext('dualrec_orders.msg_import_reason'))
            stem = (record.filename or 'orders').rsplit('.', 1)[0]
            record.error_filename = f'{stem}-rejected.xlsx'
        else:
            record.error_file = None
            record.error_filename = None
        if self.dry_run:
            record.error_file = record.error_filename = None
        record.save()

    def reason(self, reason):
        code, params = reason
        params = {k: ('' if v is None else v) for k, v in params.items()}
        return gettext('dualrec_orders.msg_import_' + code, **params)

    # -- references -------------------------------------------------------------

    def resolve(self, batch):
        "Fill the caches with the references of batch, in bulk."
        pool = Pool()
        Party = pool.get('party.party')
        Product = pool.get('product.product')
        Branch = pool.get('dualrec.branch')
        parties, products, branches = set(), set(), set()
        for entry in batch:
            if entry['reason']:
                continue
            order = entry['order']
            parties.add(order['counterparty'])
            if order.get('branch'):
                branches.add(order['branch'])
            products.update(l['product'] for l in entry['lines'])
        parties -= set(self.parties)
        if parties:
            for party in Party.search([('code', 'in', list(parties))],
                    order=[('id', 'ASC')]):
                self.parties.setdefault(party.code, party.id)
            rest = parties - set(self.parties)
            if rest:
                for party in Party.search([('name', 'in', list(rest))],
                        order=[('id', 'ASC')]):
                    self.parties.setdefault(party.name, party.id)
            for text in parties:
                self.parties.setdefault(text, None)
        products -= set(self.products)
        if products:
            for product in Product.search([
                        ('code', 'in', list(products)),
                        ('type', '=', 'service'),
                        ], order=[('id', 'ASC')]):
                self.products.setdefault(product.code, product.id)
            for text in products:
                self.products.setdefault(text, None)
        branches -= set(self.branches)
        if branches:
            for branch in Branch.search([
                        ('code', 'in', list(branches)),
                        ('company', '=', self.company),
                        ]):
                self.branches[branch.code] = branch.id
            for text in branches:
                self.branches.setdefault(text, None)

    def values(self, entry):
        "Return the create values of entry or raise sheet.RowError."
        order = entry['order']
        type_ = self.types.get(order['type'])
        if type_ is None:
            raise sheet.RowError('unknown_type', value=order['type'])
        counterparty = self.parties.get(order['counterparty'])
        if counterparty is None:
            raise sheet.RowError('unknown_counterparty',
                value=order['counterparty'])
        branch = None
        if order.get('branch'):
            branch = self.branches.get(order['branch'])
            if branch is None:
                raise sheet.RowError('unknown_branch', value=order['branch'])
        extension = order.get('extension')
        if extension:
            names = self.type_keys[type_.id]
            for name, value in extension.items():
                if name not in names:
                    raise sheet.RowError('extension_type',
                        key=self.keys[name].string, type=type_.rec_name)
                if not ExtensionKey_accepts(self.keys[name], value):
                    raise sheet.RowError('bad_extension',
                        key=self.keys[name].string, value=value,
                        kind=self.keys[name].type_)
        lines = []
        for line in entry['lines']:
            product = self.products.get(line['product'])
            if product is None:
                raise sheet.RowError('unknown_product', value=line['product'])
            lines.append({
                    'product': product,
                    'description': None,
                    'quantity': line['quantity'],
                    'unit_price': line['unit_price'],
                    'tax_rate': line['tax_rate'],
                    })
        return {
            'company': self.company,
            'source': self.source,
            'external_ref': order['external_ref'],
            'type_': type_.id,
            'direction': order.get('direction') or type_.direction,
            'counterparty': counterparty,
            'date': order['date'],
            'branch': branch,
            'currency': self.currency,
            'description': order.get('description'),
            'extension': extension,
            }, lines

    def existing(self, refs):
        """Return the id, fingerprint and state of the orders of refs by
        external reference.  The query names the external references only,
        so that PostgreSQL takes their index: with the company and the
        source it scans the unique index on (company, source, external_ref)
        by its prefix and filters every order of the source (30 ms instead
        of 0.1 ms a batch on 100,000 orders)."""
        if not refs:
            return {}
        table = self.Order.__table__()
        cursor = Transaction().connection.cursor()
        result = {}
        for sub in grouped_slice(refs, 1000):
            cursor.execute(*table.select(table.id, table.external_ref,
                    table.fingerprint, table.state, table.company,
                    table.source,
                    where=table.external_ref.in_(list(sub))))
            for id_, ref, fingerprint, state, company, source in cursor:
                if company == self.company and source == self.source:
                    result[ref] = {'id': id_, 'fingerprint': fingerprint,
                        'state': state}
        return result

    # -- one batch ----------------------------------------------------------------

    def process(self, batch):
        """Import the orders of batch; return (count name, entry) pairs."""
        Order = self.Order
        Line = Pool().get('dualrec.order.line')
        self.resolve(batch)
        result, valid = [], []
        for entry in batch:
            if entry['reason'] is None:
                try:
                    values, lines = self.values(entry)
                except sheet.RowError as error:
                    entry['reason'] = error.reason
                    entry['bad_row'] = entry['rows'][0][0]
                else:
                    valid.append((entry, values, lines))
            if entry['reason'] is not None:
                result.append(('rejected_rows', entry))
        existing = self.existing([v['external_ref'] for _, v, _ in valid])
        to_create, to_update = [], []
        for entry, values, lines in valid:
            order = existing.get(values['external_ref'])
            if order is None:
                values['lines'] = [('create', lines)]
                to_create.append(values)
                result.append(('new_rows', entry))
            elif order['fingerprint'] == Order.content(values, lines):
                result.append(('unchanged_rows', entry))
            elif order['state'] != 'draft':
                entry['reason'] = ('confirmed_changed',
                    {'ref': values['external_ref']})
                entry['bad_row'] = entry['rows'][0][0]
                result.append(('rejected_rows', entry))
            else:
                to_update.append((order['id'], values, lines))
                result.append(('updated_rows', entry))
        if self.dry_run:
            return result
        if to_create:
            created = Order._bulk_create(to_create)
            if self.record.confirm:
                Order.confirm(created)
        if to_update:
            ids = [i for i, _, _ in to_update]
            old = Line.search([('order', 'in', ids)])
            if old:
                Line.delete(old)
            args = []
            for id_, values, lines in to_update:
                values = {k: v for k, v in values.items() if k not in {
                        'company', 'source', 'external_ref'}}
                values['lines'] = [('create', lines)]
                args.extend(([Order(id_)], values))
            Order.write(*args)
        return result


def _snapshot(key):
    "Return the attributes of an extension key that the import reads."
    return SimpleNamespace(**{name: getattr(key, name) for name in (
                'name', 'string', 'type_', 'selection_json', 'domain')})


class OrderImportFileStart(ModelView):
    __string__ = "Import Orders"
    __name__ = 'dualrec.order.import_file.start'

    company = fields.Many2One('company.company', "Company", required=True,
        help="The company the orders are imported into.")
    file = fields.Binary("File", required=True, filename='filename',
        help="The xlsx or CSV (UTF-8 or GBK) file of orders.")
    filename = fields.Char("File Name", help="The name of the file.")
    source = fields.Char("Source", required=True,
        help="The source of the orders; with the external reference it "
        "identifies an order, so a file imported twice creates nothing.")
    confirm = fields.Boolean("Confirm Orders",
        help="Confirm the orders the import creates.")
    import_record = fields.Many2One('dualrec.order.import', "Import",
        readonly=True, help="The import the wizard created.")

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_source(cls):
        return 'import'


class OrderImportFilePreview(ModelView):
    __string__ = "Import Orders"
    __name__ = 'dualrec.order.import_file.preview'

    total_rows = fields.Integer("Rows", readonly=True,
        help="The number of rows of the file.")
    new_rows = fields.Integer("New", readonly=True,
        help="The rows of orders that do not exist yet.")
    unchanged_rows = fields.Integer("Unchanged", readonly=True,
        help="The rows of orders that exist with the same content.")
    updated_rows = fields.Integer("Updated", readonly=True,
        help="The rows of draft orders whose content changed.")
    rejected_rows = fields.Integer("Rejected", readonly=True,
        help="The rows that will not be imported.")
    messages = fields.Text("Messages", readonly=True,
        help="What the preview noticed.")


class OrderImportFile(Wizard):
    "Import orders from a spreadsheet: preview, then import."
    __string__ = "Import Orders"
    __name__ = 'dualrec.order.import_file'

    start = StateView('dualrec.order.import_file.start',
        'dualrec_orders.order_import_file_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Preview", 'check', 'tryton-forward', default=True),
            ])
    check = StateTransition()
    preview = StateView('dualrec.order.import_file.preview',
        'dualrec_orders.order_import_file_preview_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Import", 'import_', 'tryton-ok', default=True),
            ])
    import_ = StateTransition()
    open_ = StateAction('dualrec_orders.act_order_import_form')

    def transition_check(self):
        Import = Pool().get('dualrec.order.import')
        record, = Import.create([{
                    'company': self.start.company.id,
                    'file': self.start.file,
                    'filename': self.start.filename,
                    'source': self.start.source,
                    'confirm': self.start.confirm,
                    }])
        Import.preview([record])
        self.start.import_record = record
        return 'preview'

    def default_preview(self, fields):
        record = self.start.import_record
        return {name: getattr(record, name) for name in (
                'total_rows', *COUNTS, 'messages')}

    def transition_import_(self):
        Import = Pool().get('dualrec.order.import')
        Import.import_([Import(self.start.import_record.id)])
        return 'open_'

    def do_open_(self, action):
        return action, {'res_id': [self.start.import_record.id]}
