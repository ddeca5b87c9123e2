"""The edges: AWS, Slack, Kubernetes and configuration, each translated into domain terms."""
