"""One composition root per function: each builds only what its function uses."""
