"""API keys: stored hashed, with scopes ``read`` < ``write`` < ``admin``."""
