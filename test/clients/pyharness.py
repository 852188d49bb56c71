"""What the Python clients share with test/clients/harness.ts: the context the suite passes (argv[1],
JSON: the application's URL and the fixture), the name every upsert writes, and how an observation
or an error is recorded (printed as one JSON object, scenario -> observation)."""
import json
import sys
import traceback
import warnings

UPSERTED_NAME = 'Upserted'


def context():
    return json.loads(sys.argv[1])


def sqlstate(e):
    """The SQLSTATE of a psycopg2 error, wrapped or not (SQLAlchemy's .orig, Django's __cause__)."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        code = getattr(e, 'pgcode', None)
        if code:
            return code
        e = getattr(e, 'orig', None) or e.__cause__ or e.__context__
    return None


def hint(e):
    """The HINT of a psycopg2 error, wrapped or not."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        diag = getattr(e, 'diag', None)
        if diag is not None and diag.message_hint:
            return diag.message_hint
        e = getattr(e, 'orig', None) or e.__cause__ or e.__context__
    return None


def describe(e):
    message = ' '.join(line.strip() for line in str(e).splitlines() if line.strip())
    return {'code': sqlstate(e), 'name': type(e).__name__, 'message': message[:300], 'hint': hint(e)}


def observe(work):
    """Runs one scenario; a warning the client raises (SQLAlchemy's row-count warning) counts as an error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            warnings.simplefilter('ignore', DeprecationWarning)
            warnings.simplefilter('ignore', PendingDeprecationWarning)
            return work() or {}
    except Exception as e:  # noqa: BLE001 - every error is an observation
        if '--trace' in sys.argv:
            traceback.print_exc(file=sys.stderr)
        return {'error': describe(e)}


def emit(observations):
    print(json.dumps(observations))


def sqlalchemy_url(url):
    """A libpq URL (postgres:// or postgresql://) as SQLAlchemy's psycopg2 URL."""
    for prefix in ('postgresql://', 'postgres://'):
        if url.startswith(prefix):
            return 'postgresql+psycopg2://' + url[len(prefix):]
    return url
