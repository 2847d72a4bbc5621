"""Speed: moto's own per-request costs that AWS does not have, removed so
that timed runs measure moodlectl — without changing any answer."""

# Services moodlectl calls (botocore names).
SERVICES = (
    "acm", "application-autoscaling", "cloudfront", "cloudtrail", "ec2", "ecr", "ecs", "efs",
    "elasticache", "elbv2", "iam", "logs", "rds", "s3", "secretsmanager", "service-quotas",
    "sns", "sts", "wafv2",
)


def trim_overheads():
    """moto repeats two lookups for every request although their answers
    never change (a directory listing of its modules, under the dispatcher's
    global lock; the method names of the service's response class, by
    introspection) and adds CORS headers to every response: together a good
    part of its time per request. Cached and cut here, which changes no
    answer."""
    import functools

    from moto import backends as moto_backends
    from moto.core import responses as moto_responses
    from moto.moto_server import werkzeug_app

    werkzeug_app.CORS = lambda app, *args, **kwargs: app
    modules = tuple(moto_backends.list_of_moto_modules())
    moto_backends.list_of_moto_modules = lambda: modules
    moto_responses.method_names_from_class = functools.cache(moto_responses.method_names_from_class)


def warm_up():
    """Latency mode times moodlectl against the latency table, so moto's
    costs that AWS does not have are moved out of the timed runs: a log line
    for every request, and loading each service's model on its first request
    (hundreds of ms for EC2's or S3's)."""
    import logging

    from moto.core import utils as moto_utils

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    for service in SERVICES:
        moto_utils.get_service_model(service)
        try:
            moto_utils.get_pagination_model(service)
        except Exception:  # a service without paginators
            pass

