"""The in-cluster forwarder: list and watch CertificateSigningRequests, send every change to csrgate's intake API.

At least once, never zero times: a change is handed to the delivery queue before the watch moves past it, the
queue blocks the watch when full instead of dropping, and a restart re-lists and re-sends every pending CSR.
Run it as `python -m csrgate.forwarder` (or `csrgate forward`); it is configured from the environment
(`csrgate.forwarder.config`). The contract with the API is docs/forwarder-protocol.md.
"""
