# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The bulk creation of orders for the spreadsheet import."""
import datetime as dt
from decimal import Decimal, InvalidOperation
from types import SimpleNamespace

from sql import Column
from sql.functions import CurrentTimestamp

from trytond import backend
from trytond.model import fields
from trytond.pool import Pool
from trytond.tools.timezone import get_tzinfo
from trytond.transaction import Transaction

from dualrec import money

from .order_type import ExtensionKey_accepts


class OrderBulkMixin:
    """Create many draft orders by multirow SQL inserts, with the checks
    the ORM would make (see ``_bulk_create``)."""
    __slots__ = ()

    @classmethod
    def _bulk_create(cls, vlist):
        """Create the orders of vlist with their lines, creation events and
        audit entries by multirow SQL inserts; return the orders.

        For the spreadsheet import only: each values holds the fields of an
        order and its lines as ``[('create', [line values])]``, and the
        caller has resolved its references (a counterparty, a branch of the
        order's company, service products, a type whose keys the extension
        uses).  The orders get what ``create`` gives them: a number, the
        draft state, the totals, the fingerprint, the use hour and weekday,
        an event and an audit entry.  What the ORM's validation would check
        is checked here on the values (required fields, selections, digits,
        VAT rates, the extension's keys and kinds, the domains of the
        branch and the products); when any of it fails, the batch goes
        through ``create`` instead, which raises the usual error.  The
        unique (company, source, external reference) constraint refuses a
        duplicate as for ``create``.  Runs without access checks: the
        caller decides who may.
        """
        pool = Pool()
        Line = pool.get('dualrec.order.line')
        Event = pool.get('dualrec.order.event')
        AuditLog = pool.get('dualrec.audit.log')
        if not vlist:
            return []
        orders, lines = [], []
        for values in vlist:
            values = dict(values)
            order_lines = cls._lines_of(values)
            if order_lines is None or set(values) - {'lines'} - {
                    n for n, f in cls._fields.items()
                    if not hasattr(f, 'set')}:
                return cls.create(vlist)
            del values['lines']
            orders.append(values)
            lines.append(order_lines)
        if not cls._bulk_valid(orders, lines):
            return cls.create(vlist)
        orders = cls._number(orders)
        now = cls.now()
        timezones, defaults = {}, {}
        rows, line_rows = [], []
        for values, order_lines in zip(orders, lines):
            values = _with_defaults(cls, values, defaults)
            values['state'] = 'draft'
            values['state_since'] = now
            if 'extension' in values:
                values.update(cls._bulk_usage(values, timezones))
            order_lines = cls._complete(values, order_lines)
            splits = []
            for line in order_lines:
                untaxed, tax, total = Line.split(line)
                splits.append((untaxed, tax, total))
                line_rows.append({**_with_defaults(Line, line, defaults),
                        'untaxed_amount': untaxed, 'tax_amount': tax,
                        'total_amount': total})
            untaxed, tax, total = money.totals(splits)
            values.update({
                    'untaxed_amount': untaxed,
                    'tax_amount': tax,
                    'total_amount': total,
                    'fingerprint': cls.content(values, order_lines),
                    })
            rows.append(values)
        ids = _bulk_insert(cls, rows)
        position = 0
        for id_, order_lines in zip(ids, lines):
            for line in line_rows[position:position + len(order_lines)]:
                line['order'] = id_
            position += len(order_lines)
        line_ids = _bulk_insert(Line, line_rows)
        user = Transaction().user or None
        event_ids = _bulk_insert(Event, [_with_defaults(Event, {
                        'order': i, 'date': now, 'user': user,
                        'from_state': None, 'to_state': 'draft',
                        'comment': None}, defaults) for i in ids])
        ip_address, user_agent = AuditLog._client()
        date = dt.datetime.now()
        AuditLog._insert([{'date': date, 'user': user, 'login': None,
                    'action': 'create', 'model': cls.__name__,
                    'record_id': i, 'record_name': v['number'],
                    'field_names': None, 'ip_address': ip_address,
                    'user_agent': user_agent, 'details': None,
                    'sealed': False} for i, v in zip(ids, rows)])
        transaction = Transaction()
        for Model, created in [
                (cls, ids), (Line, line_ids), (Event, event_ids)]:
            transaction.create_records[Model.__name__].extend(created)
        records = cls.browse(ids)
        triggers = pool.get('ir.trigger').get_triggers(cls.__name__, 'create')
        for trigger in triggers:
            trigger.queue_trigger_action(records)
        return records

    @classmethod
    def _bulk_valid(cls, orders, lines):
        """Tell whether the values of orders and their lines pass what the
        ORM validates on create (for ``_bulk_create``)."""
        pool = Pool()
        Line = pool.get('dualrec.order.line')
        Branch = pool.get('dualrec.branch')
        Product = pool.get('product.product')
        OrderType = pool.get('dualrec.order.type')

        def checks(Model, skip):
            "Return (name, required, selection keys, exponent) to check."
            result = []
            for name, field in Model._fields.items():
                if name in skip:
                    continue
                keys = exp = None
                if (isinstance(field, fields.Selection)
                        and isinstance(field.selection, list)):
                    keys = {k for k, _ in field.selection}
                if isinstance(field, fields.Numeric) and isinstance(
                        field.digits, tuple):
                    exp = Decimal(1).scaleb(-field.digits[1])
                required = field.required is True
                if required or keys is not None or exp is not None:
                    result.append((name, required, keys, exp))
            return result

        def valid(values, checks):
            for name, required, keys, exp in checks:
                value = values.get(name)
                if value is None:
                    if required:
                        return False
                    continue
                if keys is not None and value not in keys:
                    return False
                if exp is not None:
                    if not isinstance(value, (Decimal, int)):
                        return False
                    try:
                        if Decimal(value).quantize(exp) != value:
                            return False
                    except InvalidOperation:
                        return False
            return True

        order_checks = checks(cls, {'id', 'number', 'state', 'lines',
                'events'})
        line_checks = checks(Line, {'id', 'order'})
        types, branches, products = {}, set(), set()
        for values, order_lines in zip(orders, lines):
            if not valid(values, order_checks):
                return False
            for line in order_lines:
                line = {'quantity': Line.default_quantity(),
                    'tax_rate': Line.default_tax_rate(), **line}
                if not valid(line, line_checks):
                    return False
                Line.split(line)
                products.add(line['product'])
            if values.get('branch'):
                branches.add((values['branch'], values['company']))
            types.setdefault(values['type_'], []).append(values)
        for type_ in OrderType.browse(list(types)):
            # plain copies: an attribute of a record costs more than the
            # check
            keys = {k.name: SimpleNamespace(type_=k.type_,
                    selection_json=k.selection_json, domain=k.domain,
                    name=k.name) for k in type_.extension_keys}
            for values in types[type_.id]:
                for name, value in (values.get('extension') or {}).items():
                    if name not in keys:
                        return False
                    if value is not None and not ExtensionKey_accepts(
                            keys[name], value):
                        return False
        with Transaction().set_context(active_test=False):
            if branches and len(Branch.search(['OR'] + [
                            [('id', '=', b), ('company', '=', c)]
                            for b, c in branches])) != len(branches):
                return False
            if len(Product.search([
                            ('id', 'in', list(products)),
                            ('type', '=', 'service'),
                            ])) != len(products):
                return False
        return True

    @classmethod
    def _bulk_usage(cls, values, timezones):
        """Return the use hour and weekday of values as _get_usage_values,
        with the company's timezone kept in timezones."""
        Company = Pool().get('company.company')
        use_time = (values.get('extension') or {}).get('use_time')
        if not isinstance(use_time, dt.datetime):
            return {'use_hour': None, 'use_weekday': None}
        company = values.get('company', Transaction().context.get('company'))
        if company not in timezones:
            timezones[company] = (Company(company).timezone
                if company is not None and company >= 0 else None)
        if timezones[company]:
            use_time = use_time.replace(tzinfo=dt.timezone.utc).astimezone(
                get_tzinfo(timezones[company]))
        return {'use_hour': use_time.hour,
            'use_weekday': str(use_time.weekday())}



