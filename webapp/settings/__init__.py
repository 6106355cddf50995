"""Settings, one module per concern. Environment variables are read in env.py only."""
