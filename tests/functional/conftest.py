"""Functional tests use the shared fixtures of ``support.fixtures`` (aws, start_sandbox, make_services)."""
