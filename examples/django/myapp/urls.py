"""URL configuration: every endpoint of the example, see shop/views.py."""
from django.urls import path

from shop import views

urlpatterns = [
    path("", views.index, name="index"),
    path("boom/", views.boom, name="boom"),
    path("orders/<int:order_id>/total/", views.order_total, name="order-total"),
    path("signup/", views.signup, name="signup"),
    path("slow/", views.slow, name="slow"),
    path("stream/", views.stream, name="stream"),
    path("upload/", views.upload, name="upload"),
    path("api/items/", views.api_items, name="api-items"),
    path("api/items/<int:item_id>/", views.api_item, name="api-item"),
    path("session/", views.session_view, name="session"),
    path("environ/", views.environ_view, name="environ"),
    path("health/", views.health, name="health"),
]
