from __future__ import annotations

import pytest
from django.contrib.auth import authenticate

from apps.accounts.enums import AccountsErrorCode
from apps.accounts.models import User
from apps.accounts.services import user_register
from apps.accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from apps.audit.models import AuditEvent
from apps.core.errors import ValidationError

pytestmark = pytest.mark.django_db


def test_a_new_account_is_stored_under_its_lower_case_email_and_can_sign_in() -> None:
    user = user_register(email="  New.Trader@Example.COM ", password=DEFAULT_PASSWORD, display_name="  Ada  ")

    assert user.email == "new.trader@example.com"
    assert user.display_name == "Ada"
    assert authenticate(email="NEW.TRADER@example.com", password=DEFAULT_PASSWORD) == user


def test_registering_records_an_audit_event_owned_by_the_new_user() -> None:
    user = user_register(email="ada@example.com", password=DEFAULT_PASSWORD)

    event = AuditEvent.objects.get(action="user.registered")
    assert event.actor_id == user.pk
    assert event.owner_id == user.pk
    assert event.target_id == str(user.pk)


@pytest.mark.parametrize("email", ["taken@example.com", "TAKEN@example.com", " Taken@Example.com "])
def test_an_email_already_in_use_in_any_case_is_refused(email: str) -> None:
    UserFactory(email="taken@example.com")

    with pytest.raises(ValidationError) as caught:
        user_register(email=email, password=DEFAULT_PASSWORD)

    assert caught.value.code == AccountsErrorCode.EMAIL_TAKEN
    assert caught.value.extra["fields"] == {"email": ["An account with this email already exists."]}
    assert User.objects.count() == 1


def test_a_weak_password_is_refused_with_the_reasons_on_the_password_field() -> None:
    with pytest.raises(ValidationError) as caught:
        user_register(email="ada@example.com", password="password123")

    assert "This password is too common." in caught.value.extra["fields"]["password"]
    assert not User.objects.exists()
    assert not AuditEvent.objects.filter(action="user.registered").exists()
