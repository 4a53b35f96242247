"""The staff sign-in form."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from portal.staff.passwords import MAX_LENGTH
from portal.web.common.forms import Form


class SignInForm(Form):
    """Email and password; ``next`` is where to go afterwards (checked before use)."""

    email = EmailField(
        lazy_pgettext("address", "Email"),
        validators=[
            DataRequired(message=_l("Enter your email address.")),
            Length(max=254, message=_l("That email address is too long.")),
        ],
    )
    password = PasswordField(
        _l("Password"),
        validators=[
            DataRequired(message=_l("Enter your password.")),
            Length(max=MAX_LENGTH, message=_l("That password is too long.")),
        ],
    )
    next = HiddenField()


class CodeForm(Form):
    """The one-time code from the authenticator app, asked for after a right password."""

    code = StringField(
        _l("Code"),
        validators=[
            DataRequired(message=_l("Enter the 6-digit code from your authenticator app.")),
            # Room for spaces between groups of digits; anything longer is not a code.
            Length(max=16, message=_l("That code is too long.")),
        ],
    )
    next = HiddenField()


class SetUpForm(Form):
    """A new member's password, typed twice, on their set-up link."""

    password = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(message=_l("Enter a password.")),
            Length(max=MAX_LENGTH, message=_l("That password is too long.")),
        ],
    )
    confirm = PasswordField(
        _l("The same password again"),
        validators=[
            DataRequired(message=_l("Type the password a second time.")),
            EqualTo("password", message=_l("The two passwords differ.")),
        ],
    )


class EnrolForm(Form):
    """The first code of a newly enrolled authenticator app."""

    code = StringField(
        _l("Code"),
        validators=[
            DataRequired(message=_l("Enter the 6-digit code from your authenticator app.")),
            Length(max=16, message=_l("That code is too long.")),
        ],
    )