def _with_defaults(Model, values, cache):
    """Return values with the defaults of the stored fields of Model that
    it lacks, as create adds them (computed once per set of names in
    cache)."""
    key = (Model.__name__, tuple(sorted(values)))
    if key not in cache:
        names = [n for n, f in Model._fields.items()
            if n not in values and not hasattr(f, 'set')
            and not isinstance(f, fields.Function)
            and n not in {'id', 'create_uid', 'create_date', 'write_uid',
                'write_date'}]
        cache[key] = Model._clean_defaults(
            Model.default_get(names, with_rec_name=False))
    return {**cache[key], **values}


def _bulk_insert(Model, vlist):
    """Insert the rows of vlist (dicts of stored fields) into the table of
    Model by multirow inserts and return their ids in the order of vlist;
    a constraint violation raises the error that create would."""
    transaction = Transaction()
    database = transaction.database
    cursor = transaction.connection.cursor()
    table = Model.__table__()
    if not vlist:
        return []
    names = sorted(set().union(*vlist))
    columns = [table.create_uid, table.create_date,
        *[Column(table, n) for n in names]]
    user = transaction.user
    rows = [[user, CurrentTimestamp(), *[Model._fields[n].sql_format(
                    values.get(n)) for n in names]] for values in vlist]
    size = max(backend.MAX_QUERY_PARAMS // (len(columns) + 2), 1)
    ids = []
    for start in range(0, len(rows), size):
        chunk = rows[start:start + size]
        try:
            new_ids = database.nextid(transaction.connection, Model._table,
                count=len(chunk))
            if isinstance(new_ids, int):
                new_ids = [new_ids]
            if new_ids:
                cursor.execute(*table.insert(columns + [table.id],
                        [r + [i] for r, i in zip(chunk, new_ids)]))
                ids.extend(new_ids)
            elif database.has_returning():
                cursor.execute(*table.insert(columns, chunk, [table.id]))
                ids.extend(sorted(r[0] for r in cursor))
            else:
                for row in chunk:
                    cursor.execute(*table.insert(columns, [row]))
                    ids.append(database.lastid(cursor))
        except backend.DatabaseIntegrityError as exception:
            with transaction.new_transaction():
                for values in vlist[start:start + size]:
                    Model._ModelSQL__raise_integrity_error(
                        exception, values, transaction=transaction)
            raise
    return ids
