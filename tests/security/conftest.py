"""The API fixture (an office and a client of its HTTP service) for the security tests."""

from tests.api.conftest import api  # noqa: F401 - re-exported as a fixture
