"""The agreement pages' texts in Chinese and English (the portal's own catalogue,
:mod:`service.portal.i18n`, holds the layout's; numbers and dates format through it)."""

from __future__ import annotations

from typing import Final

from service.portal.i18n import Translator

# key -> (Chinese, English). Placeholders are str.format fields, filled before escaping.
AG_MESSAGES: Final[dict[str, tuple[str, str]]] = {
    "nav.agreements": ("我的协议", "My agreements"),
    "nav.sign_out": ("退出登录", "Sign out"),
    "login.title": (
        "合同奖惩 · 业主和承包商登录",
        "Contract incentives · owner and contractor sign-in",
    ),
    "login.intro": (
        "使用贵单位的业主密钥或承包商密钥登录，查看工地合同奖惩协议的考核和结算。",
        "Sign in with your company's owner or contractor key to follow the incentive "
        "agreements of your sites: their monthly evaluation and their settlement.",
    ),
    "login.key": ("业主或承包商密钥", "Owner or contractor key"),
    "login.hint": ("以 srk_ 开头，请勿与他人共享。", "Starts with srk_. Do not share it."),
    "login.submit": ("登录", "Sign in"),
    "login.bad_key": ("密钥无效或已被吊销。", "The key is not valid or was revoked."),
    "login.not_party": (
        "仅业主密钥和承包商密钥可以查看合同奖惩协议。",
        "Only owner and contractor keys can read incentive agreements.",
    ),
    "login.form_expired": (
        "表单已失效，请重新提交。",
        "The form has expired; please submit it again.",
    ),
    "list.title": ("合同奖惩协议", "Incentive agreements"),
    "list.intro.owner": ("业主 {party} 的工地协议。", "The agreements of owner {party}'s sites."),
    "list.intro.contractor": (
        "承包商 {party} 的工地协议。",
        "The agreements of contractor {party}'s sites.",
    ),
    "list.empty": ("暂无协议。", "No agreements yet."),
    "list.caption": ("协议（最新在前）", "Agreements, newest first"),
    "list.open": ("查看工地 {site} 的协议", "Open the agreement of site {site}"),
    "col.site": ("工地", "Site"),
    "col.period": ("考核期", "Period"),
    "col.rules": ("规则", "Rule set"),
    "col.version": ("版本", "Version"),
    "col.status": ("状态", "Status"),
    "col.criterion": ("指标", "Criterion"),
    "col.target": ("目标", "Target"),
    "col.value": ("累计值", "Cumulative"),
    "col.outcome": ("结果", "Outcome"),
    "col.missing": ("缺报月份", "Months not reported"),
    "col.month": ("月份", "Month"),
    "col.month_value": ("当月值", "This month"),
    "col.revision": ("数据版本", "Data revision"),
    "col.amount": ("金额", "Amount"),
    "col.agreed": ("约定", "Agreed"),
    "col.line": ("条款", "Clause"),
    "status.awaiting_acceptance": ("待双方确认", "Awaiting acceptance"),
    "status.in_effect": ("已生效", "In effect"),
    "status.superseded": ("已被新版本替代", "Superseded"),
    "status.replaced_before_effect": ("生效前已被替换", "Replaced before taking effect"),
    "agreement.title": ("工地 {site} 的合同奖惩协议", "Incentive agreement for site {site}"),
    "agreement.meta": (
        "考核期 {first} 至 {last}；规则 {rules}；第 {version} 版；{status}。",
        "Period {first} to {last}; rule set {rules}; version {version}; {status}.",
    ),
    "agreement.parties": (
        "业主 {owner}，承包商 {contractor}{insurer}。",
        "Owner {owner}, contractor {contractor}{insurer}.",
    ),
    "agreement.insurer": ("，保险公司 {insurer}", ", insurer {insurer}"),
    "agreement.through": (
        "数据截至 {month}（平台已报送的最新月份），共 {used} 个月有数据，{missing} 个月未报送。",
        "Data through {month} (the newest month the platform has reported): {used} months "
        "reported, {missing} not reported.",
    ),
    "agreement.not_begun": ("考核期尚未开始，暂无数据。", "The period has not begun; no data yet."),
    "agreement.claims_none": (
        "平台没有本工地的理赔数据：理赔类指标无法评估，不视为达标。",
        "The feed holds no claims data for this site: claims criteria are not evaluable, "
        "never met.",
    ),
    "agreement.rewards": ("奖励", "Rewards"),
    "agreement.breaches": ("处罚条款", "Penalty clauses"),
    "agreement.by_month": ("逐月明细：{name}", "Month by month: {name}"),
    "agreement.statement": ("查看结算单", "Open the settlement statement"),
    "agreement.no_statement": ("尚未结算。", "Not settled yet."),
    "agreement.points": ("{points} 分", "{points} points"),
    "agreement.back": ("返回我的协议", "Back to my agreements"),
    "outcome.met": ("达标", "Met"),
    "outcome.not_met": ("未达标", "Not met"),
    "outcome.not_evaluable": ("无法评估", "Not evaluable"),
    "outcome.kept": ("未触发", "Kept"),
    "outcome.breached": ("已触发", "Breached"),
    "outcome.not_reported": ("未报送", "Not reported"),
    "outcome.no_exposure": ("无工时", "No worker-hours"),
    "outcome.too_few_peers": ("同类工地不足", "Too few peers"),
    "reason.too_many_missing_months": (
        "缺报月份超过规则允许",
        "more months not reported than allowed",
    ),
    "reason.nothing_reported": ("无任何月份报送", "no month reported"),
    "reason.no_exposure": ("无工时数据", "no worker-hours"),
    "reason.no_claims_data": ("无理赔数据", "no claims data"),
    "reason.too_few_peers": ("同类工地不足", "too few class peers"),
    "means.contract_money": ("合同奖金", "Contract money"),
    "means.civilised_site_priority": ("文明示范工地优先评审", "Civilised model-site priority"),
    "means.safety_standard_points": ("安标考核加分", "Safety-standard points"),
    "means.merit_competition_points": ("立功竞赛加分", "Merit-competition points"),
    "statement.title": ("合同奖惩结算单", "Incentive settlement statement"),
    "statement.meta": (
        "工地 {site}；考核期 {first} 至 {last}；规则 {rules}；工地类别 {ptype}/{stage}。",
        "Site {site}; period {first} to {last}; rule set {rules}; class {ptype}/{stage}.",
    ),
    "statement.issued": ("出具时间 {date}；结算单编号 {id}。", "Issued on {date}; statement {id}."),
    "statement.hash": ("内容哈希（SHA-256）", "Content hash (SHA-256)"),
    "statement.download": ("下载结算单 JSON", "Download the statement (JSON)"),
    "statement.print": (
        "使用浏览器的打印功能打印本页或另存为 PDF；JSON 文件为结算单原文，可重算核验。",
        "Print this page or save it as PDF from the browser; the JSON file is the statement "
        "itself, which a replay recomputes byte for byte.",
    ),
    "statement.reward": ("奖励合计", "Rewards"),
    "statement.penalty": ("处罚合计", "Penalties"),
    "statement.net": ("净额（奖励 − 处罚）", "Net (rewards − penalties)"),
    "statement.revisions": ("使用的数据月份及版本", "Months and data revisions used"),
    "statement.not_evaluable": (
        "无法评估的处罚条款：{policy}。",
        "Penalty clauses that cannot be evaluated are: {policy}.",
    ),
    "policy.waive": ("不予处罚", "waived"),
    "policy.apply": ("按已触发处罚", "applied as breached"),
    "kind.reward": ("奖励", "Reward"),
    "kind.penalty": ("处罚", "Penalty"),
    "agreed.none": ("无金额", "no money"),
    "agreed.share": ("合同额的 {share}", "{share} of the contract sum"),
}


class AgreementText:
    """``a("key", name=value)`` in the page's language; numbers through the portal's
    :class:`~service.portal.i18n.Translator` (``a.t``)."""

    def __init__(self, t: Translator) -> None:
        self.t = t

    def __call__(self, key: str, **values: object) -> str:
        zh, en = AG_MESSAGES[key]
        text = zh if self.t.lang == "zh" else en
        return text.format(**values) if values else text

    def pick(self, zh: str, en: str) -> str:
        return zh if self.t.lang == "zh" else en
