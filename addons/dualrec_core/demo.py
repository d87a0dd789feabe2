# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Demo data: a company, its branch tree, one user per role, products and a
complete life-insurance script.

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
# name, kind, speaker, min seconds, text
LIFE_SCRIPT = [
    ("开场提示", 'opening', 'salesperson', 20,
        "您好！根据监管要求，本次销售过程将进行同步录音录像，请问您是否同意？"
        + OPENING_PROMPT),
    ("同意录音录像", 'confirmation', 'customer', 5,
        "我同意对本次销售过程进行录音录像，已知晓上述提示。"),
    ("身份及资质展示", 'identity', 'salesperson', 15,
        "我是示范保险股份有限公司的销售人员，这是我的工作证和保险销售从业人员"
        "执业证书，请您查看。我所在机构的规范简称是“示范保险”。"),
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
    ("签字确认", 'signature', 'customer', 15,
        "请您在投保单、投保提示书和产品说明书上亲笔签名。"),
    ("客户最终确认", 'confirmation', 'customer', 5,
        "请问您对以上内容是否已经清楚？客户回答：清楚。"),
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
    company = Company(party=Party(name=COMPANY), currency=cny)
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

    script = Script(product=products[0], name="安心终身寿险 销售话术")
    for sequence, (name, kind, speaker, seconds, text) in enumerate(
            LIFE_SCRIPT, 1):
        script.nodes.new(sequence=sequence, name=name, kind=kind,
            speaker=speaker, min_seconds=seconds, text=text,
            confirmation_required=True)
    script.save()

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
