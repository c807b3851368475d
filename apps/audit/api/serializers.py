from __future__ import annotations

from rest_framework import serializers


class AuditEventOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    action = serializers.CharField(read_only=True)
    summary = serializers.CharField(read_only=True)
    actor_kind = serializers.CharField(read_only=True, help_text="user, api_key, bot or system.")
    actor_id = serializers.UUIDField(read_only=True, allow_null=True, help_text="The user who acted (or on whose behalf a key or bot acted).")
    actor_ref = serializers.CharField(read_only=True, help_text="Which API key, bot or system process acted.")
    actor_name = serializers.CharField(read_only=True)
    owner_id = serializers.UUIDField(read_only=True, allow_null=True, help_text="Whose trail the event belongs to.")
    target_type = serializers.CharField(read_only=True)
    target_id = serializers.CharField(read_only=True)
    changes = serializers.JSONField(read_only=True, help_text='{"field": [old, new]} at full precision (numbers as strings).')
    ip_address = serializers.CharField(read_only=True, allow_null=True)
    user_agent = serializers.CharField(read_only=True, allow_null=True)
    correlation_id = serializers.CharField(read_only=True, help_text="The request or task id: every event one request or task caused shares it.")
    seq = serializers.IntegerField(read_only=True, allow_null=True, help_text="Position in its month's hash chain (set when its transaction commits).")
    prev_hash = serializers.CharField(read_only=True, allow_null=True)
    hash = serializers.CharField(read_only=True, allow_null=True, help_text="SHA-256 over the event's canonical JSON and prev_hash.")
