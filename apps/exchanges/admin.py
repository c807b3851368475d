from django.contrib import admin
from django.http import HttpRequest

from apps.exchanges.models import ApiConnection, Exchange, Symbol


@admin.register(Exchange)
class ExchangeAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "enabled", "status", "status_changed_at"]
    list_filter = ["enabled", "status"]
    search_fields = ["code", "name"]
    readonly_fields = ["status", "status_detail", "status_changed_at", "effective_capabilities", "created_at", "updated_at"]
    fields = ["code", "name", "enabled", "capability_overrides", "effective_capabilities", "status", "status_detail", "status_changed_at"]

    @admin.display(description="Capabilities in effect")
    def effective_capabilities(self, obj: Exchange) -> str:
        return ", ".join(f"{key}={value}" for key, value in sorted(obj.capabilities.items()))


@admin.register(Symbol)
class SymbolAdmin(admin.ModelAdmin):
    list_display = ["symbol", "exchange", "market_type", "tick_size", "lot_size", "min_notional", "max_leverage", "active", "watched"]
    list_filter = ["exchange", "market_type", "active", "watched", "quote"]
    search_fields = ["symbol", "venue_symbol", "base", "quote"]
    list_editable = ["watched"]
    list_select_related = ["exchange"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(ApiConnection)
class ApiConnectionAdmin(admin.ModelAdmin):
    """Staff see that a connection exists and its state; never its credentials."""

    list_display = ["label", "owner", "exchange", "api_key_hint", "testnet", "status", "last_verified_at", "deleted_at"]
    list_filter = ["exchange", "status", "testnet"]
    search_fields = ["label", "owner__email"]
    exclude = ["credentials_encrypted"]
    readonly_fields = ["owner", "exchange", "label", "api_key_hint", "testnet", "status", "status_detail", "last_verified_at", "created_at", "deleted_at"]
    list_select_related = ["owner", "exchange"]

    def get_queryset(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        return ApiConnection.all_objects.select_related("owner", "exchange")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
