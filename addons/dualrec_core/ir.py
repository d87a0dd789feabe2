# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction


class Rule(metaclass=PoolMeta):
    __name__ = 'ir.rule'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.domain.help += (
            '\n- "user_id" as the id of the current user'
            '\n- "dualrec_branch" as the branch id of the current user '
            '(-1 when he has none)')

    @classmethod
    def _get_cache_key(cls, model_names):
        pool = Pool()
        User = pool.get('res.user')
        key = super()._get_cache_key(model_names)
        # The rules of the suite depend on the user and his branch, not only
        # on his groups: without them one user's domain would serve another.
        return (*key, Transaction().user, User.get_dualrec_branch())

    @classmethod
    def _get_context(cls, model_name):
        pool = Pool()
        User = pool.get('res.user')
        context = super()._get_context(model_name)
        context['user_id'] = Transaction().user
        branch = User.get_dualrec_branch()
        context['dualrec_branch'] = branch if branch is not None else -1
        return context


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('dualrec.upload|clean_expired', "Clean Expired Uploads"))
        cls.method.selection.append(
            ('dualrec.audit.log|seal_cron', "Seal the Audit Log"))
        cls.method.selection.append(
            ('dualrec.recording|requeue_stalled',
                "Process Again Stalled Recordings"))
        cls.method.selection.append(
            ('dualrec.recording|list_expired',
                "List Recordings Past Their Retention"))
