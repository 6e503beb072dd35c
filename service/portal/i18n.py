"""The portal's two languages: a message catalogue and locale formatting.

Chinese is the default; English is one click (``?lang=en``, remembered in a cookie).
Every text of the pages is here in both languages (the quote itself brings its factor
sentences and labels in both). Numbers go through babel so separators, dates and
percentages follow the locale; money is always shown as ¥ with two decimals, since
the figures must match the quote to the cent.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Final, Literal

from babel import Locale
from babel.dates import format_date, format_skeleton
from babel.numbers import format_compact_decimal, format_decimal

from service.quotes.schemas import Text

Lang = Literal["zh", "en"]
LANGS: Final[tuple[Lang, ...]] = ("zh", "en")
DEFAULT_LANG: Final[Lang] = "zh"
_LOCALES: Final[dict[Lang, Locale]] = {"zh": Locale.parse("zh_Hans_CN"), "en": Locale.parse("en")}
# The name of each language in itself, for the switch.
LANG_NAMES: Final[dict[Lang, str]] = {"zh": "中文", "en": "English"}

# key -> (Chinese, English). Placeholders are str.format fields, filled before escaping.
MESSAGES: Final[dict[str, tuple[str, str]]] = {
    # layout
    "app.title": ("工地安责险费率说明", "Site safety-liability premium explained"),
    "app.short": ("安责险费率", "Premium explained"),
    "nav.skip": ("跳到主要内容", "Skip to main content"),
    "nav.sites": ("我的工地", "My sites"),
    "nav.logout": ("退出登录", "Sign out"),
    "nav.language": ("语言", "Language"),
    "nav.main": ("主导航", "Main navigation"),
    "footer.note": (
        "保费由保险公司根据智慧工地数据定价；本页仅作说明，以保单为准。",
        "Your insurer prices the premium from smart-site data; this page explains it. "
        "The policy document prevails.",
    ),
    # sign-in
    "login.title": ("承包商登录", "Contractor sign-in"),
    "login.intro": (
        "使用保险公司或智慧工地平台发放给贵单位的承包商密钥登录，查看本单位工地的保费说明。",
        "Sign in with the contractor key your insurer or smart-site platform issued to "
        "your company to see how your sites' premiums were set.",
    ),
    "login.key": ("承包商密钥", "Contractor key"),
    "login.key_hint": ("以 srk_ 开头，请勿与他人共享。", "Starts with srk_. Do not share it."),
    "login.submit": ("登录", "Sign in"),
    "login.bad_key": ("密钥无效或已被吊销。", "The key is not valid or was revoked."),
    "login.not_contractor": (
        "这不是承包商密钥：门户仅供承包商使用。",
        "This is not a contractor key: the portal is for contractors.",
    ),
    "login.expired": (
        "登录已过期，请重新登录。",
        "Your sign-in has expired; please sign in again.",
    ),
    "login.form_expired": (
        "表单已失效，请重新提交。",
        "The form has expired; please submit it again.",
    ),
    "login.signed_out": ("您已退出登录。", "You have signed out."),
    # site list
    "sites.title": ("我的工地", "My sites"),
    "sites.intro": (
        "贵单位（{contractor}）各工地的最新报价。点击工地查看保费构成及降费建议。",
        "The latest quote of each site of {contractor}. Open a site to see how its premium "
        "was built and what would lower it.",
    ),
    "sites.empty": (
        "暂无报价：保险公司为贵单位的工地报价后将显示在这里。",
        "No quotes yet: they appear here once an insurer has priced one of your sites.",
    ),
    "sites.caption": ("各工地最新报价", "Latest quote of each site"),
    "col.site": ("工地", "Site"),
    "col.district": ("区", "District"),
    "col.policy_start": ("保单起期", "Policy start"),
    "col.base": ("基础保费", "Base premium"),
    "col.final": ("最终保费", "Final premium"),
    "col.adjustment": ("调整", "Adjustment"),
    "col.quoted": ("报价日期", "Quoted on"),
    "col.group": ("因素组", "Factor group"),
    "col.factor": ("系数", "Factor"),
    "col.effect": ("保费影响", "Premium effect"),
    "col.running": ("累计保费", "Running total"),
    "col.feature": ("因素", "Factor"),
    "col.site_value": ("本工地", "This site"),
    "col.peer_median": ("同类工地中位数", "Peer median"),
    "sites.open": ("查看工地 {site}", "Open site {site}"),
    # site page
    "site.title": ("工地 {site}", "Site {site}"),
    "site.meta": (
        "保单起期 {start}，保险期间 {term} 个月；报价日期 {date}。",
        "Policy from {start} for {term} months; quoted on {date}.",
    ),
    "site.shared": (
        "您通过保险公司分享的链接查看此页面，链接有效期至 {date}。",
        "You are viewing this page through a link your insurer shared; it is valid until {date}.",
    ),
    "site.back": ("返回我的工地", "Back to my sites"),
    "summary.title": ("保费概览", "Premium at a glance"),
    "summary.final": ("最终保费", "Final premium"),
    "summary.base": ("基础保费", "Base premium"),
    "summary.adjustment": ("费率调整", "Adjustment"),
    "summary.band": ("浮动区间 {min} 至 {max}", "Band {min} to {max}"),
    "summary.clipped_high": (
        "模型测算的上浮超过区间上限，已按上限 {edge} 执行。",
        "The model's increase was capped at the band's {edge}.",
    ),
    "summary.clipped_low": (
        "模型测算的下浮超过区间下限，已按下限 {edge} 执行。",
        "The model's discount was capped at the band's {edge}.",
    ),
    "summary.base_tariff": (
        "基础保费按费率表 {version} 计算。",
        "Base premium from tariff {version}.",
    ),
    "summary.base_policy": (
        "基础保费由保险公司确定。",
        "The base premium was set by your insurer.",
    ),
    "summary.percentile": ("风险百分位", "Risk percentile"),
    "summary.percentile_hint": (
        "在同类工地中的位置，0 为最安全。",
        "Position among peer sites; 0 is the safest.",
    ),
    "summary.risk_factor": ("风险系数", "Risk factor"),
    "summary.risk_factor_hint": (
        "模型预期赔付与基础保费所对应赔付之比；1 表示保费与风险相当。",
        "The model's expected loss over the loss the base premium implies; 1 means the "
        "premium fits the risk.",
    ),
    "waterfall.title": ("从基础保费到最终保费", "From base to final premium"),
    "waterfall.intro": (
        "费率方案逐层计算：各工地画像分组、工时与工期强度、整体平衡系数、数据测评门槛与浮动区间，"
        "每层对保费的影响合计等于最终保费减基础保费。",
        "The rating plan layer by layer: each group of factors, the exposure for the term, "
        "the off-balance factor, the data-quality gate and the band; together they make up "
        "the difference between base and final premium.",
    ),
    "waterfall.desc": (
        "瀑布图：基础保费 {base}，经 {n} 层调整 {total}，最终保费 {final}。横轴从 {start} 开始。",
        "Waterfall chart: base premium {base}, adjusted by {total} across {n} layers, "
        "final premium {final}. The axis starts at {start}.",
    ),
    "waterfall.caption": (
        "费率方案各层的保费影响",
        "Premium effect of each layer of the rating plan",
    ),
    "waterfall.base": ("基础保费", "Base premium"),
    "waterfall.final": ("最终保费", "Final premium"),
    "waterfall.up": ("增加", "adds"),
    "waterfall.down": ("减少", "takes off"),
    "factors.title": ("主要影响因素", "Main factors"),
    "factors.intro": (
        "对本工地风险影响最大的因素，以及本工地数值与同类工地中位数的对比。",
        "The factors that moved this site's risk the most, with the site's value against "
        "the peer median.",
    ),
    "factors.caption": ("主要因素数值对比", "Main factors: site value and peer median"),
    "factors.window": ("近{k}月 ", "{k} months: "),
    "factors.month": ("上月 ", "last month: "),
    "recs.title": ("如何降低保费", "How to lower the premium"),
    "recs.intro": (
        "若以下指标达到目标，模型估算的保费及可节省金额如下。此为模型估算，非承诺报价。",
        "What the model estimates the premium would be if each metric reached its target. "
        "Model estimates, not offers.",
    ),
    "recs.empty": (
        "暂无建议：各项可控安全指标均已达到目标。",
        "No suggestions: every controllable safety metric already meets its target.",
    ),
    "recs.now": ("当前", "Now"),
    "recs.target": ("目标", "Target"),
    "recs.saving": ("预计节省", "Estimated saving"),
    "recs.premium": ("估算保费", "Estimated premium"),
    "recs.source_incentive": ("激励门槛", "incentive threshold"),
    "recs.source_peer_median": ("同类工地中位数", "peer median"),
    "recs.source_data_quality_gate": ("数据测评门槛", "data-quality threshold"),
    "recs.source_combined": ("以上各项同时达成", "all of the above together"),
    "prevention.title": ("事故预防服务计划", "Accident-prevention plan"),
    "prevention.intro": (
        "保险公司从保费中提取的事故预防服务预算，按每元降低风险最多的顺序用于本工地最薄弱的环节。",
        "The prevention budget your insurer sets aside from the premium, spent on the "
        "site's weakest areas where each yuan removes the most risk.",
    ),
    "prevention.budget": ("预防服务预算", "Prevention budget"),
    "prevention.cost": ("已安排", "Planned"),
    "prevention.remaining": ("剩余", "Left"),
    "prevention.caption": ("预防服务项目", "Prevention services"),
    "prevention.service": ("服务", "Service"),
    "prevention.group": ("分组", "Group"),
    "prevention.now": ("当前", "Now"),
    "prevention.target": ("目标", "Target"),
    "prevention.gap": ("差距", "Gap"),
    "prevention.units": ("数量", "Units"),
    "prevention.item_cost": ("费用", "Cost"),
    "prevention.reduction": ("风险降低", "Risk reduction"),
    "prevention.saving": ("保费节省", "Premium saving"),
    "prevention.not_funded": ("预算内未安排", "Not within the budget"),
    "incentives.title": ("激励资格", "Incentive eligibility"),
    "incentives.intro": (
        "合同奖励的各档条件（规则版本 {version}）：逐项列出是否达标及差距。",
        "The contract reward tiers (rule set {version}): each criterion, whether it is met "
        "and the gap to its threshold.",
    ),
    "incentives.eligible": ("符合条件", "Eligible"),
    "incentives.not_eligible": ("暂不符合", "Not yet eligible"),
    "incentives.met": ("已达标", "Met"),
    "incentives.not_met": ("未达标", "Not met"),
    "incentives.actual": ("实际", "Actual"),
    "incentives.threshold": ("门槛", "Threshold"),
    "incentives.gap": ("差距", "Gap"),
    "incentives.not_reported": ("未报送", "not reported"),
    "incentives.not_evaluable": (
        "无法评估（数据缺失，不计达标）",
        "not evaluable (data missing, never met)",
    ),
    "incentives.count": ("{met}/{total} 项达标", "{met} of {total} met"),
    "dq.title": ("数据质量", "Data quality"),
    "dq.ok": (
        "智慧工地数据质量达标，本工地可获得保费优惠。",
        "The smart-site data quality meets the thresholds: the site can earn discounts.",
    ),
    "dq.withheld": (
        "因智慧工地数据质量未达标，本期未给予 {amount} 的保费优惠。数据达标后即可获得。",
        "A discount of {amount} was withheld because the smart-site data quality is below "
        "the thresholds. It can be earned once the data meets them.",
    ),
    "dq.no_discount": (
        "智慧工地数据质量未达标：在改善之前，本工地无法获得保费优惠（上浮仍然适用）。",
        "The smart-site data quality is below the thresholds: the site cannot earn a "
        "discount until it improves (increases still apply).",
    ),
    "dq.device_online": ("设备在线率", "Device online rate"),
    "dq.completeness": ("数据完整率", "Data completeness"),
    "dq.months": ("报送月数", "Months reported"),
    "dq.minimum": ("最低要求 {value}", "minimum {value}"),
    "dq.reason.too_few_months": (
        "近 {window} 个月报送的月份不足。",
        "Too few months reported in the last {window} months.",
    ),
    "dq.reason.device_online_rate_low": (
        "设备在线率低于最低要求。",
        "The device online rate is below the minimum.",
    ),
    "dq.reason.device_online_rate_not_reported": (
        "未报送设备在线率。",
        "The device online rate was not reported.",
    ),
    "dq.reason.data_completeness_low": (
        "数据完整率低于最低要求。",
        "Data completeness is below the minimum.",
    ),
    "dq.reason.data_completeness_not_reported": (
        "未报送数据完整率。",
        "Data completeness was not reported.",
    ),
    "trend.title": ("历次报价", "Quote history"),
    "trend.intro": (
        "本工地历次报价的最终保费（实线）与基础保费（虚线）。",
        "Final premium (solid line) and base premium (dashed) of this site's quotes.",
    ),
    "trend.desc": (
        "折线图：{n} 次报价，最终保费从 {first} 变为 {last}，最低 {low}，最高 {high}。",
        "Line chart: {n} quotes; the final premium went from {first} to {last}, "
        "lowest {low}, highest {high}.",
    ),
    "trend.caption": ("历次报价明细", "Quotes of this site"),
    "trend.axis": ("报价日期", "Quote date"),
    "trend.tip": ("{quoted}报价，{start}起保", "quoted {quoted}, cover from {start}"),
    "trend.current": ("（本次）", " (this quote)"),
    "note.model": (
        "模型 {model}；浮动区间规则 {band}；激励规则 {incentives}。",
        "Model {model}; band rules {band}; incentive rules {incentives}.",
    ),
    # errors
    "error.404.title": ("未找到", "Not found"),
    "error.404.body": (
        "该页面不存在，或您无权查看。",
        "This page does not exist or is not yours to see.",
    ),
    "error.403.title": ("无法打开", "Cannot open"),
    "error.403.body": ("您无权查看此页面。", "You may not see this page."),
    "error.expired.title": ("链接已过期", "This link has expired"),
    "error.expired.body": (
        "请联系保险公司重新分享报价链接。",
        "Ask your insurer to share the quote again.",
    ),
    "error.withdrawn.title": ("链接已撤回", "This link was withdrawn"),
    "error.withdrawn.body": (
        "分享此链接的保险公司密钥已停用。请联系保险公司重新分享报价链接。",
        "The insurer's key that shared this link is no longer active. "
        "Ask your insurer to share the quote again.",
    ),
    "error.400.title": ("请求有误", "Bad request"),
    "error.400.body": ("无法处理该请求。", "The request could not be processed."),
    "error.500.title": ("服务暂时不可用", "Something went wrong"),
    "error.500.body": (
        "请稍后再试。如问题持续，请告知参考编号 {reference}。",
        "Please try again later. If it persists, quote reference {reference}.",
    ),
    "error.503.title": ("服务暂时不可用", "Temporarily unavailable"),
    "error.503.body": ("请稍后再试。", "Please try again shortly."),
    "error.home": ("返回首页", "Go to the start page"),
}

# Incentive criteria state their own units; these are how each metric reads.
_OPERATORS: Final[dict[str, str]] = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "==": "="}


class Translator:
    """The current language: ``t("key", name=value)``, ``t.text(quote_text)`` and the
    locale's number formats. Passed to every template as ``t``."""

    def __init__(self, lang: Lang) -> None:
        self.lang: Lang = lang
        self.locale = _LOCALES[lang]
        self.html_lang = "zh-CN" if lang == "zh" else "en"

    @property
    def other(self) -> Lang:
        return "en" if self.lang == "zh" else "zh"

    @property
    def other_name(self) -> str:
        return LANG_NAMES[self.other]

    def __call__(self, key: str, **values: object) -> str:
        zh, en = MESSAGES[key]
        text = zh if self.lang == "zh" else en
        return text.format(**values) if values else text

    def text(self, value: str | Text | Mapping[str, str] | None) -> str:
        """A text in this page's language: a quote's, rendered in it already, or one
        side of a {zh, en} text."""
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        if isinstance(value, Text):
            return value.zh if self.lang == "zh" else value.en
        return str(value.get(self.lang) or value.get("en") or "")

    # -- numbers -------------------------------------------------------------------------
    def money(self, amount: float) -> str:
        """¥1,234.56 (negative: -¥1,234.56)."""
        return str(format_decimal(amount, "¥#,##0.00;-¥#,##0.00", locale=self.locale))

    def signed_money(self, amount: float) -> str:
        """+¥1,234.56 / -¥1,234.56 / ¥0.00."""
        if round(amount, 2) == 0:
            return self.money(0.0)
        return str(format_decimal(amount, "+¥#,##0.00;-¥#,##0.00", locale=self.locale))

    def money_short(self, amount: float) -> str:
        """¥4.2万 / ¥42.5K, for axis ticks."""
        short = format_compact_decimal(amount, locale=self.locale, fraction_digits=1)
        return f"¥{short}"

    def percent(self, pct: float, *, signed: bool = False, digits: int = 1) -> str:
        """A figure already in percent: 12.34 -> 12.3% (+12.3% when signed)."""
        body = f"#,##0.{'0' * digits}" if digits else "#,##0"
        pattern = f"+{body};-{body}" if signed and round(pct, digits) != 0 else body
        return f"{format_decimal(pct, pattern, locale=self.locale)}%"

    def share(self, value: float, *, digits: int = 1) -> str:
        """A share 0-1 as a percentage: 0.953 -> 95.3%."""
        return self.percent(100.0 * value, digits=digits)

    def number(self, value: float, digits: int = 0) -> str:
        pattern = f"#,##0.{'0' * digits}" if digits else "#,##0"
        return str(format_decimal(value, pattern, locale=self.locale))

    def factor(self, value: float) -> str:
        return "×" + self.number(value, 3)

    def operator(self, op: str) -> str:
        return _OPERATORS.get(op, op)

    # -- dates ---------------------------------------------------------------------------
    def date(self, moment: dt.datetime | dt.date) -> str:
        return str(format_date(moment, "medium", locale=self.locale))

    def month(self, month: str) -> str:
        """'2025-07' -> 2025年7月 / Jul 2025; anything else unchanged."""
        try:
            first = dt.date.fromisoformat(f"{month}-01")
        except ValueError:
            return month
        return str(format_skeleton("yMMM", first, locale=self.locale))


def pick_lang(query: str | None, cookie: str | None) -> tuple[Lang, bool]:
    """The page language and whether the choice is new (to be remembered in a cookie)."""
    for candidate, is_new in ((query, True), (cookie, False)):
        if candidate:
            value = candidate.strip().lower()[:2]
            if value in LANGS:
                return ("zh" if value == "zh" else "en"), is_new
    return DEFAULT_LANG, False


def finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
