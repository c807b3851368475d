from django.db import models

from apps.core.models import BaseModel, SoftDeleteModel


class Note(BaseModel, SoftDeleteModel):
    text = models.CharField(max_length=100)
