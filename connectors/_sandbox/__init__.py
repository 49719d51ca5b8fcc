"""What every CRM sandbox runs on, whatever the CRM: private to the ``*.sandbox`` packages.

- :mod:`.server`: an ASGI app on a socket, blocking or in a background thread;
- :mod:`.faults`: the ``--faults`` grammar (each sandbox names its own kinds) and the
  seeded draws that decide which call a fault hits;
- :mod:`.asgi`: raw-ASGI means of answering a call late, badly or not at all (latency,
  a held-back answer, a dropped connection, an answer lost after the work is done);
- :mod:`.app`: the shell of a sandbox's ASGI app (outer middleware, bare FastAPI).

What a sandbox speaks (paths, error bodies, which calls count) stays in each CRM's
sandbox package.
"""
