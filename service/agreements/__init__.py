"""Incentive agreements between a site's owner and its contractor (issue 19, service
half): registration and acceptance, monthly evaluation from the feed, settlement
statements stored byte for byte and replayed (docs/contract-incentives.md)."""
