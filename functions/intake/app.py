"""Intake: the forwarder's CSR events in, stored requests, decisions and Slack messages out."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from csrgate.wiring.intake import build_intake_api

logger = Logger(service="csrgate-intake")
api = build_intake_api(logger)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return api.resolver.resolve(event, context)
