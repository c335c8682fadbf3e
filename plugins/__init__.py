"""The built-in plugins, installed as the package ``hub_plugins`` (``hub_plugins.presence`` ...)."""
