#!/usr/bin/python3
"""Generate dump.json, the Django Marbelle fixture that app/importer_test.go reads.

It builds a throw-away Django project in a temporary directory with a `users`
app holding the two models of /work/shared/DJANGO-MODELS.md (User subclassing
AbstractUser with phone and company_name; Address), migrates an SQLite
database, creates the users below with make_password under each of Django's
hashers (PBKDF2, Argon2, BCryptSHA256: the first three users at Django's
default costs, the others at cheaper ones) plus the broken cases the
importer must repair or skip, and writes `manage.py dumpdata users --indent 1`.

Run it with Debian's Django 3.2 (apt-get install python3-django
python3-argon2 python3-bcrypt), from the repository root:

    /usr/bin/python3 app/testdata/django/make_fixture.py > app/testdata/django/dump.json

Salts are random, so every run writes different hashes; the plaintext test
passwords are listed in PASSWORDS here and in app/importer_test.go.
"""
import datetime
import io
import os
import sys
import tempfile

MODELS = '''
from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models

phone_regex = RegexValidator(regex=r"^\\+?1?\\d{9,15}$")


class User(AbstractUser):
    email = models.EmailField(unique=True)
    phone = models.CharField(max_length=20, blank=True, null=True, validators=[phone_regex])
    company_name = models.CharField(max_length=255, blank=True)


class Address(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="addresses")
    label = models.CharField(max_length=50)
    first_name = models.CharField(max_length=150)
    last_name = models.CharField(max_length=150)
    company = models.CharField(max_length=255, blank=True)
    street_address = models.CharField(max_length=255)
    street_address_2 = models.CharField(max_length=255, blank=True)
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20)
    country = models.CharField(max_length=2)
    phone = models.CharField(max_length=20, blank=True, validators=[phone_regex])
    is_primary = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
'''

# Cheaper costs (same algorithms and formats) for all but the first three
# users, so that the tests, which verify every hash under -race, stay fast.
HASHERS = '''
from django.contrib.auth import hashers


class CheapPBKDF2PasswordHasher(hashers.PBKDF2PasswordHasher):
    iterations = 20000


class CheapArgon2PasswordHasher(hashers.Argon2PasswordHasher):
    time_cost = 1
    memory_cost = 2048
    parallelism = 2


class CheapBCryptSHA256PasswordHasher(hashers.BCryptSHA256PasswordHasher):
    rounds = 4
'''

# The plaintext of every usable password in the fixture (test passwords).
PASSWORDS = {
    'alice@example.com': 'alice pbkdf2 Tulip-7',
    'bob@example.com': 'bob argon2 Walnut-8',
    'carol@example.com': 'carol bcrypt Pepper-9',
    'dave@example.com': 'dave pbkdf2 Harbor-10',
    'Erin@Example.com': 'erin first Meadow-11',
    'erin@example.com': 'erin second Meadow-12',
    'grace@example.com': 'grace unverified Lark-13',
    'heidi@example.com': 'heidi deactivated Fjord-14',
    'ivan@example.com': 'ivan superuser Quartz-15',
    'judy@example.com': 'judy phones Cobalt-16',
    'not-an-email': 'mallory Zinc-17',
}


