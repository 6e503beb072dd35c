"""Quotes: the request and response shapes (``schemas``), reading a request into
checked contract frames (``intake``), pricing many requests in one pass
(``pricing_service``, with ``explain`` and ``recommend``) and storing them (``store``).

Nothing here knows about HTTP except through :mod:`service.errors`; the controllers in
``service/controllers`` are thin wrappers around :class:`QuotePricer` and
:class:`QuoteStore`.
"""
