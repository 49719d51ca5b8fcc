"""What every CRM sandbox runs on, whatever the CRM: private to the ``*.sandbox`` packages.

- :mod:`.server`: an ASGI app on a socket, blocking or in a background thread;
- :mod:`.faults`: the ``--faults`` grammar (each sandbox names its own kinds) and the
  seeded draws that decide which call a fault hits.

What a sandbox speaks (paths, error bodies, which calls count) stays in each CRM's
sandbox package.
"""
