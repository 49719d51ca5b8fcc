"""``python -m crmbridge`` runs the command line."""

from crmbridge.command import main

main()