def main():
    root = tempfile.mkdtemp(prefix='marbelle-django-')
    os.makedirs(os.path.join(root, 'users', 'migrations'))
    for name, text in [('users/__init__.py', ''), ('users/migrations/__init__.py', ''), ('users/models.py', MODELS), ('users/hashers.py', HASHERS)]:
        with open(os.path.join(root, name), 'w') as f:
            f.write(text)
    sys.path.insert(0, root)

    from django.conf import settings
    settings.configure(
        INSTALLED_APPS=['django.contrib.contenttypes', 'django.contrib.auth', 'users'],
        DATABASES={'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': os.path.join(root, 'db.sqlite3')}},
        AUTH_USER_MODEL='users.User',
        USE_TZ=True,
        TIME_ZONE='UTC',
        DEFAULT_AUTO_FIELD='django.db.models.AutoField',
        PASSWORD_HASHERS=[
            'users.hashers.CheapPBKDF2PasswordHasher',
            'users.hashers.CheapArgon2PasswordHasher',
            'users.hashers.CheapBCryptSHA256PasswordHasher',
        ],
    )
    import django
    django.setup()
    from django.contrib.auth.hashers import (Argon2PasswordHasher, BCryptSHA256PasswordHasher,
                                             PBKDF2PasswordHasher, check_password, make_password)
    from django.core.management import call_command
    from users.models import Address, User

    call_command('makemigrations', 'users', verbosity=0)
    call_command('migrate', verbosity=0)

    utc = datetime.timezone.utc

    def day(n, hour=9):
        return datetime.datetime(2023, 1, 1, hour, 0, 0, 123000, tzinfo=utc) + datetime.timedelta(days=n)

    # hasher is an algorithm name (the cheap subclass in PASSWORD_HASHERS)
    # or an instance of Django's own hasher class (default costs).
    def user(email, hasher='pbkdf2_sha256', joined=0, login=None, **kw):
        u = User(username=email, email=email, date_joined=day(joined), last_login=login, **kw)
        if email in PASSWORDS:
            u.password = make_password(PASSWORDS[email], hasher=hasher)
            assert check_password(PASSWORDS[email], u.password), email
        else:
            u.set_unusable_password()
        u.save()
        return u

    def address(u, label, created, primary=False, **kw):
        fields = dict(first_name=u.first_name or 'Test', last_name=u.last_name or 'Customer',
                      street_address='Hauptstrasse 1', city='Berlin', postal_code='10115', country='DE')
        fields.update(kw)
        a = Address.objects.create(user=u, label=label, is_primary=primary, **fields)
        # auto_now_add ignores a given value: set the times afterwards.
        Address.objects.filter(pk=a.pk).update(created_at=day(created), updated_at=day(created, 18))
        return a

    # pk=1: PBKDF2 at Django 3.2's default cost, verified, one primary of two
    # addresses (the normal case).
    alice = user('alice@example.com', hasher=PBKDF2PasswordHasher(), joined=0, login=day(40), first_name='Alice', last_name='Arnold',
                 phone='+493012345678', company_name='Arnold GmbH')
    address(alice, 'Home', 1, primary=True, street_address_2='Hinterhaus', state='Berlin', phone='+493012345678')
    address(alice, 'Office', 2, company='Arnold GmbH', street_address='Friedrichstrasse 10')

    # pk=2: Argon2 at Django's default cost, staff, two addresses both marked primary.
    bob = user('bob@example.com', hasher=Argon2PasswordHasher(), joined=1, login=day(41), first_name='Bob', last_name='Brown', is_staff=True)
    address(bob, 'Home', 3, primary=True, country='GB', city='London', postal_code='SW1A 1AA', street_address='10 Downing St')
    address(bob, 'Cottage', 4, primary=True, country='GB', city='Bath', postal_code='BA1 1LT', street_address='1 Royal Crescent')

    # pk=3: BCryptSHA256 at Django's default cost, three addresses and none primary.
    carol = user('carol@example.com', hasher=BCryptSHA256PasswordHasher(), joined=2, login=day(42), first_name='Carol', last_name='Clark')
    address(carol, 'Office', 6, country='US', city='Springfield', state='IL', postal_code='62701', street_address='1 Main St', phone='+12175550123')
    address(carol, 'Home', 5, country='US', city='Springfield', state='IL', postal_code='62704', street_address='742 Evergreen Terrace')
    address(carol, 'Parents', 7, country='US', city='Shelbyville', state='IL', postal_code='62565', street_address='5 Oak Ave')

    # pk=4: twelve addresses; the primary is the third oldest.
    dave = user('dave@example.com', joined=3, login=day(43), first_name='Dave', last_name='Dunn')
    for i in range(12):
        address(dave, 'Place %d' % (i + 1), 10 + i, primary=(i == 2), street_address='Dorfstrasse %d' % (i + 1))

    # pk=5 and pk=6: emails differing only in case; pk=6 also has an address.
    erin = user('Erin@Example.com', joined=4, login=day(44), first_name='Erin', last_name='Evans')
    address(erin, 'Home', 8, primary=True)
    erin2 = user('erin@example.com', joined=5, login=day(45), first_name='Erin', last_name='Evans')
    address(erin2, 'Home', 9, primary=True)

    # pk=7: unusable password, active and verified: must reset.
    user('frank@example.com', joined=6, login=day(46), first_name='Frank', last_name='Fox')

    # pk=8: inactive, usable password, never logged in: not yet verified.
    user('grace@example.com', joined=7, first_name='Grace', last_name='Green', is_active=False)

    # pk=9: inactive after logging in: deactivated by an admin.
    user('heidi@example.com', joined=8, login=day(30), first_name='Heidi', last_name='Hill', is_active=False)

    # pk=10: superuser without is_staff.
    user('ivan@example.com', hasher='argon2', joined=9, login=day(47), first_name='Ivan', last_name='Ivanov', is_superuser=True)

    # pk=11: a phone the Django regex allowed but that is no number; addresses
    # with a bad phone, a lower-case country, an unknown country, a missing city.
    judy = user('judy@example.com', hasher='bcrypt_sha256', joined=10, login=day(48), first_name='Judy', last_name='Jones', phone='123456789')
    address(judy, 'Home', 22, primary=True, country='de', phone='0301234567')
    address(judy, 'Studio', 23, phone='+1999999999999')
    address(judy, 'Nowhere', 24, country='XX')
    address(judy, 'Blank', 25, city='')

    # pk=12: an email Marbelle cannot take; its address goes with it.
    mallory = user('not-an-email', joined=11, login=day(49), first_name='Mallory', last_name='Moss')
    address(mallory, 'Home', 26, primary=True)

    # pk=13: inactive, never logged in and no usable password.
    user('ken@example.com', joined=12, first_name='Ken', last_name='King', is_active=False)

    out = io.StringIO()
    call_command('dumpdata', 'users', indent=1, stdout=out)
    sys.stdout.write(out.getvalue())


if __name__ == '__main__':
    main()
