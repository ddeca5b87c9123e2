"""csrgate: approve Kubernetes CertificateSigningRequests from Slack."""

__version__ = "0.1.0"
