"""Two tiny tables: members (for /signup/) and items (for /api/items/)."""
from django.db import models


class Member(models.Model):
    # unique=True is what /signup/ trips over: the view inserts without
    # checking first, so a taken username raises IntegrityError (a 500).
    username = models.CharField(max_length=150, unique=True)
    joined_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.username


class Item(models.Model):
    name = models.CharField(max_length=200)
    price_cents = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def as_dict(self):
        return {"id": self.id, "name": self.name, "price_cents": self.price_cents}

    def __str__(self):
        return self.name
