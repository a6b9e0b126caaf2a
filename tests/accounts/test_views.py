import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import User
from billing.models import CreditAccount

pytestmark = pytest.mark.django_db

PASSWORD = "correct-Horse-battery-9"


def signup(client, email="new@example.com", password=PASSWORD, **extra):
    return client.post(reverse("signup"), {"email": email, "password": password, **extra})


def test_signup_creates_an_account_with_zero_credits_and_logs_in(client):
    response = signup(client, email="New@Example.com", name="Ada")
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:overview")
    user = User.objects.get(email="new@example.com")
    assert user.name == "Ada"
    assert user.check_password(PASSWORD)
    assert CreditAccount.objects.get(user=user).balance_micros == 0
    page = client.get(reverse("dashboard:overview"))
    assert page.status_code == 200
    assert page.wsgi_request.user == user


@pytest.mark.parametrize(
    "data,field,message",
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email", "valid email"),
        ({"email": "a@example.com", "password": "short"}, "password", "too short"),
        ({"email": "a@example.com", "password": "password123"}, "password", "too common"),
        ({"email": "a@example.com", "password": ""}, "password", "required"),
    ],
)
def test_signup_rejects_bad_input_and_creates_nothing(client, data, field, message):
    response = client.post(reverse("signup"), data)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert not User.objects.exists()


def test_signup_with_an_existing_email_is_refused(client, make_user):
    make_user(email="taken@example.com")
    response = signup(client, email="TAKEN@example.com")
    assert response.status_code == 400
    assert "already exists" in response.content.decode()
    assert User.objects.filter(email__iexact="taken@example.com").count() == 1


def test_signup_is_rate_limited_per_address(client, settings):
    settings.PORTAL_RATE_LIMITS = {**settings.PORTAL_RATE_LIMITS, "signup_ip": "2/h"}
    assert signup(client, email="one@example.com").status_code == 302
    client.logout()
    assert signup(client, email="two@example.com").status_code == 302
    client.logout()
    response = signup(client, email="three@example.com")
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    assert not User.objects.filter(email="three@example.com").exists()


def test_login_and_logout(client, make_user):
    user = make_user(email="me@example.com", password=PASSWORD)
    page = client.get(reverse("login"))
    assert page.status_code == 200 and "Log in" in page.content.decode()
    response = client.post(reverse("login"), {"username": "ME@example.com", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    assert client.get(reverse("dashboard:overview")).wsgi_request.user == user
    # Logging out needs a POST (a link cannot log you out).
    assert client.post(reverse("logout")).status_code == 302
    response = client.get(reverse("dashboard:overview"))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_login_with_a_wrong_password_says_so(client, make_user):
    make_user(email="me@example.com", password=PASSWORD)
    response = client.post(reverse("login"), {"username": "me@example.com", "password": "nope"})
    assert response.status_code == 200
    assert "don&#x27;t match an account" in response.content.decode()


def test_login_follows_next_but_only_to_this_site(client, make_user):
    make_user(email="me@example.com", password=PASSWORD)
    data = {"username": "me@example.com", "password": PASSWORD}
    response = client.post(reverse("login") + "?next=/dashboard/keys/", {**data, "next": "/dashboard/keys/"})
    assert response["Location"] == "/dashboard/keys/"
    client.logout()
    response = client.post(reverse("login"), {**data, "next": "https://evil.example/"})
    assert response["Location"] == "/dashboard/"


def test_login_is_rate_limited_per_email(client, make_user, settings):
    settings.PORTAL_RATE_LIMITS = {**settings.PORTAL_RATE_LIMITS, "login_email": "3/h"}
    make_user(email="me@example.com", password=PASSWORD)
    for _ in range(3):
        client.post(reverse("login"), {"username": "me@example.com", "password": "wrong"})
    # Even the right password is refused now: the attacker cannot keep guessing.
    response = client.post(reverse("login"), {"username": "me@example.com", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # Another account from the same address is not affected by that counter.
    make_user(email="other@example.com", password=PASSWORD)
    assert client.post(reverse("login"), {"username": "other@example.com", "password": PASSWORD}).status_code == 302


def test_login_is_rate_limited_per_address(client, make_user, settings):
    settings.PORTAL_RATE_LIMITS = {**settings.PORTAL_RATE_LIMITS, "login_ip": "2/m"}
    make_user(email="me@example.com", password=PASSWORD)
    client.post(reverse("login"), {"username": "a@example.com", "password": "x"})
    client.post(reverse("login"), {"username": "b@example.com", "password": "x"})
    response = client.post(reverse("login"), {"username": "me@example.com", "password": PASSWORD})
    assert response.status_code == 429


def test_password_reset_by_email(client, make_user):
    user = make_user(email="me@example.com", password="old-Password-1")
    response = client.post(reverse("password_reset"), {"email": "ME@example.com"})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["me@example.com"]
    link = re.search(r"https?://\S+/accounts/reset/\S+/", message.body).group(0)
    path = link.split("://", 1)[1].split("/", 1)[1]
    page = client.get("/" + path, follow=True)
    assert "Choose a new password" in page.content.decode()
    form_url = page.redirect_chain[-1][0]
    response = client.post(form_url, {"new_password1": "new-Password-77", "new_password2": "new-Password-77"})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_complete")
    user.refresh_from_db()
    assert user.check_password("new-Password-77")
    # The link works once.
    assert "Link expired" in client.get("/" + path, follow=True).content.decode()


def test_password_reset_for_an_unknown_email_reveals_nothing(client, db):
    response = client.post(reverse("password_reset"), {"email": "ghost@example.com"})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []


def test_password_reset_is_rate_limited(client, make_user, settings):
    settings.PORTAL_RATE_LIMITS = {**settings.PORTAL_RATE_LIMITS, "password_reset_ip": "1/h"}
    make_user(email="me@example.com")
    client.post(reverse("password_reset"), {"email": "me@example.com"})
    response = client.post(reverse("password_reset"), {"email": "me@example.com"})
    assert response.status_code == 429
    assert len(mail.outbox) == 1


def test_dashboard_pages_need_a_login(client, db):
    for name in ["overview", "keys", "topup", "billing", "usage", "jobs"]:
        response = client.get(reverse(f"dashboard:{name}"))
        assert response.status_code == 302, name
        assert response["Location"].startswith("/accounts/login/?next=/dashboard/")


def test_landing_page(client, catalog):
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "One key" in body and reverse("signup") in body
    assert "/static/css/app.css" in body
