"""Fixtures and markers of the reliability tests."""


def pytest_configure(config):
    config.addinivalue_line("markers", "callbacks(**changes): [callbacks] settings for the test's in-process mock")
