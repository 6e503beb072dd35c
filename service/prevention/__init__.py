"""Accident prevention (事故预防服务, docs/prevention.md): the plan a quote's budget buys
(``quote_plan``, called by the quote path), the insurer's and admin's reports on
budgets and what the services found (``report``), and the regulator's aggregate."""
