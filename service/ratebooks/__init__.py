"""Insurers' rate books in the service: stored, activated, and the one in force for a
quote (docs/rate-books.md). The book itself, its schema and arithmetic are
:mod:`models.pricing.ratebook`."""
