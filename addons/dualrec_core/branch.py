# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Unique, fields, tree)
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .exceptions import BranchDeleteError, BranchError

# Depth of each level: a branch must sit strictly below its parent.
LEVELS = {
    'province': 1,
    'city': 2,
    'outlet': 3,
    }


class Branch(DeactivableMixin, tree(separator=' / '), ModelSQL, ModelView):
    __string__ = "Branch"
    __name__ = 'dualrec.branch'

    name = fields.Char("Name", required=True, help="The name of the branch.")
    code = fields.Char(
        "Code", required=True, strip=True,
        help="The code of the branch, unique within the company.")
    level = fields.Selection([
            ('province', "Province"),
            ('city', "City"),
            ('outlet', "Outlet"),
            ], "Level", required=True, sort=False,
        help="Where the branch sits in the organisation.")
    company = fields.Many2One(
        'company.company', "Company", required=True, ondelete='RESTRICT',
        help="The company the branch belongs to.")
    parent = fields.Many2One(
        'dualrec.branch', "Parent", ondelete='RESTRICT',
        domain=[
            ('company', '=', Eval('company', -1)),
            ],
        help="The branch this one reports to; empty for a province.")
    children = fields.One2Many(
        'dualrec.branch', 'parent', "Sub-branches", readonly=True,
        help="The branches that report to this one.")
    users = fields.One2Many(
        'res.user', 'branch', "Users", readonly=True,
        help="The users who belong to the branch.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('company_code_unique', Unique(t, t.company, t.code),
                'dualrec_core.msg_branch_code_unique'),
            ]
        cls._order.insert(0, ('code', 'ASC'))

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_level(cls):
        return 'outlet'

    def get_rec_name(self, name):
        return f'[{self.code}] {super().get_rec_name(name)}'

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, operand, *extra = clause
        if operator.startswith('!') or operator.startswith('not '):
            bool_op = 'AND'
        else:
            bool_op = 'OR'
        return [bool_op,
            ('code', operator, operand, *extra),
            ('name', operator, operand, *extra),
            ]

    @classmethod
    def validate_fields(cls, branches, field_names):
        super().validate_fields(branches, field_names)
        cls.check_level(branches, field_names)

    @classmethod
    def check_level(cls, branches, field_names=None):
        "A branch sits strictly below its parent; only provinces are roots."
        if field_names and not field_names & {'level', 'parent'}:
            return
        for branch in branches:
            if branch.parent:
                if LEVELS[branch.parent.level] >= LEVELS[branch.level]:
                    raise BranchError(gettext(
                            'dualrec_core.msg_branch_level_parent',
                            branch=branch.rec_name,
                            parent=branch.parent.rec_name))
            elif branch.level != 'province':
                raise BranchError(gettext(
                        'dualrec_core.msg_branch_level_root',
                        branch=branch.rec_name))

    @classmethod
    def _get_usage(cls):
        """Return the (model name, field name, message id) that hold branches.

        A branch referenced by one of them cannot be deleted.  Modules that
        attach records to branches extend this list.
        """
        return [
            ('dualrec.branch', 'parent', 'dualrec_core.msg_branch_has_children'),
            ('res.user', 'branch', 'dualrec_core.msg_branch_has_users'),
            ]

    @classmethod
    def check_modification(cls, mode, branches, values=None, external=False):
        super().check_modification(
            mode, branches, values=values, external=external)
        if mode == 'delete':
            cls.check_unused(branches)

    @classmethod
    def check_unused(cls, branches):
        "Refuse to delete a branch that still has sub-branches, users, …"
        pool = Pool()
        ids = [b.id for b in branches]
        for model_name, field_name, msg_id in cls._get_usage():
            Model = pool.get(model_name)
            domain = [(field_name, 'in', ids)]
            if Model == cls:
                # Deleting a branch together with its sub-branches is fine.
                domain.append(('id', 'not in', ids))
            if 'active' in Model._fields:
                domain = [domain, ('active', 'in', [True, False])]
            records = Model.search(domain, limit=1, order=[])
            if records:
                branch = getattr(records[0], field_name)
                raise BranchDeleteError(gettext(msg_id,
                        branch=branch.rec_name,
                        record=records[0].rec_name))
