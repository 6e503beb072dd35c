"""The smart-site event contract (``docs/events.md``): its tables and rules as data
(:mod:`.spec`), the folder reader and validator (:mod:`.load`), and the aggregation
into the monthly contract's ``site_months``, written once as SQL
(:mod:`.aggregate`, ``site_months.sql``) and run by DuckDB."""
