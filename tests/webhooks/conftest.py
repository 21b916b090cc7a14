# The portal's new-request form (`form_data()`, a Goods request below approval), shared with its own tests.
from tests.requests_app.test_views import form_data, goods  # noqa: F401
