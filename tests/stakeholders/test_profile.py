"""A person's own settings: time zone and out-of-office date."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from stakeholders.models import Profile, profile_for
from stakeholders.services import profile_update


@pytest.mark.django_db
def test_reading_a_profile_that_was_never_saved_gives_the_defaults_and_writes_nothing(requester):
    profile = profile_for(requester)
    assert (profile.pk, profile.time_zone, profile.away_until, profile.is_away()) == (None, "", None, False)
    assert profile.zone == ZoneInfo("Europe/Berlin")  # the desk's time zone
    assert not Profile.objects.exists()


@pytest.mark.django_db
def test_a_person_changes_their_own_time_zone_and_out_of_office_date(requester):
    # when they set a time zone, then an out-of-office date, the second change keeps the first
    profile_update(user=requester, actor=requester, time_zone=" America/New_York ")
    until = timezone.localdate() + timedelta(days=2)
    profile = profile_update(user=requester, actor=requester, away_until=until)
    # then both are kept
    assert (profile.time_zone, profile.away_until) == ("America/New_York", until)
    assert profile.zone == ZoneInfo("America/New_York")
    assert profile.is_away() and not profile.is_away(on=until + timedelta(days=1))


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["Europe/Nowhere", "../../etc/passwd", "CEST+2"])
def test_an_unknown_time_zone_is_refused_beside_the_field(requester, zone):
    with pytest.raises(ValidationError) as error:
        profile_update(user=requester, actor=requester, time_zone=zone)
    assert "time_zone" in error.value.message_dict
    assert not Profile.objects.exists()  # the whole change is rolled back


@pytest.mark.django_db
def test_nobody_changes_someone_elses_settings_without_the_permission(requester, colleague):
    with pytest.raises(PermissionDenied):
        profile_update(user=requester, actor=colleague, time_zone="Europe/Paris")
    assert not Profile.objects.exists()
