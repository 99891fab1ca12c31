"""The set-up commands: ``config``, ``sources``, ``secret``, ``signin``/``signout``,
``autostart`` and ``--import FILE``."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from agent import config as config_module
from agent import secrets as secret_store
from agent.commands.common import EXIT_OK, EXIT_USAGE, config_path, load_config, load_config_or_say
from agent.config import Config, ConfigError
from agent.i18n import _, ngettext


def import_command(args: argparse.Namespace) -> int:
    """`ticketbell --import FILE`: a provisioning file becomes this user's config."""
    from agent import autostart

    try:
        config = config_module.read_provisioning(args.import_file)
    except ConfigError as exc:
        print(f"ticketbell: {exc}", file=sys.stderr)
        return EXIT_USAGE
    target = config_path(args)
    if not _agreed_to_risky(args, config) or not _may_replace(args, target):
        return EXIT_USAGE
    backup = target.with_name(target.name + ".bak")
    before = _stamp(backup)
    try:
        config = config_module.save(config.raw, target)  # keeps a replaced file as .bak
    except (OSError, ConfigError) as exc:
        said = _("cannot write {path}: {error}").format(path=target, error=exc)
        print(f"ticketbell: {said}", file=sys.stderr)
        return EXIT_USAGE
    if _stamp(backup) != before:  # not when the file said the same already: no copy made
        print(_("the old config is kept as {path}").format(path=backup))
    n = len(config.sources)
    said = ngettext(
        "imported {count} source from {file} into {path}",
        "imported {count} sources from {file} into {path}",
        n,
    )
    print(said.format(count=n, file=args.import_file, path=target))
    if config.start_at_login:
        try:
            autostart.set_enabled(True)
            said = _("Ticketbell will start at login ({location})")
            print(said.format(location=autostart.entry_location()))
        except autostart.AutostartError as exc:
            print(f"ticketbell: {exc}", file=sys.stderr)
    _print_secrets_needed(config)
    return EXIT_OK


def _agreed_to_risky(args: argparse.Namespace, config: Config) -> bool:
    """TLS, proxy and channel settings of a provisioning file are taken only when agreed to."""
    risky = config_module.risky_settings(config)
    if not risky or args.accept_risky:
        return True
    said = _("{file} asks for settings to agree to:").format(file=args.import_file)
    print(said, file=sys.stderr)
    for line in risky:
        print(f"  - {line}", file=sys.stderr)
    if not sys.stdin.isatty():
        said = _("nothing imported; run again with --accept-risky")
        print(f"ticketbell: {said}", file=sys.stderr)
        return False
    if input(_("Import it with these settings? [y/N] ")).strip().lower() not in ("y", "yes"):
        print(_("nothing imported"))
        return False
    return True


def _may_replace(args: argparse.Namespace, target: Path) -> bool:
    """An existing config is replaced only with --force or when the person says so."""
    if not target.exists() or args.force:
        return True
    if not sys.stdin.isatty():
        said = _("{path} already exists; run again with --force to replace it")
        print(f"ticketbell: {said.format(path=target)}", file=sys.stderr)
        return False
    answer = input(
        _("{path} already exists. Replace it (a copy is kept)? [y/N] ").format(path=target)
    )
    if answer.strip().lower() not in ("y", "yes"):
        print(_("nothing changed"))
        return False
    return True


def _print_secrets_needed(config: Config) -> None:
    needed = config_module.secrets_needed(config)
    if needed:
        from agent.signin import uses_oauth

        oauth = {s.name for s in config.sources if uses_oauth(s)}
        print(_("Now add the tokens or sign in; they are never in a provisioning file:"))
        for name, what in needed:
            if name in oauth:
                said = _("or Sign in… in Settings")
                print(f"  ticketbell signin {_shell_quote(name)}    # {said}")
            else:
                print(f"  ticketbell secret set {_shell_quote(name)}    # {what}")


