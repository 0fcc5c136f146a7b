"""The ``unknot`` command."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import errno
import os
import sqlite3
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

from server.catalog import LANGUAGES, Catalog, CatalogError, load_catalog
from server.catalog.loader import ContentProblem
from server.clock import clocks_apart
from server.db import IntegrityError, open_database, reminders
from server.db.connection import Database, DatabaseUnavailable, no_space_left
from server.db.migrate import DatabaseTooNewError, migrate
from server.db.postgres import without_password
from server.db.therapists import Therapist
from server.settings import DEFAULT_DATA_DIR, Settings, SettingsError, unknown_variables

if TYPE_CHECKING:
    from server.push.keys import VapidKeys

__all__ = ["build_parser", "main"]


def _settings() -> Settings:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise SystemExit(f"unknot: configuration error: {exc}") from None
    for line in unknown_variables():
        print(f"unknot: warning: {line}", file=sys.stderr)
    if settings.database_backend == "sqlite" and settings.sqlite_path.is_dir():
        raise SystemExit(
            f"unknot: UNKNOT_DATABASE_URL {settings.sqlite_path.absolute()} is a folder; give the database file's path"
        )
    return settings


def _load_catalog(plans: Path) -> Catalog:
    """The content in ``plans``; :class:`CatalogError` for a folder that cannot be read as one."""
    if not plans.exists():  # a mistyped UNKNOT_PLANS_DIR: one line, not every file it lacks
        raise CatalogError([ContentProblem(str(plans), "folder", "no such folder")])
    try:
        return load_catalog(plans)
    except OSError as exc:  # a file given for the folder, no permission, ...
        raise CatalogError([ContentProblem(str(plans), "folder", exc.strerror or str(exc))]) from None


def _no_database(settings: Settings) -> bool:
    """True (said why) when the SQLite database is not there: opening it would create an empty one,
    and a mistyped path would give an account or a clinic nobody's server ever opens."""
    if settings.database_backend == "sqlite" and not settings.sqlite_path.is_file():
        print(
            f"unknot: no database at {_where(settings)}: check UNKNOT_DATABASE_URL, or run `unknot init` to create it",
            file=sys.stderr,
        )
        return True
    return False


def _where(settings: Settings) -> str:
    """The database for messages, without a password; a relative SQLite path made absolute (run
    from another folder, by cron or a service manager, it names another file)."""
    if settings.database_backend == "sqlite":
        return str(settings.sqlite_path.absolute())
    return without_password(settings.database_url)


async def _init(settings: Settings) -> list[int]:
    async with open_database(settings) as db:
        return await migrate(db)


def cmd_init(args: argparse.Namespace) -> int:
    """Create the database or bring its schema up to date."""
    settings = _settings()
    try:
        applied = asyncio.run(_init(settings))
    except DatabaseTooNewError as exc:
        print(f"unknot: {exc}", file=sys.stderr)
        return 1
    print(f"database {_where(settings)}: " + (f"applied {applied}" if applied else "up to date"))
    return 0


async def _create_therapist(settings: Settings, email: str, name: str, password: str) -> int:
    from server.auth.secrets import hash_password
    from server.clock import Clock
    from server.db import therapists

    async with open_database(settings) as db:
        await migrate(db)
        async with db.transaction() as tx:
            return await therapists.create_therapist(tx, email, name, await hash_password(password), Clock().now())


def _read_password(args: argparse.Namespace) -> str | None:
    """The new password from standard input or a prompt; ``None`` (said why) when there is none or it is too short."""
    import getpass

    from server.auth.secrets import MIN_PASSWORD_LENGTH

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")  # a file saved on Windows ends its line in \r\n
    else:
        try:
            password = getpass.getpass(f"Password (at least {MIN_PASSWORD_LENGTH} characters): ")
        except (EOFError, KeyboardInterrupt):  # run from a script with nothing to read, or Ctrl-C
            print("\nunknot: no password given: type it, or pipe it with --password-stdin", file=sys.stderr)
            return None
    if len(password) < MIN_PASSWORD_LENGTH:
        print(f"unknot: the password needs at least {MIN_PASSWORD_LENGTH} characters", file=sys.stderr)
        return None
    return password


