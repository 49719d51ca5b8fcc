"""Built-in connectors, each a package registered through the ``crmbridge.connectors`` entry-point group."""
