# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The media pipeline of one recording, without the database.

    seal the upload → probe → plan → transcode → verify → checks → encrypt
    → store → delete plaintext → hashes

The upload store hands over the original already sealed (encrypted as
its parts arrived); an original stored in plaintext before that is sealed
first, so that no plaintext media stays in the storage whatever happens
next.  The work happens on a decrypted copy in the recording's private
work directory ``<root>/work/<name>`` (0700), removed at the end on
success and on failure, at the start of the next run of the same
recording if a killed run left it, and by ``clean_workdirs`` (the worker
at its start, the scheduled job).  Every step is idempotent: a run killed
anywhere runs again from the sealed original.

MediaError and EnvelopeError are final (the file is bad: the recording
fails with their code); any other exception is transient (disk full, a
killed process) and the caller retries.
"""
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import media
from ..crypto import envelope

SEALED_SUFFIX = '.enc'


@dataclass
class Result:
    "What the pipeline made, to be written on the recording."
    original_path: str | None
    compressed_path: str
    compressed_size: int
    compressed_sha256: str
    duration: float
    video_codec: str
    audio_codec: str | None
    width: int
    height: int
    key_id: str
    low_quality: bool
    settings: dict
    warnings: list = field(default_factory=list)
    # what the automatic checks found, for the caller to keep
    findings: list = field(default_factory=list)
    seconds: float = 0.0
    # stored files to remove once the result is saved (the sealed original
    # when it is not kept): removed earlier, a failed save would lose it
    discard: list = field(default_factory=list)


def seal_original(root, relative, keyring, sha256=None):
    """Encrypt the uploaded original in place of its plaintext.

    Returns the relative path of the sealed file.  The plaintext digest is
    checked against sha256 (the one the upload announced) before the
    plaintext is removed.  Already sealed: nothing to do.
    """
    root = Path(root)
    if relative.endswith(SEALED_SUFFIX):
        return relative
    sealed = relative + SEALED_SUFFIX
    plain_path, sealed_path = root / relative, root / sealed
    if not plain_path.exists() and sealed_path.exists():
        return sealed   # killed after sealing, before the caller saved it
    info = envelope.encrypt_file(keyring, plain_path, sealed_path)
    if sha256 and info['plaintext_sha256'] != sha256.lower():
        sealed_path.unlink(missing_ok=True)
        raise media.MediaError('original_changed',
            "The uploaded file no longer matches its SHA-256.")
    plain_path.unlink()
    return sealed


WORK = 'work'
# where runs before the work directories were named after the recording
# kept their files: cleaned as well
_LEGACY_WORK = '.work'


def private_workdir(root, name=None):
    """Make the private (0700) work directory root/work/name, empty.

    What a killed run of the same name left there is removed first.
    Without a name, a new temporary directory is made.
    """
    parent = Path(root) / WORK
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(parent, 0o700)
    if name is None:
        return Path(tempfile.mkdtemp(prefix='pipeline-', dir=parent))
    if not name or '/' in name or name.startswith('.'):
        raise ValueError(f'invalid work directory name {name!r}')
    directory = parent / name
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(mode=0o700)
    return directory


def run(root, original, keyring, destination, target_size,
        keep_original=False, original_sha256=None, checks=(),
        runner=subprocess.run, clock=time.monotonic, work=None):
    """Process the recording whose upload is at root/original.

    work names the private work directory (private_workdir), e.g. the
    recording's id, so that a next run removes what a killed one left.

    Nothing stored is removed: the sealed original to drop (keep_original
    false) is listed in Result.discard for the caller to remove once it has
    saved the result.

    destination is the relative path of the encrypted MP4 to write; checks
    callables(path of the plaintext output, probe of the source, Transcoded)
    returning (warnings, findings): warning strings for Result.warnings and
    what they found for Result.findings (the automatic checks hook), run
    before the output is encrypted.  Returns a Result.
    """
    started = clock()
    root = Path(root)
    sealed = seal_original(root, original, keyring, original_sha256)
    workdir = private_workdir(root, work)
    try:
        source = workdir / 'source'
        envelope.decrypt_file(keyring, root / sealed, source)
        source_probe = media.probe(source)
        plan = media.plan(source_probe.duration, target_size=target_size,
            width=source_probe.width, height=source_probe.height,
            audio=source_probe.has_audio, fps=source_probe.fps)
        output = workdir / 'output.mp4'
        transcoded = media.transcode(source, output, plan, workdir,
            runner=runner, source_probe=source_probe)
        warnings, findings = [], []
        for check in checks:
            found_warnings, found = check(output, source_probe, transcoded)
            warnings.extend(found_warnings)
            findings.extend(found)
        target = root / destination
        target.parent.mkdir(parents=True, exist_ok=True)
        info = envelope.encrypt_file(keyring, output, target)
        out = transcoded.probe
        return Result(
            original_path=sealed,
            compressed_path=destination,
            compressed_size=out.size,
            compressed_sha256=info['plaintext_sha256'],
            duration=out.duration,
            video_codec=out.video_codec,
            audio_codec=out.audio_codec,
            width=out.width,
            height=out.height,
            key_id=info['key_id'],
            low_quality=plan.low_quality,
            settings={
                'target_size': target_size,
                'width': plan.width, 'height': plan.height,
                'fps': plan.fps,
                'video_bitrate': transcoded.video_bitrate,
                'audio_bitrate': transcoded.audio_bitrate,
                'attempts': transcoded.attempts,
                'preset': transcoded.preset,
                'encoder': 'libx264 + aac, faststart',
                },
            warnings=warnings,
            findings=findings,
            seconds=clock() - started,
            discard=[] if keep_original else [sealed])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def clean_workdirs(root, older_than=0, now=None):
    """Remove the work directories a killed run left, older than
    older_than seconds (0: all, when no run can be going on); return how
    many."""
    now = now or time.time()
    removed = 0
    for parent in [Path(root) / WORK, Path(root) / _LEGACY_WORK]:
        if not parent.exists():
            continue
        for directory in parent.iterdir():
            try:
                age = now - directory.stat().st_mtime
            except FileNotFoundError:
                continue
            if age >= older_than:
                if directory.is_dir():
                    shutil.rmtree(directory, ignore_errors=True)
                else:
                    directory.unlink(missing_ok=True)
                removed += 1
    return removed


def remove(root, *relatives):
    "Remove stored files (disposal); missing ones are ignored."
    for relative in relatives:
        if relative:
            try:
                os.unlink(Path(root) / relative)
            except FileNotFoundError:
                pass
