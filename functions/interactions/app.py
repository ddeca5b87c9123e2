"""Interactions: Slack's Approve and Deny clicks, verified, authorized and recorded within three seconds."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from csrgate.wiring.interactions import build_interactions_api

logger = Logger(service="csrgate-interactions")
api = build_interactions_api(logger)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return api.resolver.resolve(event, context)