def _account_problem(email: str, name: str) -> str | None:
    """What is wrong with a new account's email or name, by the rules the API applies to what people type."""
    import re

    from server.api.params import EMAIL, PLAIN_TEXT, visible_name

    if len(email) > 254 or not re.match(EMAIL, email):
        return f"email {email!r} must be an email address"
    if not visible_name(name):
        return "name must not be empty (white space or invisible characters only)"
    if len(name) > 100 or not re.match(PLAIN_TEXT, name):
        return "name must be at most 100 characters with no control characters"
    return None


def _account_there(settings: Settings, email: str) -> bool:
    """Whether a therapist account has ``email``: asked before the password is, so a mistyped or
    taken email is said before anyone types a password twice for nothing."""
    from server.db import therapists

    async def look() -> bool:
        async with open_database(settings) as db:
            await migrate(db)
            return await therapists.therapist_by_email(db, email) is not None

    return asyncio.run(look())


def cmd_create_therapist(args: argparse.Namespace) -> int:
    """Create a therapist account; the password is read from standard input or asked for."""
    settings = _settings()
    if problem := _account_problem(args.email, args.name):
        print(f"unknot: {problem}", file=sys.stderr)
        return 2
    if _no_database(settings):
        return 1
    if _account_there(settings, args.email):
        print(f"unknot: a therapist with email {args.email} already exists", file=sys.stderr)
        return 1
    password = _read_password(args)
    if password is None:
        return 2
    try:
        therapist_id = asyncio.run(_create_therapist(settings, args.email, " ".join(args.name.split()), password))
    except IntegrityError:
        print(f"unknot: a therapist with email {args.email} already exists", file=sys.stderr)
        return 1
    print(f"created therapist {therapist_id} <{args.email.lower()}>")
    return 0


class _NoSuchAccount(Exception):
    """No therapist account has this email."""


async def _accounts(db: Database, *emails: str) -> list[Therapist]:
    """The accounts with these emails; :class:`_NoSuchAccount` naming the first that does not exist."""
    from server.db import therapists

    found = []
    for email in emails:
        account = await therapists.therapist_by_email(db, email)
        if account is None:
            raise _NoSuchAccount(email)
        found.append(account[0])
    return found


def _run_on_accounts(settings: Settings, work: Callable[[Database], Awaitable[int]]) -> int:
    """Run ``work`` on the database; an unknown email is said and exit status 1."""
    if _no_database(settings):
        return 1

    async def run() -> int:
        async with open_database(settings) as db:
            await migrate(db)
            return await work(db)

    try:
        return asyncio.run(run())
    except _NoSuchAccount as exc:
        print(f"unknot: no therapist with email {exc}", file=sys.stderr)
        return 1


def cmd_set_password(args: argparse.Namespace) -> int:
    """Give a therapist account a new password (one forgotten, or one someone else knows), sign out
    all its sessions, forget the browsers it signed in from and clear its failed sign-ins."""
    from server.auth.secrets import hash_password
    from server.clock import Clock
    from server.db import therapists

    settings = _settings()  # a configuration error, no database or no such account before the password is asked for
    if _no_database(settings):
        return 1
    if not _account_there(settings, args.email):
        print(f"unknot: no therapist with email {args.email}", file=sys.stderr)
        return 1
    password = _read_password(args)
    if password is None:
        return 2

    async def work(db: Database) -> int:
        [account] = await _accounts(db, args.email)
        # Every remembered browser is forgotten too: a reset may follow a compromise, and a browser
        # the intruder signed in from would keep its own allowance of guesses.
        ended = await therapists.replace_password(
            db,
            account.id,
            await hash_password(password),
            None,
            now=Clock().now(),
            idle=dt.timedelta(minutes=settings.session_idle_minutes),
        )
        # Locked out by guesses, the therapist gets in at once with the new password.
        await therapists.clear_account_attempts(db, account.email)
        print(f"new password set for <{account.email}>; {ended} session(s) signed out")
        return 0

    return _run_on_accounts(settings, work)


