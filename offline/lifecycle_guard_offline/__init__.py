"""Offline AWS harness: the lifecycle-guard SAM application deployed into moto (pinned 5.2.5) and run in-process.

Modules, each with the moto workarounds it holds in its docstring:
  harness           OfflineApp, the entry point: mock, secret, deploy, dispatcher, SQS pollers, executions, S3
  sam_template      template.yaml parsed; `sam package` and the SAM transform without the SAM CLI
  sam_stack         deployment into moto's CloudFormation + the state machine created through Step Functions
  cfn_resolver      moto's CloudFormation evaluating expressions for the harness (hidden outputs)
  asl_substitutions the ASL file's `${...}` placeholders
  lambda_dispatch   moto's Lambda invoke replaced by the real handlers, in-process
  lambda_context    the handler's `context`
  sqs_event_source  Lambda's SQS poller (batchItemFailures, retries, dead-letter queue)
  iam_enforcement   every AWS call authorised against the caller's deployed role (botocore hook, attribution)
  iam_actions       an API call's IAM action(s), resource ARN(s) and condition keys (Service Authorization Reference)
  iam_policy        IAM's identity-policy evaluation logic
  executions        waiting for an execution moto runs on its own thread
  environment       temporary os.environ changes
"""

from lifecycle_guard_offline.executions import ExecutionResult
from lifecycle_guard_offline.harness import DEFAULT_TEMPLATE_PATH, OfflineApp
from lifecycle_guard_offline.lambda_context import LambdaContext
from lifecycle_guard_offline.lambda_dispatch import Handler, UnsupportedMotoVersionError

__all__ = [
    "DEFAULT_TEMPLATE_PATH",
    "ExecutionResult",
    "Handler",
    "LambdaContext",
    "OfflineApp",
    "UnsupportedMotoVersionError",
]
