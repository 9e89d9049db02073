"""One module per commerce service; each is a Flask blueprint served by every zone."""
