"""Pure csrgate logic: no AWS, Slack or Kubernetes imports."""
