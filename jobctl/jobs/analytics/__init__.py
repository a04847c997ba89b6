"""Analytics roll-ups: metrics per hour, day, ISO week and month, upserted into analytics_aggregates.

`job.prepare_analytics_payload` checks a request where it is enqueued; `job.run_analytics_job` is
the RQ job function; `metrics` holds the definitions and the SQL.
"""
