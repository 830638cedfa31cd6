"""What every app's pages share: admin mixins, template tags (``{% load console %}``) and the
admin's RQ dashboard. It imports none of the apps, so any of them may import it."""
