# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The settlement of a period of move-car plates, in orders of the order
center that finance then puts on statements and invoices:

- per insurer, the connected calls of the plates it bought in separate
  settlement make a receivable call-fee order; the merged purchases of the
  period and the calls of the plates bought in merged settlement make one
  combined order;
- per agent, a payable payout order of the promotion fees: per plate bound
  the first time and per connected call of the plates they placed.

Prices come from the plate agreement with the insurer on the day of each
call or binding.  Each call, purchase and binding is settled once: it
points at its order afterwards.  A settlement takes everything not settled
yet up to the end of its period, so a call record that arrives after its
period was settled goes into the next one: nothing is lost.  Days are the
company's calendar days.
"""
import datetime as dt
from collections import defaultdict

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval, PYSONEncoder
from trytond.tools import grouped_slice
from trytond.tools import timezone as tz
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateAction, StateView, Wizard

from dualrec import plate as plates

from .coupon import local_day, today
from .exceptions import PlateError


def day_bounds(company, start, end):
    """Return the naive UTC moments that bound the company's calendar days
    start to end (both included): [first, last)."""
    zone = tz.get_tzinfo(company.timezone) if company.timezone else (
        dt.timezone.utc)

    def moment(day):
        local = dt.datetime.combine(day, dt.time.min).replace(tzinfo=zone)
        return local.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment(start), moment(end + dt.timedelta(days=1))


def _agreement(cache, company, insurer, day):
    Agreement = Pool().get('dualrec.plate.agreement')
    key = (insurer.id, day)
    if key not in cache:
        agreement = Agreement.find(company, insurer, day)
        if agreement is None:
            raise PlateError(gettext(
                    'dualrec_valueadd.msg_plate_settle_agreement',
                    insurer=insurer.rec_name, day=day))
        cache[key] = agreement
    return cache[key]


def _product(name):
    Configuration = Pool().get('dualrec.valueadd.configuration')
    with without_check_access():
        product = getattr(Configuration(1), name)
    if not product:
        raise PlateError(gettext(
                f'dualrec_valueadd.msg_plate_settle_{name}'))
    return product


def call_lines(company, calls, cache, start, end):
    """Return the order lines of the fees of calls: one per agreement, its
    quantity the calls (per call) or the minutes started (per minute)."""
    product = _product('plate_call_product')
    units = defaultdict(int)
    for call in calls:
        agreement = _agreement(cache, company, call.insurer,
            local_day(company, call.call_time))
        units[agreement] += (1 if agreement.fee_mode == 'per_call'
            else plates.call_units(call.duration))
    return [{
            'product': product.id,
            'quantity': count,
            'unit_price': agreement.call_price,
            'tax_rate': agreement.call_tax_rate,
            'description': gettext(
                f'dualrec_valueadd.msg_plate_settle_{agreement.fee_mode}',
                start=start, end=end, count=count),
            } for agreement, count in sorted(
            units.items(), key=lambda i: i[0].id)]


def settle(company, start, end, insurers=None):
    """Make the orders of the plates of company over the days start to end
    (of the given insurers, default all) and return them."""
    pool = Pool()
    Call = pool.get('dualrec.plate.call')
    Purchase = pool.get('dualrec.plate.purchase')
    Binding = pool.get('dualrec.plate.binding')
    Plate = pool.get('dualrec.plate')
    Order = pool.get('dualrec.order')
    if end < start:
        raise PlateError(gettext('dualrec_valueadd.msg_plate_settle_dates',
                start=start, end=end))
    if end > today(company):
        raise PlateError(gettext('dualrec_valueadd.msg_plate_settle_open',
                end=end))
    _, last = day_bounds(company, start, end)
    insurer_domain = ([('insurer', 'in', [int(i) for i in insurers])]
        if insurers else [('insurer', '!=', None)])
    cache = {}
    with without_check_access():
        calls = Call.search([
                ('company', '=', company.id),
                ('call_time', '<', last),
                ('connected', '=', True),
                ('order', '=', None),
                ] + insurer_domain, order=[('id', 'ASC')])
        purchases = Purchase.search([
                ('company', '=', company.id),
                ('mode', '=', 'merged'),
                ('state', '=', 'confirmed'),
                ('order', '=', None),
                ('date', '<=', end),
                ] + insurer_domain, order=[('id', 'ASC')])
        # per insurer: (separate calls, merged calls, merged purchases)
        groups = defaultdict(lambda: ([], [], []))
        for call in calls:
            merged = (call.plate and call.plate.purchase
                and call.plate.purchase.mode == 'merged')
            groups[call.insurer][1 if merged else 0].append(call)
        for purchase in purchases:
            groups[purchase.insurer][2].append(purchase)

        vlist, links = [], []
        for insurer in sorted(groups, key=lambda p: p.id):
            separate, merged, bought = groups[insurer]
            common = {
                'company': company.id,
                'counterparty': insurer.id,
                'date': end,
                }
            if separate:
                vlist.append({**common,
                        'type_': 'call',
                        'source': 'plate_calls',
                        'external_ref': (f'{insurer.id}:{start}:{end}:'
                            f'{separate[0].id}:{len(separate)}'),
                        'description': gettext(
                            'dualrec_valueadd.msg_plate_settle_call_order',
                            start=start, end=end, count=len(separate)),
                        'lines': call_lines(
                            company, separate, cache, start, end),
                        })
                links.append((separate, []))
            if merged or bought:
                lines = []
                for purchase in bought:
                    lines.extend(purchase._purchase_lines())
                lines.extend(call_lines(company, merged, cache, start, end))
                ref = (bought[0] if bought else merged[0])
                vlist.append({**common,
                        'type_': 'plate' if bought else 'call',
                        'source': 'plate_merged',
                        'external_ref': (f'{insurer.id}:{start}:{end}:'
                            f'{ref.__name__}:{ref.id}'),
                        'description': gettext(
                            'dualrec_valueadd.msg_plate_settle_merged_order',
                            start=start, end=end, plates=sum(
                                p.quantity for p in bought),
                            count=len(merged)),
                        'lines': lines,
                        })
                links.append((merged, bought))

        # the agents' promotion fees
        bindings = Binding.search([
                ('company', '=', company.id),
                ('action', '=', 'bind'),
                ('at', '<', last),
                ('plate.agent', '!=', None),
                ('plate.insurer', '!=', None),
                ('plate.bind_payout_order', '=', None),
                ] + [('plate.' + c[0],) + c[1:] for c in insurer_domain],
            order=[('id', 'ASC')])
        bound = {}
        for binding in bindings:
            # a plate bound, unbound and bound again earns its agent once
            bound.setdefault(binding.plate, binding)
        agent_calls = Call.search([
                ('company', '=', company.id),
                ('call_time', '<', last),
                ('connected', '=', True),
                ('agent', '!=', None),
                ('payout_order', '=', None),
                ] + insurer_domain, order=[('id', 'ASC')])
        fees = defaultdict(lambda: defaultdict(int))
        earned = defaultdict(lambda: ([], []))
        for plate, binding in bound.items():
            agreement = _agreement(cache, company, plate.insurer,
                local_day(company, binding.at))
            if agreement.agent_bind_fee:
                fees[plate.agent][('bind', agreement)] += 1
            earned[plate.agent][0].append(plate)
        for call in agent_calls:
            agreement = _agreement(cache, company, call.insurer,
                local_day(company, call.call_time))
            if agreement.agent_call_fee:
                fees[call.agent][('call', agreement)] += 1
            earned[call.agent][1].append(call)
        payouts = []
        for agent in sorted(earned, key=lambda p: p.id):
            if not fees[agent]:
                continue
            product = _product('plate_agent_product')
            plates_, calls_ = earned[agent]
            lines = [{
                    'product': product.id,
                    'quantity': count,
                    'unit_price': (agreement.agent_bind_fee if kind == 'bind'
                        else agreement.agent_call_fee),
                    'tax_rate': agreement.agent_tax_rate,
                    'description': gettext(
                        f'dualrec_valueadd.msg_plate_settle_agent_{kind}',
                        start=start, end=end, count=count),
                    } for (kind, agreement), count in sorted(
                    fees[agent].items(), key=lambda i: (i[0][0], i[0][1].id))]
            first_id = min([p.id for p in plates_] + [c.id for c in calls_])
            vlist.append({
                    'company': company.id,
                    'counterparty': agent.id,
                    'date': end,
                    'type_': 'payout',
                    'source': 'plate_payout',
                    'external_ref': f'{agent.id}:{start}:{end}:{first_id}',
                    'description': gettext(
                        'dualrec_valueadd.msg_plate_settle_payout_order',
                        start=start, end=end, plates=len(plates_),
                        count=len(calls_)),
                    'lines': lines,
                    })
            payouts.append((plates_, calls_))

        orders = Order.create_from(vlist) if vlist else []
        for order, (calls_, purchases_) in zip(orders, links):
            for sub in grouped_slice([c.id for c in calls_]):
                Call.write(Call.browse(sub), {'order': order.id})
            if purchases_:
                Purchase.write(purchases_, {'order': order.id})
        for order, (plates_, calls_) in zip(orders[len(links):], payouts):
            for sub in grouped_slice([p.id for p in plates_]):
                Plate.write(Plate.browse(sub), {'bind_payout_order': order.id})
            for sub in grouped_slice([c.id for c in calls_]):
                Call.write(Call.browse(sub), {'payout_order': order.id})
    return orders


class SettleStart(ModelView):
    "Settle the move-car plates of a period."
    __string__ = "Settle Plates"
    __name__ = 'dualrec.plate.settle.start'

    company = fields.Many2One('company.company', "Company", required=True)
    start_date = fields.Date("From", required=True)
    end_date = fields.Date("To", required=True,
        domain=[('end_date', '>=', Eval('start_date', None))])
    insurers = fields.Many2Many('party.party', None, None, "Insurers",
        help="Settle only these insurers; none: every insurer.")

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_start_date(cls):
        company = cls.default_company()
        if company is not None and company >= 0:
            day = today(company).replace(day=1) - dt.timedelta(days=1)
            return day.replace(day=1)

    @classmethod
    def default_end_date(cls):
        company = cls.default_company()
        if company is not None and company >= 0:
            return today(company).replace(day=1) - dt.timedelta(days=1)


class Settle(Wizard):
    """Make the call-fee, merged and payout orders of the plates of a
    period."""
    __name__ = 'dualrec.plate.settle'
    start = StateView('dualrec.plate.settle.start',
        'dualrec_valueadd.plate_settle_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Settle", 'settle', 'tryton-ok', default=True),
            ])
    settle = StateAction('dualrec_orders.act_order_form')

    def do_settle(self, action):
        start = self.start
        orders = settle(start.company, start.start_date, start.end_date,
            insurers=list(start.insurers) or None)
        action['pyson_domain'] = PYSONEncoder().encode(
            [('id', 'in', [o.id for o in orders])])
        action['name'] += f' ({start.start_date} – {start.end_date})'
        return action, {}
