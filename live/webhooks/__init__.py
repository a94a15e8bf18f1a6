"""Signed webhooks to the shop's own systems (contract §7): delivery, retries, the deliveries API.

The room scripts write each event into its room's outbox in the same atomic step as the change it
reports; this package only delivers what is there: ``deliverer`` (the loop every process runs),
``signature`` and ``backoff`` (pure rules), ``outbox`` (the Redis side), ``deliveries`` (the API).
"""
