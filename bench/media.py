#!/usr/bin/env python3
# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Run the media pipeline on generated recordings and print JSON figures.

    .venv/bin/python -m bench.media [--minutes 5 20 40] [--codecs h264 vp8]
        [--scene heads|counter|pattern] [--long]

--long runs the long sessions instead: 45, 90 and 120 minutes (the
ladder's floor; the recorder's limit is 120 minutes).

For each duration and codec it generates a 1280x720 30 fps input with
sensor noise and speech-like audio (WebM for vp8/vp9 as the browser
recorder makes, MP4 for h264 as phones make), runs the whole pipeline of
dualrec_core (seal, probe, plan, transcode, verify, encrypt) and prints one
JSON object per input.  Every input is one rendered minute looped by
stream copy.  Scenes: heads (default), two talking heads at a counter
(bench.scene); counter, the same room with two patches of ever-changing
testsrc2 detail for people (much harder than a face); pattern, testsrc2
over the whole picture (the hardest case).  Figures:

* output_bytes and fits (≤ 5,000,000 bytes); the plan (resolution, fps),
  the x264 preset and the bitrates the streams really take;
* wall_seconds of the pipeline and realtime_factor (duration / wall);
* decode_seconds of a decode-only pass of the same source (every frame
  decoded once, the physical floor) and pipeline_to_decode (the ratio);
  ffmpeg_cpu_seconds and decode_cpu_seconds, the CPU time ffmpeg spent in
  each (two cores: wall ≥ CPU / 2);
* ssim and psnr of the output against the source scaled to the output's
  size and frame rate;
