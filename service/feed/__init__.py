"""The data feed: the city platform's sites and site-months and each insurer's claims,
stored with every version (:mod:`.store`), checked by the contract loader on the way in
(:mod:`.intake`); quotes by reference to them (:mod:`.reference`), regulators' graded
site profiles (:mod:`.profiles`) and the export back to a contract folder (:mod:`.export`).
"""
