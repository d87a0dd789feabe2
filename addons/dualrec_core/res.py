# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from collections.abc import Mapping

from trytond.cache import Cache
from trytond.model import Unique, fields
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction


class User(metaclass=PoolMeta):
    __name__ = 'res.user'

    branch = fields.Many2One(
        'dualrec.branch', "Branch", ondelete='RESTRICT',
        help="The branch the user belongs to; "
        "he sees the records of this branch and of its sub-branches.")
    employee_number = fields.Char(
        "Employee Number", strip=True,
        help="The staff number of the user, printed on his sales records.")
    _get_dualrec_branch_cache = Cache(
        __name__ + '.get_dualrec_branch', context=False)
    # the context of the API's calls: a change of a user clears it, and it
    # lasts 5 minutes at most (his employees, companies)
    _get_api_context_cache = Cache(
        __name__ + '.get_api_context', context=False, duration=300)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('employee_number_unique', Unique(t, t.employee_number),
                'dualrec_core.msg_user_employee_number_unique'),
            ]

    @classmethod
    def on_modification(cls, mode, users, field_names=None):
        super().on_modification(mode, users, field_names=field_names)
        cls._get_dualrec_branch_cache.clear()
        cls._get_api_context_cache.clear()

    @classmethod
    def get_api_context(cls):
        """Return the context of the current user's API calls (his
        preferences, as the web client gets them once at login)."""
        user_id = Transaction().user
        context = cls._get_api_context_cache.get(user_id)
        if context is None:
            context = cls.get_preferences(context_only=True)
            cls._get_api_context_cache.set(user_id, context)
        return _thaw(context)

    @classmethod
    def get_dualrec_branch(cls):
        "Return the branch id of the current user, or None."
        transaction = Transaction()
        user_id = transaction.user
        branch_id = cls._get_dualrec_branch_cache.get(user_id, -1)
        if branch_id != -1:
            return branch_id
        table = cls.__table__()
        cursor = transaction.connection.cursor()
        cursor.execute(*table.select(
                table.branch, where=table.id == user_id))
        row = cursor.fetchone()
        branch_id = row[0] if row else None
        cls._get_dualrec_branch_cache.set(user_id, branch_id)
        return branch_id

    @classmethod
    def holds_group(cls, *xml_ids, module='dualrec_core'):
        """Tell whether the current user holds one of the groups named by
        xml_ids (of module); root (user 0: internal calls) always does."""
        if not Transaction().user:
            return True
        ModelData = Pool().get('ir.model.data')
        wanted = {ModelData.get_id(module, xml_id) for xml_id in xml_ids}
        return bool(wanted & set(cls.get_groups()))

    @classmethod
    def dualrec_roles(cls):
        "Return the xml ids of the dualrec roles the current user holds."
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        groups = set(cls.get_groups())
        return sorted(
            name for name in ROLES
            if ModelData.get_id('dualrec_core', name) in groups)


def _thaw(value):
    "Return value with the mappings the cache froze as dicts again."
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_thaw(v) for v in value]
    return value


# The roles of the suite, as xml ids of res.group in dualrec_core.
ROLES = (
    'group_dualrec_admin',
    'group_dualrec_sales',
    'group_dualrec_reviewer',
    'group_dualrec_qc',
    'group_dualrec_manager',
    'group_dualrec_finance',
    )
