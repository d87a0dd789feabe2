# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The thresholds of the automatic checks and the QC deadline."""
import dataclasses

from trytond.model import fields
from trytond.pool import PoolMeta

from dualrec.qc import autocheck

_DEFAULTS = autocheck.Thresholds()
# field name: (label, help); each is a field of autocheck.Thresholds
THRESHOLDS = {
    'timeline_gap': ("Largest Gap Between Nodes",
        "Seconds allowed between a node's confirmation and the next node's "
        "start."),
    'continuity_jump_seconds': ("Longest Timestamp Jump",
        "A longer forward jump (seconds) of the uploaded file's timestamps "
        "fails the continuity check."),
    'continuity_av_seconds': ("Sound and Picture Difference",
        "Seconds the sound and the picture of the uploaded file may differ "
        "in length."),
    'continuity_timeline_seconds': ("Timeline and Media Difference",
        "Seconds the recorder's node timeline and the media may differ in "
        "length."),
    'silence_noise_db': ("Silence Level",
        "Sound under this level (dBFS) counts as silence."),
    'silence_min_seconds': ("Shortest Silence",
        "Pauses shorter than this (seconds) are speech."),
    'silence_warn_ratio': ("Silence Warning Ratio",
        "Share of the recording silent from which the check warns."),
    'silence_fail_ratio': ("Silence Failure Ratio",
        "Share of the recording silent from which the check fails."),
    'silence_fail_seconds': ("Longest Silence",
        "One silent stretch this long (seconds) fails the check."),
    'loudness_min_lufs': ("Lowest Loudness",
        "Integrated loudness (LUFS) under which the check warns."),
    'black_min_seconds': ("Longest Black Picture",
        "A black stretch this long (seconds) fails the check."),
    'freeze_min_seconds': ("Longest Frozen Picture",
        "A frozen stretch this long (seconds) fails the check."),
    'face_min_share': ("Share With Two Faces",
        "Least share of the sampled frames showing salesperson and "
        "customer together."),
    'face_max_gap_seconds': ("Longest Stretch Without Two Faces",
        "Seconds the picture may show fewer than two faces at a stretch."),
    'face_sample_fps': ("Face Samples per Second",
        "How many frames per second are searched for faces."),
    }


def _threshold_field(name):
    label, help_ = THRESHOLDS[name]
    return fields.Float(label, required=True, help=help_)


class Configuration(metaclass=PoolMeta):
    __name__ = 'dualrec.configuration'

    cooling_off_days = fields.Integer("Cooling-off Days", required=True,
        domain=[('cooling_off_days', '>=', 0)],
        help="Days of the cooling-off period (犹豫期) within which a sampled "
        "ticket must be inspected.")
    timeline_gap = _threshold_field('timeline_gap')
    continuity_jump_seconds = _threshold_field('continuity_jump_seconds')
    continuity_av_seconds = _threshold_field('continuity_av_seconds')
    continuity_timeline_seconds = _threshold_field(
        'continuity_timeline_seconds')
    silence_noise_db = _threshold_field('silence_noise_db')
    silence_min_seconds = _threshold_field('silence_min_seconds')
    silence_warn_ratio = _threshold_field('silence_warn_ratio')
    silence_fail_ratio = _threshold_field('silence_fail_ratio')
    silence_fail_seconds = _threshold_field('silence_fail_seconds')
    loudness_min_lufs = _threshold_field('loudness_min_lufs')
    black_min_seconds = _threshold_field('black_min_seconds')
    freeze_min_seconds = _threshold_field('freeze_min_seconds')
    face_min_share = _threshold_field('face_min_share')
    face_max_gap_seconds = _threshold_field('face_max_gap_seconds')
    face_sample_fps = _threshold_field('face_sample_fps')

    @classmethod
    def default_cooling_off_days(cls):
        return 15

    def thresholds(self):
        "Return the autocheck.Thresholds of the configuration."
        return autocheck.Thresholds(**{
                name: getattr(self, name)
                if getattr(self, name) is not None
                else getattr(_DEFAULTS, name)
                for name in THRESHOLDS})


def _default(name):
    return classmethod(lambda cls: getattr(_DEFAULTS, name))


for _name in THRESHOLDS:
    setattr(Configuration, f'default_{_name}', _default(_name))
assert set(THRESHOLDS) == {
    f.name for f in dataclasses.fields(autocheck.Thresholds)}