def cmd_transfer_patients(args: argparse.Namespace) -> int:
    """Give a therapist's patients (all, or those listed) to a colleague, with everything they hold."""
    from server.clock import Clock
    from server.db import therapists

    async def work(db: Database) -> int:
        giver, taker = await _accounts(db, args.source, args.target)
        if giver.id == taker.id:
            print("unknot: the two emails name the same account", file=sys.stderr)
            return 2
        if await therapists.is_closed(db, taker.id):
            print(f"unknot: {taker.email}'s account is closed; choose an open one", file=sys.stderr)
            return 2
        try:
            async with db.transaction() as tx:
                moved = await therapists.transfer_patients(tx, giver, taker, args.patient or None, Clock().now())
        except therapists.NotTheirs as exc:
            ids = ", ".join(map(str, exc.ids))
            print(f"unknot: {giver.email} holds no patient with id {ids}; nothing was moved", file=sys.stderr)
            return 1
        if not moved:  # all of them asked for, and there were none
            print(f"<{giver.email}> holds no patients; nothing was moved")
            return 0
        print(f"moved {len(moved)} patient(s) from <{giver.email}> to <{taker.email}>: {', '.join(map(str, moved))}")
        return 0

    return _run_on_accounts(_settings(), work)


def cmd_close_therapist(args: argparse.Namespace) -> int:
    """Close the account of a therapist who left: no sign-in; kept for the audit trail."""
    from server.clock import Clock
    from server.db import therapists

    settings = _settings()

    async def work(db: Database) -> int:
        [account] = await _accounts(db, args.email)
        try:
            async with db.transaction() as tx:
                ended = await therapists.close_account(
                    tx, account.id, Clock().now(), dt.timedelta(minutes=settings.session_idle_minutes)
                )
        except therapists.StillHolds as held:
            print(
                f"unknot: <{account.email}> still holds {held} patient(s); give them to a colleague first: "
                f"unknot transfer-patients {account.email} OTHER_EMAIL",
                file=sys.stderr,
            )
            return 1
        if ended is None:
            print(f"<{account.email}> is already closed; nothing changed")
            return 0
        print(f"closed <{account.email}>; {ended} session(s) signed out")
        return 0

    return _run_on_accounts(settings, work)


def cmd_reopen_therapist(args: argparse.Namespace) -> int:
    """Let a closed account sign in again."""
    from server.db import therapists

    async def work(db: Database) -> int:
        [account] = await _accounts(db, args.email)
        async with db.transaction() as tx:
            reopened = await therapists.reopen_account(tx, account.id)
        if not reopened:
            print(f"<{account.email}> is already open; nothing changed")
            return 0
        print(f"<{account.email}> can sign in again (with the password it had; `unknot set-password` to change it)")
        return 0

    return _run_on_accounts(_settings(), work)


