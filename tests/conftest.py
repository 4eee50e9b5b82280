"""Settings every test process needs: fake AWS credentials and a region, set before boto3 is imported."""

import os

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "LifecycleGuardTests",
        "POWERTOOLS_SERVICE_NAME": "lifecycle-guard",
    }
)

# aws, start_sandbox, make_services: shared by the functional and fault suites; _quiet_moto_parsing: autouse, for all.
pytest_plugins = ["support.fixtures"]
