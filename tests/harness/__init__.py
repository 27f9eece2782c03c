"""Real services for the tests: the distribution registry and (in later suites) helpers around it."""