def cmd_demo(args: argparse.Namespace) -> int:
    """Load demo data (a therapist, patients, a plan, some logs) unless it is there already."""
    from server.demo import load_demo

    settings = _settings()
    if settings.env == "production":
        # Its password is in the README: on a clinic's server it would be a published way in.
        print("unknot: demo data is for trying Unknot locally; not loaded with UNKNOT_ENV=production", file=sys.stderr)
        return 2
    if _no_database(settings):
        return 1
    print(asyncio.run(load_demo(settings)))
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """Copy the database consistently, even while the server writes; with ``--keep``, delete the oldest backups."""
    from server.clock import Clock
    from server.db.backup import BackupError, backup, backup_name, prune

    settings = _settings()
    if settings.database_backend == "postgresql":
        print("unknot: backup copies a SQLite database; on PostgreSQL use pg_dump (see the README)", file=sys.stderr)
        return 2
    if _no_database(settings):
        return 1
    into_folder = Path(args.path).is_dir() or args.path.endswith(("/", os.sep))
    if args.keep is not None and not into_folder:
        # A name the clinic chose says nothing of which other files are backups: only names the command gave do.
        print(
            f"unknot: --keep needs the backup folder, not a file name ({args.path}): `unknot backup FOLDER --keep N`",
            file=sys.stderr,
        )
        return 2
    target = Path(args.path) / backup_name(Clock().now()) if into_folder else Path(args.path)
    if into_folder and target.exists():  # names go by the second: two backups in one second
        print(f"unknot: {target}, a backup made this second, is there already; run it again", file=sys.stderr)
        return 1
    try:
        version = backup(settings.sqlite_path, target)
    except BackupError as exc:
        print(f"unknot: {exc}", file=sys.stderr)
        return 1
    print(f"backed up {_where(settings)} to {target} (schema version {version}, integrity ok)")
    if args.keep is None:
        return 0
    deleted, failed = prune(target.parent, args.keep, target)
    for old in deleted:
        print(f"deleted old backup {old}")
    for problem in failed:
        print(f"unknot: {problem}", file=sys.stderr)
    return 1 if failed else 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Put a checked backup in place of the database (stop the server first)."""
    from server.db.backup import BackupError, restore

    settings = _settings()
    if settings.database_backend == "postgresql":
        print("unknot: restore replaces a SQLite database; on PostgreSQL use pg_restore", file=sys.stderr)
        return 2
    if not args.yes:
        print(f"unknot: this replaces {_where(settings)}; stop the server, then add --yes", file=sys.stderr)
        return 2
    try:
        restored = restore(Path(args.path), settings.sqlite_path)
    except BackupError as exc:
        print(f"unknot: {exc}", file=sys.stderr)
        return 1
    print(f"restored {args.path} to {_where(settings)} (schema version {restored.version})")
    if restored.erased_again is None:
        print(
            f"unknot: erasures made since the backup could not be repeated: the replaced database could not be "
            f"read ({restored.unread}); erase those patients again",
            file=sys.stderr,
        )
    else:
        print(f"erased again {restored.erased_again} patients erased since the backup")
    print(
        "every therapist must sign in again; password changes and account closures made since the backup "
        "are undone: make them again"
    )
    return 0


def cmd_migrate_db(args: argparse.Namespace) -> int:
    """Copy a SQLite database into an empty PostgreSQL database, checked table by table."""
    from server.db.backup import BackupError
    from server.db.move import MoveError, TargetNotEmptyError, copy_to_postgres
    from server.db.postgres import is_postgres_url

    if not is_postgres_url(args.target):
        print("unknot: --to takes a postgresql://user@host:port/database URL", file=sys.stderr)
        return 2

    def starting() -> None:  # once the source is found sound: a missing or busy one is said without it
        print(f"copying {args.source} to {without_password(args.target)} in one transaction")

    try:
        reports = asyncio.run(copy_to_postgres(Path(args.source), args.target, starting))
    except TargetNotEmptyError as exc:
        print(f"unknot: refused: {exc}; nothing was copied", file=sys.stderr)
        return 2
    except (BackupError, MoveError) as exc:
        print(f"unknot: {exc}", file=sys.stderr)
        return 1
    width = max(len(r.table) for r in reports)
    print(f"{'table':<{width}}  {'sqlite rows':>11}  {'postgresql rows':>15}  checksum (sqlite / postgresql)")
    for r in reports:
        print(
            f"{r.table:<{width}}  {r.source_rows:>11}  {r.target_rows:>15}  "
            f"{r.source_checksum} / {r.target_checksum}  {'ok' if r.ok else 'DIFFERENT'}"
        )
    total = sum(r.source_rows for r in reports)
    print(
        f"copied {total} rows in {len(reports)} tables; every table matches. Now set UNKNOT_DATABASE_URL to the target."
    )
    return 0


async def _content_problem(settings: Settings, catalog: Catalog, *, upgrade: bool) -> str | None:
    """What the database's plans use that ``catalog`` lacks (one line), or ``None``.

    With ``upgrade`` (`unknot serve`) the schema is brought up to date first, and the migrations
    applied are said. Without (`unknot plans-check --database`) the database is only read: a check
    run before an upgrade must not change the schema under the running server of the version before.
    """
    from server.db.content import content_in_use, missing_content

    async with open_database(settings) as db:
        if upgrade and (applied := await migrate(db)):
            print(f"database {_where(settings)}: applied {applied}")
        try:
            use = await content_in_use(db)
        except (sqlite3.OperationalError, asyncpg.UndefinedTableError) as exc:
            no_tables = isinstance(exc, asyncpg.UndefinedTableError) or "no such table" in str(exc)
            if upgrade or not no_tables:
                raise
            return f"database {_where(settings)} holds no Unknot tables yet: run `unknot init`"
        return missing_content(catalog, use)


def _content_refused(settings: Settings, catalog: Catalog, prefix: str, *, upgrade: bool) -> bool:
    """Whether the database's plans use ids ``catalog`` lacks (or the database is too new), said in one line."""
    try:
        problem = asyncio.run(_content_problem(settings, catalog, upgrade=upgrade))
    except DatabaseTooNewError as exc:
        print(f"unknot: {exc}", file=sys.stderr)
        return True
    if problem:
        print(f"{prefix}: {problem}", file=sys.stderr)
    return problem is not None


