"""Dates: moment.js format tokens (locale en) and moment-timezone's zone names."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Callable, Mapping

from image_release.core.tag_rules.syntax import _Problem

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")

_WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")  # moment: 0 = Sunday

_LONG_FORMATS = {
    "LTS": "h:mm:ss A", "LT": "h:mm A", "L": "MM/DD/YYYY", "LL": "MMMM D, YYYY",
    "LLL": "MMMM D, YYYY h:mm A", "LLLL": "dddd, MMMM D, YYYY h:mm A",
    "l": "M/D/YYYY", "ll": "MMM D, YYYY", "lll": "MMM D, YYYY h:mm A", "llll": "ddd, MMM D, YYYY h:mm A",
}

_LOCAL_TOKENS = re.compile(r"(\[[^\[]*\])|(\\)?(LTS|LT|LL?L?L?|l{1,4})")

# moment's formattingTokens, verbatim (including its "w[o|w]" quirk).
_FORMAT_TOKENS = re.compile(
    r"(\[[^\[]*\])|(\\)?([Hh]mm(ss)?|Mo|MM?M?M?|Do|DDDo|DD?D?D?|ddd?d?|do?|w[o|w]?|W[o|W]?|Qo?|N{1,5}|YYYYYY|"
    r"YYYYY|YYYY|YY|y{2,4}|yo?|gg(ggg?)?|GG(GGG?)?|e|E|a|A|hh?|HH?|kk?|mm?|ss?|S{1,9}|x|X|zz?|ZZ?|.)",
    re.S,
)


def _ordinal(n: int) -> str:
    b = n % 10
    if (n % 100) // 10 == 1:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(b, "th")
    return f"{n}{suffix}"


def _zf(n: int, width: int, force_sign: bool = False) -> str:
    sign = "-" if n < 0 else ("+" if force_sign else "")
    return sign + str(abs(n)).zfill(width)


def _js_day(d: date) -> int:
    return (d.weekday() + 1) % 7  # Sunday = 0


def _first_week_offset(year: int, dow: int, doy: int) -> int:
    fwd = 7 + dow - doy
    fwdlw = (7 + _js_day(date(year, 1, fwd)) - dow) % 7
    return -fwdlw + fwd - 1


def _days_in_year(year: int) -> int:
    return 366 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 365


def _weeks_in_year(year: int, dow: int, doy: int) -> int:
    return (_days_in_year(year) - _first_week_offset(year, dow, doy) + _first_week_offset(year + 1, dow, doy)) // 7


def _locale_week(d: datetime) -> tuple[int, int]:
    """moment's week()/weekYear() for locale en (week starts Sunday, Jan 1 is in week 1)."""
    dow, doy = 0, 6
    year = d.year
    offset = _first_week_offset(year, dow, doy)
    week = (d.timetuple().tm_yday - offset - 1) // 7 + 1
    if week < 1:
        return week + _weeks_in_year(year - 1, dow, doy), year - 1
    if week > _weeks_in_year(year, dow, doy):
        return week - _weeks_in_year(year, dow, doy), year + 1
    return week, year


def _ms(d: datetime) -> int:
    return d.microsecond // 1000


def _offset(d: datetime, sep: str) -> str:
    off = d.utcoffset() or timedelta(0)
    minutes = int(off.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}{sep}{minutes % 60:02d}"


def _hour12(d: datetime) -> int:
    return d.hour % 12 or 12


