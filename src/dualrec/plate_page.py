# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The HTML of the public scan page of a move-car plate, in Chinese.

Phone-sized, a few kilobytes, inline CSS, no script: every action is a
plain form POST.  The functions take only what may be shown: the owner's
number is never given to them.  ``base`` is the relative path from the
page answered to the plate's page directory ('' for the page itself), so
that the links work both at /<database>/dualrec/m/ and behind a reverse
proxy that maps another prefix onto it.
"""
from html import escape

from .plate_scan import PRESETS

__all__ = ['page', 'bound_page', 'call_page', 'unbound_page', 'code_page',
    'notice_page', 'sent_page']

CSS = (
    '*{box-sizing:border-box}'
    'body{margin:0;background:#f2f4f7;color:#1d2129;font:16px/1.5 '
    '-apple-system,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",'
    'sans-serif}'
    'header{background:#1664ff;color:#fff;padding:18px 20px 44px}'
    'header h1{margin:0;font-size:22px}header p{margin:4px 0 0;opacity:.85;'
    'font-size:14px}'
    'main{margin:-28px 14px 20px}'
    '.card{background:#fff;border-radius:12px;padding:18px;margin-bottom:'
    '14px;box-shadow:0 1px 3px rgba(0,0,0,.08)}'
    '.card h2{margin:0 0 10px;font-size:18px}'
    '.plate{display:inline-block;background:#0c3da8;color:#fff;border:2px '
    'solid #fff;outline:1px solid #0c3da8;border-radius:4px;padding:2px '
    '10px;font-size:20px;letter-spacing:2px}'
    'button,.btn{display:block;width:100%;border:0;border-radius:10px;'
    'padding:14px;font-size:18px;text-align:center;text-decoration:none;'
    'background:#1664ff;color:#fff;margin-top:12px}'
    '.btn.alt,button.alt{background:#00a870}'
    'label{display:block;margin:10px 0 4px;font-size:14px;color:#4e5969}'
    'input[type=text],input[type=tel]{width:100%;padding:12px;font-size:'
    '17px;border:1px solid #c9cdd4;border-radius:8px}'
    '.opt{display:flex;gap:8px;align-items:flex-start;padding:10px 0;'
    'border-bottom:1px solid #f2f3f5;color:#1d2129;font-size:15px;margin:0}'
    '.opt input{margin-top:4px}'
    '.num{font-size:28px;font-weight:600;letter-spacing:1px;margin:6px 0}'
    '.muted{color:#86909c;font-size:13px}'
    '.err{background:#ffece8;color:#cb2634;border-radius:8px;padding:10px;'
    'margin-bottom:12px}'
    '.ok{color:#00a870}'
    'footer{text-align:center;color:#86909c;font-size:12px;padding:0 0 24px}'
    )


def page(title, body, subtitle='智能挪车牌'):
    "Return the whole HTML document of a page."
    return ('<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,'
        'initial-scale=1"><meta name="referrer" content="same-origin">'
        '<meta name="robots" content="noindex">'
        f'<title>{escape(title)}</title><style>{CSS}</style></head><body>'
        f'<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p>'
        f'</header><main>{body}</main>'
        '<footer>车主号码全程保密 · 隐私号码保护</footer></body></html>')


def _error(error):
    return f'<div class="err">{escape(error)}</div>' if error else ''


def _hidden(token):
    return f'<input type="hidden" name="token" value="{escape(token)}">'


def _plate(vehicle):
    return f'<span class="plate">{escape(vehicle)}</span>' if vehicle else ''


def bound_page(base, payload, token, vehicle, ask_caller=False, error=None,
        minutes=None, call=True, message=True):
    """The page of a bound plate: call the owner through a virtual number
    (if ``call``), or send a preset message (if ``message``); ``vehicle``
    is the masked vehicle plate."""
    caller = ('<label for="caller">您的手机号（仅用该号码拨打隐私号）</label>'
        '<input type="tel" id="caller" name="caller" inputmode="numeric" '
        'maxlength="13" autocomplete="tel" required>') if ask_caller else ''
    valid = f'，{minutes}分钟内有效' if minutes else ''
    options = ''.join(
        f'<label class="opt"><input type="radio" name="preset" '
        f'value="{key}"{" checked" if i == 0 else ""}>{escape(text)}</label>'
        for i, (key, text) in enumerate(PRESETS.items()))
    action = f'{base}{escape(payload)}'
    calling = (
        '<p class="muted">点击呼叫后将获得一个临时隐私号码'
        f'{valid}，车主的真实号码不会显示。</p>'
        f'<form method="post" action="{action}/call">{_hidden(token)}'
        f'{caller}<button type="submit">呼叫车主</button></form>'
        ) if call else '<p class="muted">暂不支持电话联系车主。</p>'
    texting = (
        '<div class="card"><h2>发送挪车短信</h2>'
        f'<form method="post" action="{action}/message">{_hidden(token)}'
        f'{options}<button type="submit" class="alt">发送挪车短信</button>'
        '</form></div>') if message else ''
    return page('请挪车', (
        f'{_error(error)}'
        '<div class="card"><h2>联系车主挪车</h2>'
        f'<p>{_plate(vehicle)}</p>{calling}</div>{texting}'))


def call_page(base, payload, secret_no, extension, until, minutes):
    """The virtual number to dial (a tel: link with the extension after a
    pause) and until when, ``until`` being the Beijing time 'HH:MM'."""
    dial = secret_no + (f',{extension}' if extension else '')
    shown = (f'{secret_no[:3]} {secret_no[3:7]} {secret_no[7:]}'
        if len(secret_no) == 11 else secret_no)
    ext = (f'<p>接通后请按提示输入分机号 <b class="num">{escape(extension)}'
        '</b></p>') if extension else ''
    return page('呼叫车主', (
        '<div class="card"><h2>请拨打隐私号码</h2>'
        f'<div class="num">{escape(shown)}</div>{ext}'
        f'<a class="btn" href="tel:{escape(dial)}">立即拨打</a>'
        f'<p class="muted">号码{minutes}分钟内有效（至北京时间 '
        f'{escape(until)}），通话经隐私号转接，双方号码均不显示。</p>'
        '</div>'
        f'<a class="btn alt" href="{base}{escape(payload)}">返回</a>'))


def sent_page(base, payload):
    return page('短信已发送', (
        '<div class="card"><h2 class="ok">挪车短信已发送给车主</h2>'
        '<p class="muted">请在车旁稍候，车主收到短信后会尽快前来。</p>'
        '</div>'
        f'<a class="btn alt" href="{base}{escape(payload)}">返回</a>'))


def unbound_page(base, payload, token, error=None, vehicle='', phone=''):
    "The page of a plate sold but not bound: the owner's binding form."
    return page('该挪车牌尚未绑定', (
        f'{_error(error)}'
        '<div class="card"><h2>车主绑定</h2>'
        '<p class="muted">如果您是车主，请绑定您的车辆和手机号。绑定后，'
        '他人扫码即可通过隐私号码或短信通知您挪车，您的号码不会显示给任何人。'
        '</p>'
        f'<form method="post" action="{base}{escape(payload)}/bind/request">'
        f'{_hidden(token)}'
        '<label for="vehicle">车牌号</label>'
        '<input type="text" id="vehicle" name="vehicle_plate" '
        f'maxlength="12" placeholder="如 粤A12345" value="{escape(vehicle)}" '
        'required>'
        '<label for="phone">车主手机号</label>'
        '<input type="tel" id="phone" name="phone" inputmode="numeric" '
        f'maxlength="13" value="{escape(phone)}" required>'
        '<label class="opt"><input type="checkbox" name="consent" value="1" '
        'required>我同意将车牌号和手机号用于挪车通知（号码加密保存，'
        '仅经隐私号码和短信联系我）</label>'
        '<button type="submit">获取短信验证码</button></form></div>'))


def code_page(base, payload, token, request, phone, error=None):
    "The form of the SMS code sent to the masked ``phone``."
    return page('输入验证码', (
        f'{_error(error)}'
        '<div class="card"><h2>输入短信验证码</h2>'
        f'<p class="muted">验证码已发送至 {escape(phone)}，5分钟内有效。</p>'
        f'<form method="post" action="{base}{escape(payload)}/bind/confirm">'
        f'{_hidden(token)}'
        f'<input type="hidden" name="request" value="{escape(request)}">'
        '<label for="code">验证码</label>'
        '<input type="text" id="code" name="code" inputmode="numeric" '
        'maxlength="6" autocomplete="one-time-code" required>'
        '<button type="submit">确认绑定</button></form></div>'))


def notice_page(title, message, base=None, payload=None):
    "A page that only tells something (a refusal, a state, a success)."
    back = (f'<a class="btn alt" href="{base}{escape(payload)}">返回</a>'
        if payload else '')
    return page(title, (
        f'<div class="card"><p>{escape(message)}</p></div>{back}'))
