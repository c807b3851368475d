from __future__ import annotations

from rest_framework import serializers


class StrategyOutputSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    schema = serializers.DictField(
        read_only=True, help_text="JSON Schema of the parameters: per property its type, default, minimum / exclusiveMinimum, maximum, enum and description."
    )