def cmd_plans_check(args: argparse.Namespace) -> int:
    """Validate the content in plans/ and report its coverage."""
    # The settings only when needed: a folder given on its own is checked whatever the environment says.
    settings = _settings() if args.database or not args.plans else None
    root = Path(args.plans or settings.plans_dir)  # type: ignore[union-attr]  # settings is read when no folder is given
    try:
        catalog = _load_catalog(root)
    except CatalogError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in {root}", file=sys.stderr)
        return 1
    if settings is not None and args.database and _no_database(settings):  # opening it would make an empty one
        return 1
    if settings is not None and args.database and _content_refused(settings, catalog, f"error: {root}", upgrade=False):
        return 1
    regions = Counter(m.region for m in catalog.muscles.values())
    kinds = Counter(e.kind for e in catalog.exercises.values())
    print(f"ok: {root}")
    print(f"muscles: {len(catalog.muscles)} in {len(regions)} regions")
    for region, count in sorted(regions.items()):
        print(f"  {region}: {count}")
    print(f"exercises: {len(catalog.exercises)}")
    for kind, count in sorted(kinds.items()):
        print(f"  {kind}: {count}")
    per_muscle = {m: len(catalog.exercises_for(m)) for m in catalog.muscles}
    print(f"exercises per muscle: min {min(per_muscle.values(), default=0)}, max {max(per_muscle.values(), default=0)}")
    kinds = {m: {e.kind for e in catalog.exercises_for(m)} for m in catalog.muscles}
    gaps = [
        m
        for m, k in kinds.items()
        if not ("posture" in k and k & {"stretch", "self-massage"} and k & {"mobility", "strength"})
    ]
    print(f"muscles missing a release, a mobility or strength item, or a posture tip: {', '.join(gaps) or 'none'}")
    print(f"conditions: {len(catalog.conditions)}; languages: {', '.join(LANGUAGES)} (every text present in each)")
    if settings is not None and args.database:
        print(f"database {_where(settings)}: every exercise and muscle its plans use is here")
    return 0


def _vapid_keys(settings: Settings) -> VapidKeys | None:
    """The VAPID key pair in ``UNKNOT_DATA_DIR`` (made when missing), or ``None`` once the reason is printed."""
    from server.push.keys import load_or_create

    try:
        return load_or_create(settings.data_dir)
    except OSError as exc:
        # A key file others can read raises PermissionError with its own message and no errno;
        # a write that did not fit names no file.
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            reason = "the disk that holds it is full: free space on it, then run the command again"
        elif exc.errno is None:
            reason = str(exc)
        else:
            reason = f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc.strerror)
        print(f"unknot: UNKNOT_DATA_DIR {settings.data_dir}: {reason}", file=sys.stderr)
    except ValueError as exc:
        print(f"unknot: {exc}", file=sys.stderr)
    return None


def cmd_vapid_keys(args: argparse.Namespace) -> int:
    """Make the VAPID key pair for Web Push unless it exists; print the public key."""
    keys = _vapid_keys(_settings())
    if keys is None:
        return 1
    state = "created" if keys.created else "exists"
    print(f"VAPID key pair {state}: {keys.path} (mode 600)\npublic key (applicationServerKey): {keys.public_key}")
    return 0


