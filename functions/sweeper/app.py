"""Sweeper: reminds approvers of reviews left waiting, expires them before Kubernetes forgets the CSR, and reminds
holders of delivered certificates to renew them."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from csrgate.wiring.sweeper import build_sweeper

logger = Logger(service="csrgate-sweeper")
sweeper = build_sweeper(logger)


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    result = sweeper.sweep()
    finished = vars(result)
    logger.info("sweep.finished", extra=finished)
    return finished
