"""Small utilities: visualisation and distributed teardown."""