async def _database_facts(settings: Settings) -> tuple[int, dt.timedelta | None, bool]:
    """Open the database (raises :class:`DatabaseUnavailable`): the push subscriptions it holds,
    how far this machine's clock is ahead of the database server's (None on SQLite), and, in
    production, whether the demo account is open with its published password."""
    from server.demo import demo_account_open

    async with open_database(settings) as db:
        ahead = await db.clock_ahead()
        try:
            subscribed = await reminders.subscriptions_stored(db)
            demo = settings.env == "production" and await demo_account_open(db)
        except Exception:  # tables not made yet: serve migrates below
            return 0, ahead, False
        return subscribed, ahead, demo


def _cannot_listen(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on, or ``None`` when it is free.

    Granian shares a port with any process already listening on it (SO_REUSEPORT), so a second
    ``unknot serve`` (an old version, or another clinic's database) would silently take half the
    requests; this exclusive trial bind refuses that.
    """
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as trial:
            trial.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed connection's TIME_WAIT is no owner
            trial.bind(address)
    except OSError as exc:
        if isinstance(exc, socket.gaierror) or exc.errno != errno.EADDRINUSE:
            return f"{exc.strerror or exc}; check UNKNOT_HOST"
        return "the port is in use (another `unknot serve`?); stop that program or set UNKNOT_PORT"
    return None


def _exposed_in_development(settings: Settings) -> str | None:
    """Why a development server is reachable from other machines, or ``None`` when it is not."""
    if settings.env != "development":
        return None
    import ipaddress
    from urllib.parse import urlsplit

    def local(host: str) -> bool:
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return host == "localhost"

    if not local(settings.host):
        return f"it listens on {settings.host} (UNKNOT_HOST)"
    public = urlsplit(settings.public_url).hostname or ""
    if not local(public):
        return f"patients reach it at {settings.public_url} (UNKNOT_PUBLIC_URL)"
    return None


def _unreachable_in_production(settings: Settings) -> str | None:
    """Why patients' phones cannot use a production server at ``UNKNOT_PUBLIC_URL``, or ``None``."""
    if settings.env != "production":
        return None
    import ipaddress
    from urllib.parse import urlsplit

    url = urlsplit(settings.public_url)
    host = url.hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback:
        return (
            f"invite links and QR codes point at {settings.public_url}, which no phone reaches; set "
            "UNKNOT_PUBLIC_URL to the https:// address patients open"
        )
    if url.scheme != "https":
        return (
            f"UNKNOT_PUBLIC_URL {settings.public_url} is not https: browsers keep the console's sign-in "
            "cookie (Secure in production) and let the patient app work offline and get reminders only over https"
        )
    return None


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the app with Granian (settings from the environment)."""
    from granian import Granian
    from granian.constants import Interfaces

    from server.demo import DEMO_EMAIL
    from server.push.keys import KEY_FILE

    settings = _settings()
    # Fail here with one clear line rather than inside a worker process.
    try:
        catalog = _load_catalog(Path(settings.plans_dir))
    except CatalogError as exc:
        print(f"unknot: invalid content in {settings.plans_dir}:\n{exc}", file=sys.stderr)
        return 1
    if not (Path(settings.pwa_dir) / "index.html").is_file():
        print(f"unknot: UNKNOT_PWA_DIR {settings.pwa_dir}: no index.html here (the patient app)", file=sys.stderr)
        return 1
    if problem := _cannot_listen(settings.host, settings.port):
        print(f"unknot: cannot listen on {settings.host}:{settings.port}: {problem}", file=sys.stderr)
        return 1
    if _no_database(settings):
        return 1
    subscribed, ahead, demo_open = asyncio.run(_database_facts(settings))
    if subscribed and not (Path(settings.data_dir) / KEY_FILE).exists():
        # A new key pair would be made, and no subscribed phone would get a reminder again until its
        # app is opened: a restore onto a new machine without the key, or a different working folder.
        print(
            f"unknot: no VAPID key in UNKNOT_DATA_DIR {settings.data_dir}, but {subscribed} phone(s) subscribed "
            f"with one: restore {KEY_FILE} there from your backup, or run `unknot vapid-keys` to make a new "
            "pair (each phone then gets reminders again once its app is opened)",
            file=sys.stderr,
        )
        return 1
    keys = _vapid_keys(settings)  # every process loads them at start
    if keys is None:
        return 1
    given = os.environ.get("UNKNOT_DATA_DIR", DEFAULT_DATA_DIR)
    if keys.created and not Path(given).is_absolute():
        # Started from another folder, a relative UNKNOT_DATA_DIR names another place: phones that
        # subscribe now get a pair the server started from the usual folder does not have, and back.
        print(
            f"unknot: warning: made a new VAPID key pair, {keys.path}: UNKNOT_DATA_DIR {given} is taken from the "
            f"folder unknot runs in ({Path.cwd()}). If the clinic's pair is in another folder, stop the server "
            "and start it from there, or set UNKNOT_DATA_DIR to that folder's whole path (phones subscribed with "
            "one pair get no reminders sent with the other)",
            file=sys.stderr,
        )
    else:
        print(f"VAPID key pair {'created' if keys.created else 'in use'}: {keys.path}")
    if _content_refused(settings, catalog, f"unknot: {settings.plans_dir}", upgrade=True):
        return 1
    if apart := clocks_apart(ahead):
        print(f"unknot: warning: {apart}", file=sys.stderr)
    if settings.env == "production" and not settings.clinic_phone:
        # Patients are told to contact the clinic on the sheet and in the app, above all by the
        # warning signs; without the number they are left to look for it.
        print(
            "unknot: warning: UNKNOT_CLINIC_PHONE is not set: the printed plan and the app's warning "
            "signs tell patients to contact the clinic but give no number to call",
            file=sys.stderr,
        )
    if unreachable := _unreachable_in_production(settings):
        print(f"unknot: warning: {unreachable}", file=sys.stderr)
    if demo_open:
        # `make run` loads the demo; a clinic's server set up with it keeps an account anyone can use.
        print(
            f"unknot: warning: anyone can sign in to the demo account {DEMO_EMAIL}: its password is published "
            f"in the README; give it another with `unknot set-password {DEMO_EMAIL}`",
            file=sys.stderr,
        )
    if exposed := _exposed_in_development(settings):
        # Development takes push subscriptions to local addresses, so a patient's device could make
        # the server post to services on this machine; cookies are not Secure and HSTS is off.
        print(
            f"unknot: warning: UNKNOT_ENV is development but {exposed}; set UNKNOT_ENV=production "
            "on a server other machines reach",
            file=sys.stderr,
        )
    sys.stdout.flush()  # before the workers start: a pipe's buffer would reach the log late, or twice
    Granian(
        "server.app:create_app",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=args.workers,
        log_level=settings.log_level,
        log_access=False,
    ).serve()
    return 0


def _positive(text: str) -> int:
    """An argument that must be a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The ``unknot`` command's arguments: one subcommand each (the README's command table lists them)."""
    parser = argparse.ArgumentParser(
        prog="unknot",
        description="Home programs after dry needling.",
        epilog="Settings come from UNKNOT_* environment variables, the same for every command (README.md, "
        "Configuration): the database is UNKNOT_DATABASE_URL, by default var/unknot.db in the folder the "
        "command runs in. `unknot COMMAND --help` describes each command.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the app (UNKNOT_HOST, UNKNOT_PORT)")
    serve.add_argument("--workers", type=_positive, default=1, help="worker processes (default 1)")
    serve.set_defaults(func=cmd_serve)
    sub.add_parser(
        "init",
        help="create or migrate the database",
        description="Create the database UNKNOT_DATABASE_URL names, or apply the migrations it lacks.",
    ).set_defaults(func=cmd_init)
    create = sub.add_parser("create-therapist", help="create a therapist account")
    create.add_argument("email", help="the email the therapist signs in with")
    create.add_argument("name", help='the name patients and colleagues see (quote it: "Ana López")')
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    create.set_defaults(func=cmd_create_therapist)
    reset = sub.add_parser(
        "set-password", help="give a therapist a new password, sign out their sessions and clear their failed sign-ins"
    )
    reset.add_argument("email")
    reset.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    reset.set_defaults(func=cmd_set_password)
    transfer = sub.add_parser("transfer-patients", help="give a therapist's patients to a colleague")
    transfer.add_argument("source", metavar="FROM_EMAIL", help="the therapist who holds them")
    transfer.add_argument("target", metavar="TO_EMAIL", help="the colleague who takes them over")
    transfer.add_argument(
        "--patient", type=_positive, action="append", metavar="ID", help="only this patient (repeat for more)"
    )
    transfer.set_defaults(func=cmd_transfer_patients)
    close = sub.add_parser("close-therapist", help="close the account of a therapist who left (no patients left)")
    close.add_argument("email")
    close.set_defaults(func=cmd_close_therapist)
    reopen = sub.add_parser("reopen-therapist", help="let a closed account sign in again")
    reopen.add_argument("email")
    reopen.set_defaults(func=cmd_reopen_therapist)
    sub.add_parser("demo", help="load demo data (idempotent)").set_defaults(func=cmd_demo)
    backup = sub.add_parser("backup", help="copy the SQLite database consistently while it runs")
    backup.add_argument("path", help="new file to write, or a folder to write unknot-<UTC date and time>.db in")
    backup.add_argument(
        "--keep",
        type=_positive,
        metavar="N",
        help="with a folder: afterwards, delete its oldest unknot-<UTC date and time>.db backups beyond the newest N",
    )
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser("restore", help="replace the database with a checked backup (server stopped)")
    restore.add_argument("path", help="backup file")
    restore.add_argument("--yes", action="store_true", help="confirm replacing the database")
    restore.set_defaults(func=cmd_restore)
    move = sub.add_parser(
        "migrate-db", help="copy a SQLite database into an empty PostgreSQL database (one transaction, checked)"
    )
    move.add_argument("--from", dest="source", required=True, help="the SQLite file (stop the server first)")
    move.add_argument("--to", dest="target", required=True, help="postgresql://user@host:port/database, empty")
    move.set_defaults(func=cmd_migrate_db)
    check = sub.add_parser("plans-check", help="validate plans/ and report coverage")
    check.add_argument("plans", nargs="?", help="content folder (default UNKNOT_PLANS_DIR)")
    check.add_argument(
        "--database",
        action="store_true",
        help="also check that the content has every exercise and muscle the plans in UNKNOT_DATABASE_URL use",
    )
    check.set_defaults(func=cmd_plans_check)
    vapid = sub.add_parser("vapid-keys", help="make the Web Push (VAPID) key pair if missing, print the public key")
    vapid.set_defaults(func=cmd_vapid_keys)
    return parser


def _disk_full_said(exc: BaseException) -> str | None:
    """What to tell the operator when ``exc`` comes of the disk that holds the database being full
    (SQLite says "disk I/O error" or "database or disk is full"), or ``None`` when it does not."""
    if isinstance(exc, asyncpg.DiskFullError):
        return "the PostgreSQL server's disk is full: free space on it, then run the command again"
    try:
        settings = Settings.from_env()  # the command has read them already
    except SettingsError:
        return None
    if settings.database_backend != "sqlite" or not no_space_left(exc, settings.sqlite_path.absolute().parent):
        return None
    # Each migration, and each command's change, is one transaction: the one that did not fit left nothing.
    return f"the disk that holds {_where(settings)} is full: free space on it, then run the command again"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``unknot`` command."""
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a pipe is block-buffered: a reader gone early shows here, not at exit
        return code
    except DatabaseUnavailable as exc:
        print(f"unknot: {exc}", file=sys.stderr)
        return 1
    except (sqlite3.Error, asyncpg.DiskFullError) as exc:
        if (said := _disk_full_said(exc)) is None:
            raise
        print(f"unknot: {said}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `unknot plans-check | head`: the reader has what it wanted
        # Python flushes stdout again on exit; point it at /dev/null so that flush cannot fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
