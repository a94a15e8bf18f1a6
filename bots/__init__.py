"""Load-test bots: a swarm of simulated viewers that speaks the room contract and measures a server.

Run ``live bots <scenario>`` (or ``python -m bots <scenario>``); see docs/bots.md.
"""
