from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("portfolio", "0003_row_level_security")]

    operations = [
        migrations.AddField(
            model_name="position",
            name="margin_call_at",
            field=models.DateTimeField(
                blank=True, help_text="When the margin ratio last crossed the margin-call threshold; cleared once it falls back below.", null=True
            ),
        ),
    ]
