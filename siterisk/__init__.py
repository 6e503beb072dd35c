"""The entry package: the ``siterisk`` command (:mod:`siterisk.cli`), above both layers.

It is the one package that imports both ``training`` and ``service`` (``bench`` and the
tests aside), and nothing but the tests imports it."""
