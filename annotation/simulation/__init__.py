"""Simulated annotators (issue 5): a frozen, versioned preference oracle and scripted annotators that
drive the real REST API. Django-free: training code must never import this package (the loop may
learn the oracle only through the simulated annotations); a test enforces that."""
