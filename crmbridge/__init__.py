"""crmbridge: keeps an organisation's own record of its customer stakeholders in step
with the CRMs its teams use.

The engine lives here and knows no particular connector; connectors are found
through the ``crmbridge.connectors`` entry-point group.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
