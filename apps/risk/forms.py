from __future__ import annotations

from django import forms


class RiskLimitsForm(forms.Form):
    max_order_notional = forms.DecimalField(
        max_digits=38, decimal_places=8, required=False, label="Max order value", help_text="Per order, in the quote currency."
    )
    max_position_notional = forms.DecimalField(max_digits=38, decimal_places=8, required=False, label="Max position value", help_text="Per symbol.")
    max_leverage = forms.IntegerField(required=False, min_value=1, max_value=125)
    max_open_positions = forms.IntegerField(required=False, min_value=1)
    max_daily_loss = forms.DecimalField(
        max_digits=38, decimal_places=8, required=False, label="Max daily loss", help_text="Realised, per UTC day; new risk stops when reached."
    )
