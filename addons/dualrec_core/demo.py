# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Demo data: a company (in Asia/Shanghai), its branch tree, one user per
role, products each with its sales script, QC sampling rules and a few
tickets.

Loaded through proteus by ``./run.sh`` (scripts/setup_db.py); tests load it
only when they ask for it.  Every user gets the same password, printed by
``./run.sh``.
"""
from decimal import Decimal

from proteus import Model
from proteus.config import get_config

# The verbatim opening prompt of CIRC notice 保监消保〔2017〕265号.
OPENING_PROMPT = (
    "此次录音录像过程对于今后您维护权益非常关键，请您认真阅读您签署文件的具体内容，"
    "如实回答相关问题。如果销售人员向您作出任何与书面文件内容不一致的承诺，"
    "建议您与销售人员通过书面形式予以确认，否则，该承诺将无法得到有效保障。")

COMPANY = "示范保险股份有限公司"
# code, name, level, parent code
BRANCHES = [
    ('GD', "广东分公司", 'province', None),
    ('ZJ', "浙江分公司", 'province', None),
    ('GD-GZ', "广州中心支公司", 'city', 'GD'),
    ('GD-SZ', "深圳中心支公司", 'city', 'GD'),
    ('ZJ-HZ', "杭州中心支公司", 'city', 'ZJ'),
    ('ZJ-NB', "宁波中心支公司", 'city', 'ZJ'),
    ('GD-GZ-01', "广州天河营业部", 'outlet', 'GD-GZ'),
    ('GD-GZ-02', "广州越秀营业部", 'outlet', 'GD-GZ'),
    ('GD-SZ-01', "深圳福田营业部", 'outlet', 'GD-SZ'),
    ('GD-SZ-02', "深圳南山营业部", 'outlet', 'GD-SZ'),
    ('ZJ-HZ-01', "杭州西湖营业部", 'outlet', 'ZJ-HZ'),
    ('ZJ-HZ-02', "杭州滨江营业部", 'outlet', 'ZJ-HZ'),
    ('ZJ-NB-01', "宁波海曙营业部", 'outlet', 'ZJ-NB'),
    ('ZJ-NB-02', "宁波鄞州营业部", 'outlet', 'ZJ-NB'),
    ]
# login, name, role xml id(s), branch code, employee number
USERS = [
    ('sysadmin', "系统管理员 王敏", 'group_dualrec_admin', None, 'E0001'),
    ('sales', "业务员 李娜", 'group_dualrec_sales', 'GD-GZ-01', 'E1001'),
    ('sales2', "业务员 王芳", 'group_dualrec_sales', 'GD-SZ-01', 'E1002'),
    ('reviewer', "审核员 张伟", ['group_dualrec_reviewer',
            'group_dualrec_unmask'], 'GD-GZ', 'E2001'),
    ('qc', "质检员 刘洋", ['group_dualrec_qc', 'group_dualrec_unmask'], 'GD',
        'E3001'),
    ('manager', "经理 陈静", ['group_dualrec_manager', 'group_dualrec_export'],
        'GD', 'E4001'),
    ('finance', "财务 杨帆", 'group_dualrec_finance', 'GD', 'E5001'),
    ]
INSURERS = ["示范人寿保险股份有限公司", "示范财产保险股份有限公司"]
# code, name, type xml id, insurer index, period class, channel
PRODUCTS = [
    ('LIFE-001', "安心终身寿险", 'product_type_life', 0, 'long', 'bank'),
    ('INV-001', "稳盈投资连结保险", 'product_type_investment_linked', 0, 'long',
        'agency'),
    ('HLT-001', "康健百万医疗保险", 'product_type_health', 0, 'short', 'direct'),
    ('ACC-001', "畅行驾乘意外险", 'product_type_accident', 1, 'short', 'phone'),
    ('AUTO-001', "机动车商业保险", 'product_type_auto', 1, 'short', 'agency'),
    ('WM-001', "稳健一号理财产品", 'product_type_wealth', 0, 'long', 'bank'),
    ]
# Lines said for every product: the opening prompt and the customer's
# consent, identity and licence, the signature and the final confirmation.
IDENTITY = ("身份及资质展示", 'identity', 'salesperson', 15,
    "我是示范保险股份有限公司的销售人员，这是我的工作证和保险销售从业人员"
    "执业证书，请您查看。我所在机构的规范简称是“示范保险”。")
CONSENT = ("同意录音录像", 'confirmation', 'customer', 5,
    "我同意对本次销售过程进行录音录像，已知晓上述提示。")
OPENING = ("开场提示", 'opening', 'salesperson', 20,
    "您好！根据监管要求，本次销售过程将进行同步录音录像，请问您是否同意？"
    + OPENING_PROMPT)
SIGNATURE = ("签字确认", 'signature', 'customer', 15,
    "请您在投保单、投保提示书和产品说明书上亲笔签名。")
FINAL = ("客户最终确认", 'confirmation', 'customer', 5,
    "请问您对以上内容是否已经清楚？客户回答：清楚。")

# name, kind, speaker, min seconds, text
LIFE_SCRIPT = [
    OPENING, CONSENT, IDENTITY,
    ("产品条款说明", 'terms', 'salesperson', 30,
        "您投保的是安心终身寿险，保险期间为终身，交费期间为十年，"
        "保险责任为身故或全残保险金。请您阅读产品说明书和保险条款。"),
    ("责任免除说明", 'exemption', 'salesperson', 20,
        "请您仔细阅读保险条款中“责任免除”部分，以及投保提示书中"
        "以黑体字标注的内容，这些情形下保险公司不承担保险责任。"),
    ("风险提示", 'risk', 'salesperson', 15,
        "本产品为人身保险产品，不是存款，也不是理财产品；"
        "保单利益具有不确定性，请您根据自身需求和交费能力慎重选择。"),
    ("犹豫期告知", 'cooling_off', 'salesperson', 10,
        "本产品有十五天的犹豫期，自您签收保险合同次日起算。"
        "犹豫期内解除合同，保险公司扣除不超过十元的工本费后退还全部保费。"),
    ("退保损失告知", 'surrender', 'salesperson', 10,
        "犹豫期后解除合同会遭受一定损失，保险公司仅退还保单的现金价值。"),
    ("抄录风险提示语句", 'copy_out', 'customer', 30,
        "请您在投保单上抄录：“本人已阅读保险条款、产品说明书和投保提示书，"
        "了解本产品的特点和保单利益的不确定性。”"),
    SIGNATURE, FINAL,
    ]


def product_script(terms, risk, cooling_off, extra=()):
    "The nodes of a product's script: the shared lines around its own."
    return [OPENING, CONSENT, IDENTITY,
        ("产品条款说明", 'terms', 'salesperson', 30, terms),
        ("风险提示", 'risk', 'salesperson', 15, risk),
        *extra,
        ("犹豫期告知", 'cooling_off', 'salesperson', 10, cooling_off),
        SIGNATURE, FINAL]


# product code → (script name, nodes); LIFE-001 has the full script above
SCRIPTS = {
    'LIFE-001': ("安心终身寿险 销售话术", LIFE_SCRIPT),
    'INV-001': ("稳盈投资连结保险 销售话术", product_script(
            "您投保的是稳盈投资连结保险，保费扣除初始费用后进入您选择的投资账户，"
            "保单价值随投资账户单位价格波动，保险公司每月公布账户价值。",
            "投资连结保险的投资风险完全由您承担，账户价值可能低于已交保费，"
            "过往投资收益不代表未来表现，保险公司不保证投资收益。",
            "本产品有十五天的犹豫期，自您签收保险合同次日起算；犹豫期内解除合同，"
            "保险公司扣除不超过十元的工本费后退还全部保费。",
            [("退保损失告知", 'surrender', 'salesperson', 10,
                    "犹豫期后解除合同，保险公司按投资账户价值扣除退保费用后退还，"
                    "您可能遭受损失。")])),
    'HLT-001': ("康健百万医疗保险 销售话术", product_script(
            "您投保的是康健百万医疗保险，保险期间一年，一般医疗保险金年度限额"
            "二百万元，免赔额一万元，首次投保有三十天的等待期。",
            "本产品为短期健康保险，不保证续保；既往症及责任免除情形不予赔付，"
            "请您如实告知健康状况，否则可能影响理赔。",
            "本产品保险期间为一年，签收保险合同后十五天内可申请解除合同，"
            "保险公司无息退还已交保费。")),
    'ACC-001': ("畅行驾乘意外险 销售话术", product_script(
            "您投保的是畅行驾乘意外险，保险期间一年，保障驾乘本车时发生意外"
            "导致的身故、伤残和医疗费用。",
            "酒后驾驶、无证驾驶等情形属于责任免除，请您阅读条款中以黑体字"
            "标注的内容。",
            "本产品保险期间为一年，不设犹豫期；保险责任开始前解除合同，"
            "保险公司全额退还保费。")),
    'AUTO-001': ("机动车商业保险 销售话术", product_script(
            "您投保的是机动车商业保险，包括机动车损失保险和第三者责任保险，"
            "保险期间一年，保险金额以保险单载明为准。",
            "发生保险事故后请及时报案；保险期间内车辆改装、过户或改变使用性质，"
            "请及时通知保险公司，否则可能影响理赔。",
            "本产品保险期间为一年，不设犹豫期；保险责任开始后解除合同，"
            "保险公司按日计算扣除已承担责任期间的保费后退还。")),
    'WM-001': ("稳健一号理财产品 销售话术", product_script(
            "您购买的是稳健一号理财产品，风险等级为二级（中低风险），"
            "投资期限三百六十五天，业绩比较基准不代表产品的实际收益。",
            "理财非存款，产品有风险，投资须谨慎；本产品不保证本金和收益，"
            "您的风险承受能力评估结果须与产品风险等级相匹配。",
            "本产品设有二十四小时的投资冷静期，冷静期内您可以撤销购买，"
            "已划转的资金将全额退回。")),
    }
# name, rate, product type xml id, minimum applicant age (the rest: 10 %)
QC_RULES = [
    ("投资连结保险 全部抽检", Decimal('1'), 'product_type_investment_linked',
        None),
    ("六十周岁以上投保人 全部抽检", Decimal('1'), None, 60),
    ("常规抽检 10%", Decimal('0.1'), None, None),
    ]

# login, product index, task number, policyholder, resident ID
# (valid check digits), phone, age, insurance period, payment method
TICKETS = [
    ('sales', 0, 'TB2026110001', "陈国强", '440106195803120013',
        '13800138000', 68, "终身", 'annual'),
    ('sales', 0, 'TB2026110002', "黄晓梅", '440104198507200028',
        '13912345678', 41, "终身", 'single'),
    ('sales2', 0, 'TB2026110003', "周建华", '440304197002150017',
        '13600001111', 56, "终身", 'annual'),
    ]


def loaded():
    "Tell whether the demo company exists already."
    Company = Model.get('company.company')
    return bool(Company.find([('party.name', '=', COMPANY)]))


def load(password):
    Party = Model.get('party.party')
    Currency = Model.get('currency.currency')
    Company = Model.get('company.company')
    User = Model.get('res.user')
    Group = Model.get('res.group')
    Lang = Model.get('ir.lang')
    ModelData = Model.get('ir.model.data')
    Branch = Model.get('dualrec.branch')
    Product = Model.get('dualrec.product')
    ProductType = Model.get('dualrec.product.type')
    Script = Model.get('dualrec.script')

    def ref(xml_id, module='dualrec_core'):
        return ModelData.get_id(module, xml_id, {})

    currencies = Currency.find([('code', '=', 'CNY')])
    if currencies:
        cny, = currencies
    else:
        cny = Currency(name="Chinese Yuan Renminbi", code='CNY', symbol='¥',
            numeric_code='156', rounding=Decimal('0.01'), digits=2)
        cny.save()
    company = Company(party=Party(name=COMPANY), currency=cny,
        timezone='Asia/Shanghai')
    company.party.save()
    company.save()

    zh_cn, = Lang.find([('code', '=', 'zh_CN')])
    admin, = User.find([('login', '=', 'admin')])
    admin.companies.append(Company(company.id))
    admin.company = company
    admin.language = zh_cn
    admin.save()

    branches = {}
    for code, name, level, parent in BRANCHES:
        branch = Branch(name=name, code=code, level=level, company=company,
            parent=branches[parent] if parent else None)
        branch.save()
        branches[code] = branch

    for login, name, role, branch, number in USERS:
        user = User(login=login, name=name, password=password,
            employee_number=number, language=zh_cn,
            branch=branches[branch] if branch else None)
        user.companies.append(Company(company.id))
        user.company = company
        for group in [role] if isinstance(role, str) else role:
            user.groups.append(Group(ref(group)))
        user.save()

    insurers = [Party(name=n) for n in INSURERS]
    Party.save(insurers)
    products = []
    for code, name, type_, insurer, period_class, channel in PRODUCTS:
        product = Product(code=code, name=name, company=company,
            type_=ProductType(ref(type_)), insurer=insurers[insurer],
            period_class=period_class, channel=channel)
        products.append(product)
    Product.save(products)

    scripts = []
    for product in products:
        script_name, nodes = SCRIPTS[product.code]
        script = Script(product=product, name=script_name)
        for sequence, (name, kind, speaker, seconds, text) in enumerate(
                nodes, 1):
            script.nodes.new(sequence=sequence, name=name, kind=kind,
                speaker=speaker, min_seconds=seconds, text=text,
                confirmation_required=True)
        scripts.append(script)
    Script.save(scripts)

    Module = Model.get('ir.module')
    if Module.find([('name', '=', 'dualrec_review'),
                ('state', '=', 'activated')]):
        Rule = Model.get('dualrec.qc.rule')
        Rule.save([Rule(name=name, company=company, ratio=ratio,
                    product_type=(ProductType(ref(type_)) if type_ else None),
                    min_applicant_age=age)
                for name, ratio, type_, age in QC_RULES])

    # a few tickets waiting to be recorded, entered by the salespersons
    # themselves (nobody else may create them)
    Ticket = Model.get('dualrec.ticket')
    config = get_config()
    admin_id = config.user
    salespersons = {u.login: u.id for u in User.find(
            [('login', 'in', [t[0] for t in TICKETS])])}
    try:
        for (login, product, task, name, id_number, phone, age, period,
                payment) in TICKETS:
            config.user = salespersons[login]
            with config.set_context(User.get_preferences(True, {})):
                Ticket(product=Product(products[product].id),
                    task_number=task, policyholder_name=name,
                    id_type='resident_id', id_number=id_number, phone=phone,
                    applicant_age=age, insurance_period=period,
                    payment_method=payment).save()
    finally:
        config.user = admin_id
