"""What comes in: the HTTP APIs (intake, interactions) and the queue consumers."""
