"""Test-only views that insert a row (and send a mail), then raise or succeed."""
from django.core import mail
from django.http import HttpResponse
from django.urls import include, path
from shop.models import Item


def insert_then_raise(request):
    Item.objects.create(name="rollback-test-raise", price_cents=1)
    mail.send_mail("subject", "body", "from@example.com", ["to@example.com"])
    raise RuntimeError("after the insert")


def insert_ok(request):
    Item.objects.create(name="rollback-test-ok", price_cents=2)
    mail.send_mail("subject", "body", "from@example.com", ["to@example.com"])
    return HttpResponse("inserted")


urlpatterns = [
    path("insert-then-raise/", insert_then_raise),
    path("insert-ok/", insert_ok),
    path("", include("myapp.urls")),
]
