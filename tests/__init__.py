"""The suite. A package, so tests.conftest is one module whether pytest or a test imports it
(a second copy would make PostgreSQL databases that nothing drops)."""
