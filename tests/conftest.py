"""Shared fixtures: the plugin in mock_server/testing.py (registered through pytest11) provides mock_client,
mock_clock, mock_settings, callback_receiver, advance and callback_attempts; this suite needs nothing more."""
