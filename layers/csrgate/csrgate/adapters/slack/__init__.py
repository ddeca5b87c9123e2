"""The edges that face Slack: the Web API client, channel messages, people, direct messages."""