def _shell_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def autostart_command(args: argparse.Namespace) -> int:
    from agent import autostart

    if args.state:
        # started at login with the config and data folder given here, not the default ones
        chosen = [("--config", args.config), ("--data-dir", args.data_dir)]
        paths = [arg for flag, path in chosen if path for arg in (flag, str(path.resolve()))]
        try:
            autostart.set_enabled(args.state == "on", command=autostart.launch_command() + paths)
        except autostart.AutostartError as exc:
            print(f"ticketbell: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if autostart.enabled():
        said = _("start at login: on ({location})")
    else:
        said = _("start at login: off ({location})")
    print(said.format(location=autostart.entry_location()))
    return EXIT_OK


def config_command(args: argparse.Namespace) -> int:
    path = config_path(args)
    if args.action == "path":
        print(path)
        return EXIT_OK
    config = load_config_or_say(args)
    if config is None:
        return EXIT_USAGE
    if args.action == "export":
        sys.stdout.write(config_module.export_provisioning(config))
        return EXIT_OK
    if args.action == "validate":
        n = len(config.sources)
        valid = ngettext(
            "{where}: valid ({count} source, role {role})",
            "{where}: valid ({count} sources, role {role})",
            n,
        )
        where = _("the demo configuration") if args.demo else str(path)
        print(valid.format(where=where, count=n, role=config.role))
        from agent.model import utcnow
        from agent.signin import auth_warnings

        for warning in auth_warnings(config, utcnow()):
            print(_("warning: {warning}").format(warning=warning))
        return EXIT_OK
    print(show_config(config))
    return EXIT_OK


def show_config(config: Config) -> str:
    """The config as TOML, annotated with where each secret is (never the secret): each
    source's, the team broker's and the escalation channels' kept as ``keyring:NAME``."""
    from agent.escalation import keyring_names
    from agent.sources import source_class

    data = dict(config.raw)
    text = config_module.to_toml(data) if data else ""
    where = [
        (src.name, src.secret_env) for src in config.sources if source_class(src.kind).needs_secret
    ]
    if config.team is not None:
        where.append(("team", config.team.secret_env))
    where += [(name, "") for name in sorted(keyring_names(config.raw.get("escalation", {})))]
    notes = [f"# secret for {name!r}: {secret_store.describe(name, env)}" for name, env in where]
    return secret_store.redact("\n".join([*notes, "", text]).strip() + "\n")


def sources_command(args: argparse.Namespace) -> int:
    from agent.sources import KINDS, source_class

    width = max(len(k) for k in KINDS)
    for kind in KINDS:
        cls = source_class(kind)
        print(f"{kind.ljust(width)}  {_(cls.description)}")
    return EXIT_OK


def _stamp(path: Path) -> tuple[int, int] | None:
    """When and how large ``path`` was last written (None: there is none), to tell whether a
    save replaced it."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _unknown_secret_name(args: argparse.Namespace) -> str:
    """A note when the config names no source, channel or team by ``args.name`` (a typo
    stores a token nothing reads), with the names it has, or when the source of that name reads
    its token from ``secret_env``; "" when the token will be read or the config cannot be."""
    from agent.escalation import keyring_names

    try:
        config = load_config(args)
    except ConfigError:
        return ""
    names = [s.name for s in config.sources]
    reads_env = [
        s for s in config.sources if s.secret_env and s.name.casefold() == args.name.casefold()
    ]
    if reads_env:  # stored, but that source reads its variable: the token would never be used
        said = _(
            "note: {name} reads its token from the environment variable {env} (secret_env "
            "in {path}), not from the keyring; take secret_env out to use the one stored"
        )
        return said.format(
            name=repr(reads_env[0].name), env=reads_env[0].secret_env, path=config.path
        )
    known = {*names, *keyring_names(config.raw.get("escalation", {}))}
    if config.team is not None:
        known.add("team")
    if args.name.casefold() in {name.casefold() for name in known}:
        return ""
    said = _("note: {path} has no source named {name}; its sources: {names}")
    listed = ", ".join(repr(n) for n in names) or "-"
    return said.format(path=config.path, name=repr(args.name), names=listed)


def secret_command(args: argparse.Namespace) -> int:
    if not args.name.strip():
        said = _("a secret is kept under its source's name: `ticketbell secret set 'Support'`")
        print(f"ticketbell: {said}", file=sys.stderr)
        return EXIT_USAGE
    if args.action == "delete":
        secret_store.delete(args.name)
        print(_("deleted the secret of {name} (if there was one)").format(name=repr(args.name)))
        return EXIT_OK
    if sys.stdin.isatty():
        value = getpass.getpass(_("Token for {name} (not shown): ").format(name=repr(args.name)))
    else:
        value = sys.stdin.readline().rstrip("\n")
    if not value:
        print(f"ticketbell: {_('no secret given; nothing stored')}", file=sys.stderr)
        return EXIT_USAGE
    try:
        where = secret_store.set(args.name, value, to_file=args.to_file)
    except secret_store.NoKeyring as exc:
        said = _("To keep it in that file: `ticketbell secret set {name} --to-file`")
        print(f"ticketbell: {exc}\n{said.format(name=repr(args.name))}", file=sys.stderr)
        return EXIT_USAGE
    except secret_store.SecretUnavailable as exc:
        print(f"ticketbell: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if where == "in the keyring":
        said = _("stored the secret of {name} in the keyring")
    else:
        said = _("stored the secret of {name} in {file} (readable by you only)")
    print(said.format(name=repr(args.name), file=secret_store.token_file()))
    note = _unknown_secret_name(args)
    if note:
        print(f"ticketbell: {note}", file=sys.stderr)
    return EXIT_OK


def signin_command(args: argparse.Namespace) -> int:
    """`ticketbell signin NAME` / `ticketbell signout NAME` (see ``agent.signin``)."""
    from agent import signin
    from agent.sources.base import SourceError

    try:
        config = load_config(args)
        source = config.source(args.name)
    except ConfigError as exc:
        print(f"ticketbell: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyError:
        names = ", ".join(repr(s.name) for s in config.sources) or _("none")
        said = _("no source named {name} (there are: {names})")
        print(f"ticketbell: {said.format(name=repr(args.name), names=names)}", file=sys.stderr)
        return EXIT_USAGE
    if not signin.uses_oauth(source):
        said = _('{name} does not sign in (set auth = "oauth")').format(name=repr(args.name))
        print(f"ticketbell: {said}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "signout":
            print(signin.sign_out(source))
            return EXIT_OK
        method = "device" if args.device else "browser" if args.browser else "auto"
        print(signin.sign_in(source, lambda text: print(text, flush=True), method))
    except (signin.SignInFailed, SourceError) as exc:
        said = _("signing in {name} did not work: {error}").format(name=repr(args.name), error=exc)
        print(f"ticketbell: {said}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK
