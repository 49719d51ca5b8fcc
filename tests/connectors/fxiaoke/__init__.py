"""Tests of the Fxiaoke connector (a package, so its module names may repeat Zoho's)."""
