"""The admin's sign-in is throttled (django-axes): 100 wrong passwords used to answer 200
in 50 s, and then the right one signed in."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser("operator", "op@example.com", "right-pw-1")


def sign_in(client: Client, password: str):
    return client.post("/admin/login/?next=/admin/", {"username": "operator", "password": password})


def test_wrong_passwords_lock_the_name_out_even_for_the_right_one(operator, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "guess").status_code == 200  # the form again, with an error
    assert sign_in(client, "guess").status_code == 429
    response = sign_in(client, "right-pw-1")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_right_password_signs_in_and_resets_the_count(operator, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, "guess")
    assert sign_in(client, "right-pw-1").status_code == 302
    other = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(other, "guess").status_code == 200  # counting from zero again
