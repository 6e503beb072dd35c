"""The contractor portal: server-rendered pages that explain a site's premium, in
Chinese and English.

``service`` reads what a contractor may see of the stored quotes, ``views`` formats it
in one language (``i18n``) with the charts' geometry (``charts``), ``access`` and
``tokens`` decide who gets in (a signed session cookie, or a share link for one
quote), ``web`` holds the templates, static files and error pages. The handlers are
in :mod:`service.controllers.portal` and :mod:`service.controllers.share`.
"""
