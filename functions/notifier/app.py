"""Notifier: posts the approval requests intake could not, and draws the digests of automatic decisions."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from csrgate.wiring.notifier import build_notifier_consumer

logger = Logger(service="csrgate-notifier")
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
consumer = build_notifier_consumer(logger)


def record_handler(record: SQSRecord) -> None:
    consumer.handle(record.body, int(record.attributes.approximate_receive_count))


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
