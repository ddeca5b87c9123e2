"""The edges that face AWS: the DynamoDB store, SQS queues, SSM and Secrets Manager configuration, the audit log."""
