# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The review player: the recording beside its node timeline.

The Play button of a ticket or a QC task opens /<db>/dualrec/player/<token>
with the same signed link as dualrec_core's playback (dualrec.playback, met
through the Pool: it dies with the session and the user): the page plays
/<db>/dualrec/media/<token> (access-checked and audited there) and lists the
script nodes with their offsets; a click on a node seeks the video to it.
"""
import html
import json

from trytond.i18n import gettext
from trytond.model import ModelView
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.protocols.wrappers import Response, with_pool, with_transaction
from trytond.transaction import Transaction
from trytond.wsgi import app



def json_response(data, status):
    return Response(json.dumps(data, ensure_ascii=False), status=status,
        content_type='application/json; charset=utf-8')


def node_offsets(timeline):
    """Return (name, start offset s, confirm offset s or None) per node,
    counted from the first node's start (the start of the recording)."""
    starts = [t['started_at'] for t in timeline if t['started_at']]
    if not starts:
        return []
    origin = min(starts)
    result = []
    for entry in timeline:
        if not entry['started_at']:
            continue
        confirmed = entry['confirmed_at']
        result.append((entry['name'],
                (entry['started_at'] - origin).total_seconds(),
                (confirmed - origin).total_seconds() if confirmed else None))
    return result


def _clock(seconds):
    seconds = int(seconds)
    return f'{seconds // 60:02d}:{seconds % 60:02d}'


def measure(value, unit):
    """Return value in unit as a reviewer reads it: ratios as percentages,
    counts bare, seconds and LUFS with their symbol ('' for no value)."""
    if value is None:
        return ''
    if unit == 'ratio':
        return f'{value * 100:.0f} %'
    if unit in {None, '', 'count'}:
        return f'{value:g}'
    return f'{value:g} {unit}'


def render(recording, media_url):
    "Return the HTML page of the player for recording."
    e = html.escape
    timeline = [{
            'name': t.node.name if t.node else str(t.sequence),
            'started_at': t.started_at,
            'confirmed_at': t.confirmed_at,
            } for t in recording.timeline]
    rows = []
    for name, start, confirm in node_offsets(timeline):
        rows.append(
            f'<li><button type="button" data-at="{start:.1f}">'
            f'<time>{_clock(start)}</time> {e(name)}</button>'
            + ('' if confirm is not None else
                f' <em>{e(gettext("dualrec_review.msg_player_unconfirmed"))}'
                '</em>')
            + '</li>')
    checks = []
    for check in getattr(recording, 'checks', []):
        checks.append(
            f'<tr class="{e(check.result)}"><td>{e(check.code_string)}</td>'
            f'<td>{e(check.result_string)}</td>'
            f'<td>{e(measure(check.value, check.unit))}</td>'
            f'<td>{e(measure(check.threshold, check.unit))}</td>'
            f'<td>{e(check.rule_string or "")}</td></tr>')
    language = Transaction().language or 'en'
    title = e(recording.rec_name)
    return f"""<!DOCTYPE html>
<html lang="{e(language.replace('_', '-'))}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 0; display: flex; flex-wrap: wrap;
  gap: 1em; padding: 1em; background: #f4f5f7; }}
video {{ flex: 3 1 480px; max-width: 100%; height: auto; align-self: flex-start;
  background: #000; }}
aside {{ flex: 1 1 260px; }}
ol {{ padding-left: 1.2em; }} li {{ margin: .3em 0; }}
button {{ font: inherit; border: 0; background: #fff; padding: .4em .6em;
  border-radius: 4px; cursor: pointer; text-align: left; width: 100%; }}
button:hover, button.current {{ background: #dbe8ff; }}
time {{ font-family: monospace; color: #555; }}
table {{ border-collapse: collapse; width: 100%; font-size: .9em; }}
td {{ border-top: 1px solid #ddd; padding: .3em; }}
tr.fail td {{ color: #b00020; }} tr.warn td {{ color: #a15c00; }}
</style></head><body>
<video id="player" controls preload="metadata" src="{e(media_url)}"></video>
<aside><h1 style="font-size:1.1em">{title}</h1>
<h2 style="font-size:1em">{e(gettext('dualrec_review.msg_player_nodes'))}</h2>
<ol id="nodes">{''.join(rows)}</ol>
<h2 style="font-size:1em">{e(gettext('dualrec_review.msg_player_checks'))}</h2>
<table>{''.join(checks)}</table></aside>
<script>
const video = document.getElementById('player');
const buttons = [...document.querySelectorAll('#nodes button')];
for (const button of buttons) {{
  button.addEventListener('click', () => {{
    video.currentTime = Number(button.dataset.at); video.play();
  }});
}}
video.addEventListener('timeupdate', () => {{
  let current = null;
  for (const b of buttons) {{ if (Number(b.dataset.at) <= video.currentTime + 0.05) current = b; }}
  for (const b of buttons) b.classList.toggle('current', b === current);
}});
</script></body></html>"""


@app.route('/<database_name>/dualrec/player/<token>', methods={'GET'})
@with_pool
@with_transaction(readonly=False)
def player(request, pool, token):
    "The review player page, as the user the signed link was made for."
    Playback = pool.get('dualrec.playback')
    # not readonly: checking the web session may remove expired ones
    checked = Playback.open(request, token, modes=['play'])
    if not checked:
        return json_response({'code': 'unauthorized', 'message':
                gettext('dualrec_core.msg_playback_link_dead')}, 401)
    recording_id, user_id, _ = checked
    with Playback.as_link_user(user_id):
        Recording = pool.get('dualrec.recording')
        records = Recording.search([('id', '=', recording_id)], limit=1)
        if not records:
            return json_response({'code': 'not_found', 'message':
                    gettext('dualrec_core.msg_api_not_found')}, 404)
        page = render(records[0],
            f'/{pool.database_name}/dualrec/media/{token}')
    response = Response(page, content_type='text/html; charset=utf-8')
    response.headers['Cache-Control'] = 'private, no-store'
    response.headers['Content-Security-Policy'] = (
        "default-src 'self'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; media-src 'self'")
    return response


class Recording(metaclass=PoolMeta):
    __name__ = 'dualrec.recording'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'review_play': {
                    'invisible': Eval('status') != 'ready',
                    'depends': ['status'],
                    },
                })

    @classmethod
    @ModelView.button
    def review_play(cls, recordings):
        "Watch the recording beside its node timeline (signed link)."
        if not recordings:
            return
        Playback = Pool().get('dualrec.playback')
        transaction = Transaction()
        recording = recordings[0]
        token = Playback.sign(recording, mode='play')
        return {
            'type': 'ir.action.url',
            'url': f'/{transaction.database.name}/dualrec/player/{token}',
            'name': recording.rec_name,
            }


class Ticket(metaclass=PoolMeta):
    __name__ = 'dualrec.ticket'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'play': {
                    'invisible': Eval('recording_status') != 'ready',
                    'depends': ['recording_status'],
                    },
                })

    @classmethod
    @ModelView.button
    def play(cls, tickets):
        "Watch the current recording beside its node timeline."
        Recording = Pool().get('dualrec.recording')
        recordings = [t.recording for t in tickets if t.recording]
        if recordings:
            return Recording.review_play(recordings[:1])

