"""Entry points for a newcomer (setup, develop, test, lint) and the demo they start."""
