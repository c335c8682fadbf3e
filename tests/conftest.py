"""Shared fixtures: the hub's own pytest plugin (hub.testing) provides hub_server and hub_socket."""
