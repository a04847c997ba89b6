"""Referral commissions: a ledger of what each sale pays up the referral chain, and statistics from it.

commissions  settle_order / settle: pay an order's commissions (or reverse them after a refund),
             exactly once per (order, referrer, level) however often it runs
job          prepare_commission_payload (checked where it is enqueued), run_referral_commission_job
             (the RQ function of the `referral-commission` queue)
stats        referral_stats: per-referrer figures aggregated from the ledger, never stored

Like core/, this package never imports typer, rich or textual.
"""