* attempts (video encodes), budget_pass (whether a second pass was
  encoded to spend what the first left unspent) and budget_kept (it fitted
  and replaced the first), first_bytes (the first pass's output),
  first_ssim and ssim_gain (the final SSIM over the first pass's);
* encrypt_mb_s: throughput of the media envelope (envelope.benchmark).

Generated inputs are kept in --cache (default var/bench) and reused.
"""
import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dualrec import media, testing  # noqa: E402
from dualrec.crypto import envelope  # noqa: E402
from dualrec.media import pipeline  # noqa: E402

from bench import scene  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# Every input is this many seconds rendered once, looped to its length: the
# encoder's references reach back 16 frames and a key frame starts every
# 10 s, so it gains nothing from the repetition.
CLIP_SECONDS = 60


def cpu_seconds():
    "User + system CPU seconds of the finished child processes so far."
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def decode_only(path):
    """(wall, CPU) seconds to decode every frame of path once: the floor of
    any pipeline."""
    started, cpu = time.monotonic(), cpu_seconds()
    subprocess.run([media.ffmpeg_executable(), '-v', 'error', '-nostdin',
            '-i', str(path), '-map', '0:v:0', '-f', 'null', '-'],
        check=True)
    return time.monotonic() - started, cpu_seconds() - cpu


def keeping_outputs(directory):
    """Return a runner (subprocess.run's signature) that copies each output
    transcode muxes into directory as output-<n>.mp4: the first is the
    first pass's, which a budget pass replaces."""
    outputs = []

    def runner(args, **kwargs):
        result = subprocess.run(args, **kwargs)
        muxed = [a for a in args if str(a).endswith('output.mp4')]
        if not result.returncode and 'copy' in args and muxed:
            kept = Path(directory) / f'output-{len(outputs) + 1}.mp4'
            shutil.copyfile(muxed[-1], kept)
            outputs.append(kept)
        return result
    runner.outputs = outputs
    return runner


def run_one(source, keyring, workdir):
    root = Path(workdir)
    original = 'upload/original'
    (root / 'upload').mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, root / original)
    runner = keeping_outputs(root)
    started, cpu = time.monotonic(), cpu_seconds()
    result = pipeline.run(root, original, keyring, 'out/recording.mp4.enc',
        media.TARGET_SIZE, runner=runner)
    wall = time.monotonic() - started
    # ffmpeg's share; the Python side (probe, encryption) is not counted
    cpu = cpu_seconds() - cpu
    output = root / 'plain.mp4'
    envelope.decrypt_file(keyring, root / result.compressed_path, output)
    quality = media.ssim_psnr(str(source), str(output), result.width,
        result.height, fps=result.settings['fps'])
    # a budget pass follows a first output that fitted (one over the
    # target is an overshoot, encoded again lower) and is kept if it fits
    first = runner.outputs[0]
    budget_pass = (len(runner.outputs) > 1
        and first.stat().st_size <= media.TARGET_SIZE)
    budget_kept = budget_pass and (
        runner.outputs[-1].stat().st_size == result.compressed_size)
    first_quality = (media.ssim_psnr(str(source), str(first), result.width,
            result.height, fps=result.settings['fps'])
        if budget_pass else quality)
    decode, decode_cpu = decode_only(source)
    duration = media.probe(source).duration
    streams = media.stream_bytes(output)
    return {
        'input': source.name,
        'duration_s': round(duration, 1),
        'output_bytes': result.compressed_size,
        'fits': result.compressed_size <= media.TARGET_SIZE,
        'resolution': f'{result.width}x{result.height}',
        'fps': result.settings['fps'],
        'preset': result.settings['preset'],
        # what the streams take, not what was asked of the encoders
        'video_kbps': round(streams.get('video', 0) * 8 / duration / 1000, 1),
        'audio_kbps': round(streams.get('audio', 0) * 8 / duration / 1000, 1),
        'wall_seconds': round(wall, 1),
        'realtime_factor': round(duration / wall, 1),
        'decode_seconds': round(decode, 1),
        'pipeline_to_decode': round(wall / decode, 2),
        'ffmpeg_cpu_seconds': round(cpu, 1),
        'decode_cpu_seconds': round(decode_cpu, 1),
        'ssim': round(quality.ssim, 4),
        'psnr': round(quality.psnr, 2),
        'low_quality': result.low_quality,
        'unused_share': round(1 - result.compressed_size / media.TARGET_SIZE,
            3),
        'attempts': result.settings['attempts'],
        'budget_pass': budget_pass,
        'budget_kept': budget_kept,
        'first_bytes': first.stat().st_size,
        'first_ssim': round(first_quality.ssim, 4),
        'ssim_gain': round(quality.ssim - first_quality.ssim, 4),
        }


def generate(path, name, seconds, codec, cache):
    """Write the input of scene name at path: one rendered minute (cached)
    looped by stream copy to seconds; renamed into place when whole."""
    partial = path.with_name('partial-' + path.name)
    clip = cache / f'clip-{name}-{codec}{path.suffix}'
    if not clip.exists():
        if name == 'heads':
            scene.write_clip(partial, CLIP_SECONDS, codec)
        else:
            # media's scene names: 'talking' is the counter
            testing.generate_sample(str(partial), CLIP_SECONDS, codec=codec,
                scene='talking' if name == 'counter' else name)
        partial.rename(clip)
    scene.loop(clip, partial, seconds)
    partial.rename(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--minutes', type=float, nargs='+',
        default=[5, 20, 40])
    parser.add_argument('--codecs', nargs='+', default=['h264', 'vp8'])
    parser.add_argument('--scene', choices=['heads', 'counter', 'pattern'],
        default='heads', help="heads: two talking heads at a counter; "
        "counter: the same room with testsrc2 patches for people; pattern: "
        "testsrc2 over the whole picture, the hardest case")
    parser.add_argument('--long', action='store_true',
        help="the long sessions: 45, 90 and 120 minutes")
    parser.add_argument('--cache', default=str(ROOT / 'var' / 'bench'))
    args = parser.parse_args()
    if args.long:
        args.minutes = [45, 90, 120]
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    keyring = envelope.Keyring.from_string('kbench:' + 'b3' * 32)
    encryption = envelope.benchmark(size_mb=128)
    for minutes in args.minutes:
        for codec in args.codecs:
            suffix = 'mp4' if codec == 'h264' else 'webm'
            source = cache / f'{args.scene}-{minutes:g}min-{codec}.{suffix}'
            if not source.exists():
                generate(source, args.scene, minutes * 60, codec, cache)
            with tempfile.TemporaryDirectory(prefix='bench-media-') as tmp:
                figures = run_one(source, keyring, tmp)
            figures['encrypt_mb_s'] = encryption['encrypt_mb_per_s']
            figures['decrypt_mb_s'] = encryption['decrypt_mb_per_s']
            print(json.dumps(figures), flush=True)


if __name__ == '__main__':
    main()
