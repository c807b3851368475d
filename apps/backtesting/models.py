from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import BaseModel
from apps.exchanges.models import Symbol


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class FillMode(models.TextChoices):
    NEXT_OPEN = "next_open", "Next bar's open"
    CLOSE = "close", "Signal bar's close"


class Backtest(BaseModel):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backtests")
    name = models.CharField(max_length=120, blank=True)
    strategy = models.CharField(max_length=64)
    params = models.JSONField(default=dict)
    symbol = models.ForeignKey(Symbol, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    data_source = models.CharField(max_length=255, blank=True, help_text="A CSV file name when not from stored candles.")
    timeframe = models.CharField(max_length=3)
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    initial_capital = models.DecimalField(max_digits=38, decimal_places=8, default=Decimal("10000"))
    maker_fee = models.DecimalField(max_digits=10, decimal_places=8, default=Decimal("0.001"))
    taker_fee = models.DecimalField(max_digits=10, decimal_places=8, default=Decimal("0.001"))
    slippage_bps = models.DecimalField(max_digits=8, decimal_places=3, default=Decimal("0"))
    fill_mode = models.CharField(max_length=10, choices=FillMode.choices, default=FillMode.NEXT_OPEN)
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    equity_curve = models.JSONField(default=list, blank=True, help_text="[[open_time_ms, equity], ...]")
    trades = models.JSONField(default=list, blank=True)
    bars = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="backtest_owner_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="backtest_progress_range"),
            models.CheckConstraint(condition=Q(status__in=RunStatus.values), name="backtest_status_valid"),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.strategy} on {self.symbol or self.data_source}"


class OptimisationMethod(models.TextChoices):
    GRID = "grid", "Grid"
    RANDOM = "random", "Random"
    GENETIC = "genetic", "Genetic"


class Optimisation(BaseModel):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="optimisations")
    strategy = models.CharField(max_length=64)
    base_params = models.JSONField(default=dict)
    param_space = models.JSONField(help_text="{name: {min, max, step} or {values: [...]}}")
    objective = models.CharField(max_length=16, default="sharpe")
    method = models.CharField(max_length=8, choices=OptimisationMethod.choices, default=OptimisationMethod.GRID)
    max_runs = models.PositiveIntegerField(default=100)
    in_sample_fraction = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("0.7"))
    walk_forward_windows = models.PositiveSmallIntegerField(default=0, help_text="0: one in-sample / out-of-sample split.")
    symbol = models.ForeignKey(Symbol, on_delete=models.PROTECT, related_name="+")
    timeframe = models.CharField(max_length=3)
    start = models.DateTimeField()
    end = models.DateTimeField()
    initial_capital = models.DecimalField(max_digits=38, decimal_places=8, default=Decimal("10000"))
    taker_fee = models.DecimalField(max_digits=10, decimal_places=8, default=Decimal("0.001"))
    maker_fee = models.DecimalField(max_digits=10, decimal_places=8, default=Decimal("0.001"))
    slippage_bps = models.DecimalField(max_digits=8, decimal_places=3, default=Decimal("0"))
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.QUEUED)
    total_runs = models.PositiveIntegerField(default=0)
    completed_runs = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    walk_forward = models.JSONField(default=dict, blank=True, help_text="Per window: the parameters chosen in-sample and how they did out-of-sample.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.strategy} optimisation ({self.method}, {self.objective})"

    @property
    def progress(self) -> int:
        return int(self.completed_runs * 100 / self.total_runs) if self.total_runs else 0


class OptimisationResult(BaseModel):
    optimisation = models.ForeignKey(Optimisation, on_delete=models.CASCADE, related_name="results")
    params = models.JSONField()
    in_sample = models.JSONField(default=dict)
    out_of_sample = models.JSONField(default=dict)
    score = models.FloatField(null=True)

    class Meta:
        ordering = [models.F("score").desc(nulls_last=True)]  # unscored candidates after the scored ones
        constraints = [models.UniqueConstraint(fields=["optimisation", "params"], name="optimisation_result_unique_params")]

    def __str__(self) -> str:
        return f"{self.params} -> {self.score}"
