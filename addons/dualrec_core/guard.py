# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The fields the system computes are refused in users' writes and creates.

A field declared ``readonly=True`` is only shown read-only by the clients;
a JSON-RPC call can still send it.  These helpers refuse such fields when
the call is external, that is made by a user with the access checks on
(every RPC ``write``/``create``).  The code paths that own the fields
(workflow transitions run by buttons, wizards, the pipeline, the retention
and review code) run without the access checks and pass.
"""
from trytond.i18n import gettext
from trytond.model import Model, fields
from trytond.transaction import Transaction

from .exceptions import SystemFieldError

EMPTY = (None, '', False, [], ())


def external():
    "Tell whether the current call is a user's, with the access checks on."
    transaction = Transaction()
    return bool(transaction.user and transaction.check_access)


def system_fields(Model, extra=()):
    """Return the names of the fields of Model the system computes: those
    declared readonly (not the Function fields) and the extra names."""
    names = set(extra)
    for name, field in Model._fields.items():
        if isinstance(field, fields.Function):
            continue
        if field.readonly is True:
            names.add(name)
    return names - {'id', 'create_uid', 'create_date', 'write_uid',
        'write_date', 'rec_name'}


def refuse(Model, names):
    "Raise the error that the system fields names of Model are its own."
    field_names = ', '.join(
        Model._fields[n].string for n in sorted(names))
    raise SystemFieldError(gettext('dualrec_core.msg_system_fields',
            fields=field_names, model=Model.__names__()['model']))


def check_write(Model, values, names):
    "Refuse values that set any of the system fields names."
    refused = set(values) & set(names)
    if refused:
        refuse(Model, refused)


def check_create(Model, vlist, names):
    """Refuse new records that set a system field to anything but empty or
    its default (clients send the defaults they were given back)."""
    for values in vlist:
        refused = set()
        for name in set(values) & set(names):
            value = values[name]
            if value in EMPTY:
                continue
            default = getattr(Model, f'default_{name}', None)
            if default is not None and value == default():
                continue
            refused.add(name)
        if refused:
            refuse(Model, refused)


def check_modification(Model, mode, values, external):
    """Refuse a user's create or write of a model whose every stored field
    the system sets (recordings, review decisions)."""
    if not external:
        return
    if mode == 'create':
        refuse(Model, system_fields(Model))
    elif mode == 'write':
        check_write(Model, values, system_fields(Model))


class Guard(Model):
    """The system fields guard, for the other addons of the suite: they
    reach it through the Pool (``Pool().get('dualrec.guard')``)."""
    __string__ = "System Fields Guard"
    __name__ = 'dualrec.guard'

    @classmethod
    def external(cls):
        return external()

    @classmethod
    def system_fields(cls, Model, extra=()):
        return system_fields(Model, extra)

    @classmethod
    def check_write(cls, Model, values, names):
        check_write(Model, values, names)

    @classmethod
    def check_create(cls, Model, vlist, names):
        check_create(Model, vlist, names)

    @classmethod
    def check_modification(cls, Model, mode, values, external):
        check_modification(Model, mode, values, external)
