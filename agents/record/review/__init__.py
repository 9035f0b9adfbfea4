"""Quality reviews from the record: the figures of `agents.core.quality_metrics` read from the ledger
(`source`), drawn as charts (`charts`, `chart_set`), and written as a printable review package for the
quarterly risk assessment and the product quality review (Art. 5) and for audits (Art. 13)
(`package`), with the verification data of the records it summarises (`verification`)."""
