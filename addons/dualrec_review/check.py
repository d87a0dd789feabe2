# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Automatic checks of the recordings, run by the media pipeline.

The measurements are autocheck.py's (no database); this file stores them on
the recording, one line per check, for the reviewers and QC inspectors.
"""
import json
import logging

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.model.exceptions import AccessError
from trytond.pool import Pool, PoolMeta
from trytond.transaction import without_check_access

from dualrec.qc import autocheck

logger = logging.getLogger(__name__)

CHECK_RESULTS = [
    (None, ""),
    ('pass', "Pass"),
    ('warn', "Warning"),
    ('fail', "Fail"),
    ]
CHECK_CODES = [
    ('duration', "Duration"),
    ('timeline', "Node Timeline"),
    ('continuity', "Continuity"),
    ('silence', "Silence"),
    ('loudness', "Loudness"),
    ('black', "Black Picture"),
    ('freeze', "Frozen Picture"),
    ('faces', "Faces in Frame"),
    ]
# The rule each check serves, as shown to the users (translated).
CHECK_RULES = [
    ('circ54_art8_continuous',
        "CIRC [2017] No. 54 Art. 8: true, complete and continuous"),
    ('circ54_art8_identifiable',
        "CIRC [2017] No. 54 Art. 8: faces and speech clearly identifiable"),
    ('circ54_art7_content',
        "CIRC [2017] No. 54 Art. 7: every required content recorded"),
    ]


class RecordingCheck(ModelSQL, ModelView):
    __string__ = "Recording Check"
    __name__ = 'dualrec.recording.check'

    recording = fields.Many2One('dualrec.recording', "Recording",
        required=True, readonly=True, ondelete='CASCADE',
        help="The recording checked.")
    code = fields.Selection(CHECK_CODES, "Check", required=True,
        readonly=True, sort=False, help="What was checked.")
    result = fields.Selection(CHECK_RESULTS, "Result", required=True,
        readonly=True, sort=False, help="Pass, warning or fail.")
    value = fields.Float("Value", readonly=True, digits=(16, 3),
        help="What was measured, in the unit shown.")
    threshold = fields.Float("Threshold", readonly=True, digits=(16, 3),
        help="The limit the value is compared with.")
    unit = fields.Char("Unit", readonly=True,
        help="The unit of the value and the threshold.")
    rule = fields.Selection(CHECK_RULES, "Rule", readonly=True,
        help="The regulation the check serves.")
    details = fields.Text("Details", readonly=True,
        help="Where in the recording and what exactly was found.")
    code_string = code.translated('code')
    result_string = result.translated('result')
    rule_string = rule.translated('rule')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('recording', 'ASC'), ('id', 'ASC')]

    @classmethod
    def check_modification(cls, mode, checks, values=None, external=False):
        super().check_modification(
            mode, checks, values=values, external=external)
        if mode == 'write' and external:
            raise AccessError(gettext('dualrec_review.msg_check_immutable'))


class Recording(metaclass=PoolMeta):
    __name__ = 'dualrec.recording'

    checks = fields.One2Many('dualrec.recording.check', 'recording',
        "Automatic Checks", readonly=True,
        help="The automatic checks run after compression.")
    check_result = fields.Selection(CHECK_RESULTS, "Automatic Checks",
        readonly=True, help="The worst result of the automatic checks.")

    def _get_checks(self):
        checks = super()._get_checks()
        thresholds = Pool().get('dualrec.configuration')(1).thresholds()
        nodes, timeline = self._check_timeline_data()
        recording_id = self.id

        def run(path, source_probe, transcoded):
            # a check that breaks must not lose a good recording: it is
            # kept without results (reviewers see no checks) and logged
            try:
                results = autocheck.run_all(str(path), nodes, timeline,
                    transcoded.probe.duration, thresholds,
                    source=source_probe)
            except Exception:
                logger.exception("recording %s: checks failed", recording_id)
                return ['automatic checks failed'], []
            return [f'{r.code}: {r.result}' for r in results
                if r.result != 'pass'], results
        return checks + [run]

    def _check_timeline_data(self):
        "The script nodes and the timeline, as autocheck takes them."
        script = self.ticket.script or self.ticket.product.current_script
        nodes = [{
                'id': n.id, 'sequence': index, 'name': n.name,
                'min_seconds': n.min_seconds or 0, 'required': True,
                } for index, n in enumerate(script.nodes if script else [])]
        timeline = [{
                'node': t.node.id if t.node else None,
                'started_at': t.started_at,
                'confirmed_at': t.confirmed_at,
                } for t in self.timeline]
        return nodes, timeline

    def _keep_findings(self, findings):
        super()._keep_findings(findings)
        if not findings:
            return
        Check = Pool().get('dualrec.recording.check')
        with without_check_access():
            Check.delete(Check.search([('recording', '=', self.id)]))
            Check.create([{
                        'recording': self.id,
                        'code': r.code,
                        'result': r.result,
                        'value': r.value,
                        'threshold': r.threshold,
                        'unit': r.unit,
                        'rule': r.rule,
                        'details': json.dumps(r.details, ensure_ascii=False,
                            sort_keys=True),
                        } for r in findings])
            self.__class__.write([self], {
                    'check_result': autocheck.worst(findings)})
