"""Local stand-ins for development and tests (`csrgate dev ...`). Never shipped in a Lambda layer."""