def _epoch_ms(d: datetime) -> int:
    delta = d - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _fraction(width: int) -> Callable[[datetime], str]:
    def fmt(d: datetime) -> str:
        ms = _ms(d)
        if width == 1:
            return str(ms // 100)
        if width == 2:
            return _zf(ms // 10, 2)
        return _zf(ms, 3) + "0" * (width - 3)

    return fmt


_TOKEN_FUNCS: dict[str, Callable[[datetime], str]] = {
    "M": lambda d: str(d.month),
    "MM": lambda d: _zf(d.month, 2),
    "Mo": lambda d: _ordinal(d.month),
    "MMM": lambda d: _MONTHS[d.month - 1][:3],
    "MMMM": lambda d: _MONTHS[d.month - 1],
    "Q": lambda d: str((d.month - 1) // 3 + 1),
    "Qo": lambda d: _ordinal((d.month - 1) // 3 + 1),
    "D": lambda d: str(d.day),
    "DD": lambda d: _zf(d.day, 2),
    "Do": lambda d: _ordinal(d.day),
    "DDD": lambda d: str(d.timetuple().tm_yday),
    "DDDD": lambda d: _zf(d.timetuple().tm_yday, 3),
    "DDDo": lambda d: _ordinal(d.timetuple().tm_yday),
    "d": lambda d: str(_js_day(d)),
    "do": lambda d: _ordinal(_js_day(d)),
    "dd": lambda d: _WEEKDAYS[_js_day(d)][:2],
    "ddd": lambda d: _WEEKDAYS[_js_day(d)][:3],
    "dddd": lambda d: _WEEKDAYS[_js_day(d)],
    "e": lambda d: str(_js_day(d)),  # locale en: the week starts on Sunday
    "E": lambda d: str(d.isoweekday()),
    "w": lambda d: str(_locale_week(d)[0]),
    "ww": lambda d: _zf(_locale_week(d)[0], 2),
    "wo": lambda d: _ordinal(_locale_week(d)[0]),
    "W": lambda d: str(d.isocalendar()[1]),
    "WW": lambda d: _zf(d.isocalendar()[1], 2),
    "Wo": lambda d: _ordinal(d.isocalendar()[1]),
    "Y": lambda d: _zf(d.year, 4) if d.year <= 9999 else f"+{d.year}",
    "YY": lambda d: _zf(d.year % 100, 2),
    "YYYY": lambda d: _zf(d.year, 4),
    "YYYYY": lambda d: _zf(d.year, 5),
    "YYYYYY": lambda d: _zf(d.year, 6, force_sign=True),
    "y": lambda d: str(d.year),
    "yy": lambda d: _zf(d.year, 2),
    "yyy": lambda d: _zf(d.year, 3),
    "yyyy": lambda d: _zf(d.year, 4),
    "yo": lambda d: _ordinal(d.year),
    "N": lambda d: "AD",
    "NN": lambda d: "AD",
    "NNN": lambda d: "AD",
    "NNNN": lambda d: "Anno Domini",
    "NNNNN": lambda d: "AD",
    "gg": lambda d: _zf(_locale_week(d)[1] % 100, 2),
    "gggg": lambda d: _zf(_locale_week(d)[1], 4),
    "ggggg": lambda d: _zf(_locale_week(d)[1], 5),
    "GG": lambda d: _zf(d.isocalendar()[0] % 100, 2),
    "GGGG": lambda d: _zf(d.isocalendar()[0], 4),
    "GGGGG": lambda d: _zf(d.isocalendar()[0], 5),
    "a": lambda d: "pm" if d.hour > 11 else "am",
    "A": lambda d: "PM" if d.hour > 11 else "AM",
    "H": lambda d: str(d.hour),
    "HH": lambda d: _zf(d.hour, 2),
    "h": lambda d: str(_hour12(d)),
    "hh": lambda d: _zf(_hour12(d), 2),
    "k": lambda d: str(d.hour or 24),
    "kk": lambda d: _zf(d.hour or 24, 2),
    "m": lambda d: str(d.minute),
    "mm": lambda d: _zf(d.minute, 2),
    "s": lambda d: str(d.second),
    "ss": lambda d: _zf(d.second, 2),
    "Hmm": lambda d: f"{d.hour}{d.minute:02d}",
    "Hmmss": lambda d: f"{d.hour}{d.minute:02d}{d.second:02d}",
    "hmm": lambda d: f"{_hour12(d)}{d.minute:02d}",
    "hmmss": lambda d: f"{_hour12(d)}{d.minute:02d}{d.second:02d}",
    "X": lambda d: str(_epoch_ms(d) // 1000),
    "x": lambda d: str(_epoch_ms(d)),
    "Z": lambda d: _offset(d, ":"),
    "ZZ": lambda d: _offset(d, ""),
    "z": lambda d: d.tzname() or "",
    "zz": lambda d: d.tzname() or "",
}

for _w in range(1, 10):
    _TOKEN_FUNCS["S" * _w] = _fraction(_w)


def _expand_long_formats(fmt: str) -> str:
    def repl(m: re.Match) -> str:
        return _LONG_FORMATS.get(m.group(0), m.group(0))

    for _ in range(5):
        new = _LOCAL_TOKENS.sub(repl, fmt)
        if new == fmt:
            break
        fmt = new
    return fmt


@lru_cache(maxsize=512)
def _compile_moment(fmt: str) -> tuple:
    pieces: list = []
    for m in _FORMAT_TOKENS.finditer(_expand_long_formats(fmt)):
        tok = m.group(0)
        func = _TOKEN_FUNCS.get(tok)
        if func is not None:
            pieces.append(func)
        elif tok.startswith("[") and len(tok) > 1:
            pieces.append(tok[1:-1] if tok.endswith("]") else tok[1:])
        else:
            pieces.append(tok.replace("\\", ""))
    return tuple(pieces)


def format_moment(when: datetime, fmt: str) -> str:
    """Format ``when`` with a moment.js format string (locale en)."""
    return "".join(p if type(p) is str else p(when) for p in _compile_moment(fmt))


@lru_cache(maxsize=128)
def _zone(name: str) -> tzinfo:
    if name.upper() == "UTC":
        return timezone.utc
    import zoneinfo

    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError, TypeError):
        pass
    # moment-timezone matches zone names case-insensitively.
    known = _zones_by_lower_name().get(name.lower())
    if known is not None:
        return zoneinfo.ZoneInfo(known)
    raise _Problem(
        f"unknown time zone {name!r}",
        "use an IANA zone name such as tz='UTC' or tz='Europe/Paris' (install the tzdata package if none work)",
    )


@lru_cache(maxsize=1)
def _zones_by_lower_name() -> Mapping[str, str]:
    import zoneinfo

    try:
        return {z.lower(): z for z in zoneinfo.available_timezones()}
    except Exception:  # pragma: no cover - a broken tz database
        return {}
