"""What every CRM sandbox runs on, whatever the CRM: private to the ``*.sandbox`` packages.

- :mod:`.server`: an ASGI app on a socket, blocking or in a background thread.

What a sandbox speaks (paths, error bodies, which calls count) stays in each CRM's
sandbox package.
"""
