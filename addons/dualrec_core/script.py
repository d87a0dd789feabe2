# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from sql.aggregate import Max

from trytond.i18n import gettext
from trytond.model import (
    Check, ModelSQL, ModelView, Unique, fields, sequence_ordered)
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .exceptions import ScriptFrozenError

SPEAKERS = [
    ('salesperson', "Salesperson"),
    ('customer', "Customer"),
    ]
NODE_KINDS = [
    ('identity', "Identity and Licence Display"),
    ('opening', "Opening Prompt"),
    ('terms', "Product Terms"),
    ('exemption', "Exemption Clauses"),
    ('risk', "Risk Disclosure"),
    ('cooling_off', "Cooling-off Period"),
    ('surrender', "Surrender Loss"),
    ('confirmation', "Customer Confirmation"),
    ('signature', "Signature"),
    ('copy_out', "Copy-out of the Risk Sentence"),
    ('other', "Other"),
    ]


class Script(ModelSQL, ModelView):
    __string__ = "Recording Script"
    __name__ = 'dualrec.script'
    _rec_name = 'name'

    product = fields.Many2One(
        'dualrec.product', "Product", required=True, ondelete='RESTRICT',
        states={
            'readonly': Eval('frozen', False),
            },
        help="The product whose sales the script guides.")
    name = fields.Char(
        "Name", required=True,
        states={
            'readonly': Eval('frozen', False),
            },
        help="The name of the script.")
    version = fields.Integer(
        "Version", readonly=True,
        help="The version number, increased by each new version.")
    frozen = fields.Boolean(
        "Frozen", readonly=True,
        help="A script used by a sales ticket is frozen: "
        "it can no longer change, edit a new version instead.")
    nodes = fields.One2Many(
        'dualrec.script.node', 'script', "Nodes",
        states={
            'readonly': Eval('frozen', False),
            },
        help="The steps of the script, read in order during the recording.")
    minimum_duration = fields.Function(fields.Integer(
            "Minimum Duration",
            help="The sum of the minimum times of the nodes, in seconds."),
        'get_minimum_duration')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('product_version_unique', Unique(t, t.product, t.version),
                'dualrec_core.msg_script_version_unique'),
            ]
        cls._order = [
            ('product', 'ASC'),
            ('version', 'DESC'),
            ('id', 'DESC'),
            ]
        cls._buttons.update({
                'new_version': {
                    'invisible': ~Eval('frozen', False),
                    'depends': ['frozen'],
                    },
                })

    @classmethod
    def default_frozen(cls):
        return False

    def get_rec_name(self, name):
        return f'{self.name} v{self.version}'

    def get_minimum_duration(self, name):
        return sum(n.min_seconds or 0 for n in self.nodes)

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if mode == 'create' and not values.get('version'):
            values['version'] = cls._next_version(values.get('product'))
        return values

    @classmethod
    def _next_version(cls, product_id):
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(
                Max(table.version), where=table.product == product_id))
        version, = cursor.fetchone()
        return (version or 0) + 1

    @classmethod
    def check_modification(cls, mode, scripts, values=None, external=False):
        super().check_modification(
            mode, scripts, values=values, external=external)
        # Only freezing may touch a frozen script; nothing unfreezes it.
        if mode == 'delete' or (mode == 'write' and (
                    set(values) - {'frozen'} or not values.get('frozen'))):
            cls.check_not_frozen(scripts)

    @classmethod
    def check_not_frozen(cls, scripts):
        for script in scripts:
            if script.frozen:
                raise ScriptFrozenError(gettext(
                        'dualrec_core.msg_script_frozen',
                        script=script.rec_name))

    @classmethod
    def copy(cls, scripts, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('version', None)
        default.setdefault('frozen', False)
        return super().copy(scripts, default=default)

    @classmethod
    def freeze(cls, scripts):
        """Freeze the scripts: called when a sales ticket uses them.

        A frozen script is read-only so that every recording can always be
        compared to the exact text it followed.
        """
        scripts = [s for s in scripts if not s.frozen]
        if scripts:
            cls.write(scripts, {'frozen': True})

    @classmethod
    @ModelView.button
    def new_version(cls, scripts):
        "Create an editable copy of each frozen script as its next version."
        return cls.copy(scripts)


class ScriptNode(sequence_ordered(), ModelSQL, ModelView):
    __string__ = "Recording Script Node"
    __name__ = 'dualrec.script.node'

    script = fields.Many2One(
        'dualrec.script', "Script", required=True, ondelete='CASCADE',
        help="The script the node belongs to.")
    name = fields.Char(
        "Title", required=True, help="A short title of the step.")
    kind = fields.Selection(
        NODE_KINDS, "Kind", required=True, sort=False,
        help="What the step proves to the regulator.")
    speaker = fields.Selection(
        SPEAKERS, "Speaker", required=True,
        help="Who speaks during the step.")
    text = fields.Text(
        "Text", required=True,
        help="The words to read or the question to answer.")
    confirmation_required = fields.Boolean(
        "Confirmation Required",
        help="The salesperson must confirm the step before moving on.")
    min_seconds = fields.Integer(
        "Minimum Seconds", required=True,
        help="The least time the step must last, in seconds.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('min_seconds_positive', Check(t, t.min_seconds >= 0),
                'dualrec_core.msg_script_node_min_seconds_positive'),
            ]

    @classmethod
    def default_speaker(cls):
        return 'salesperson'

    @classmethod
    def default_kind(cls):
        return 'other'

    @classmethod
    def default_confirmation_required(cls):
        return True

    @classmethod
    def default_min_seconds(cls):
        return 0

    @classmethod
    def check_modification(cls, mode, nodes, values=None, external=False):
        pool = Pool()
        Script = pool.get('dualrec.script')
        super().check_modification(
            mode, nodes, values=values, external=external)
        scripts = {n.script for n in nodes}
        if mode == 'write' and values.get('script'):
            scripts.add(Script(values['script']))
        Script.check_not_frozen(scripts)
