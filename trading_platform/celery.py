"""Celery application: configured from Django settings (CELERY_ namespace)."""

from celery import Celery
from kombu import Queue

from trading_platform.bootstrap import exit_on_configuration_error, set_default_settings

set_default_settings()

app = Celery("trading_platform")
exit_on_configuration_error(lambda: app.config_from_object("django.conf:settings", namespace="CELERY"))


def _declare_queues() -> None:
    from django.conf import settings

    app.conf.task_queues = [Queue(name) for name in settings.CELERY_TASK_QUEUES_NAMES]


exit_on_configuration_error(_declare_queues)
app.autodiscover_tasks()
