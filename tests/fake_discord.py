"""A local fake Discord: the REST routes and the gateway the bot uses, on 127.0.0.1.

The real discord.py client connects to it unchanged apart from two base URLs
(:meth:`FakeDiscord.patch_client` swaps ``discord.http.Route.BASE`` and
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` and puts them back). Every HTTP
request the bot makes is recorded (method, path, query, JSON body), so a test asserts
on the exact payloads Discord would have received: embeds, components, allowed
mentions, ephemeral flags.

Writing a scenario takes a few lines::

    admin = fake.member("alice", manage_guild=True)            # or fake.member("bob")
    ask = await fake.slash("ask", user=admin, question="What did No Music for ICE demand?")
    reply = await fake.followup(ask)                           # the bot's follow-up message
    assert reply.json["allowed_mentions"] == {"parse": []}
    full = await fake.click(reply, label="[1] in full", user=admin)
    shown = await fake.callback(full)                          # the button's ephemeral reply

    listing = await fake.callback(await fake.slash("sources", user=admin))
    await fake.click(fake.message_of(listing), label="Next", user=admin)
    added = await fake.followup(await fake.slash("feeds", subcommand="add", user=admin, url=feed_url))

    msg = await fake.say(f"{fake.bot_mention} who supports Palantir?", user=admin)
    answer = await fake.reply_to(msg)                          # POST /channels/.../messages

    vote = await fake.click(reply, emoji="👎", user=admin)     # a button with an emoji, no label
    pick = await fake.select(fake.message_of(await fake.callback(vote)), ["2"], user=admin)

    click = await fake.click(reply, label="Follow up", user=admin)
    submitted = await fake.submit(click, ["And how many signed it?"], user=admin)  # the modal it opened
    thread = await fake.thread_of(reply)                       # the thread started from the reply
    in_thread = await fake.message_in(thread)                  # the bot's first message there
    msg = await fake.say("and why?", user=admin, channel=thread)

Other helpers: :meth:`autocomplete`, :meth:`attachment` (a file the bot can download
from the fake CDN, for /add), :meth:`serve` (a page at a URL, for /add url:),
:meth:`wait_for_request` (any request matching a predicate), and :attr:`requests`
(everything recorded). :meth:`BotHarness.restart` replaces the bot by a new client
against the same fake (a process restart, as Discord sees it). Gateway events are sent
with :meth:`dispatch`. Every wait is bounded by a timeout, so a broken scenario fails
fast instead of hanging.

What is faked is only what citebot needs: one guild with one text channel, one bot
user, login, command sync, interactions (slash, autocomplete, buttons, selects, modals),
follow-ups, channel messages (the bot's own posts too, such as feed announcements), and
public threads started from a message (announced on the
gateway with THREAD_CREATE, as Discord does). The bot's permissions are
:attr:`FakeDiscord.bot_permissions`: without Create Public Threads, starting a thread
answers 403 like Discord. Unknown routes answer 404 and are recorded too (see ``unhandled``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import discord
import yarl
from aiohttp import WSMsgType, web

API = "/api/v10"
JSON = "application/json"  # exactly: with "; charset=..." discord.py reads text, not JSON
MANAGE_GUILD = 1 << 5
MESSAGE_CONTENT = 1 << 15  # the privileged intent
MEMBER_PERMISSIONS = int(
    discord.Permissions(
        view_channel=True,
        send_messages=True,
        read_message_history=True,
        use_application_commands=True,
        embed_links=True,
        attach_files=True,
    ).value
)
ADMIN_PERMISSIONS = MEMBER_PERMISSIONS | MANAGE_GUILD
CREATE_THREADS = int(discord.Permissions(create_public_threads=True).value)
SEND_IN_THREADS = int(discord.Permissions(send_messages_in_threads=True).value)
THREAD_PERMISSIONS = CREATE_THREADS | SEND_IN_THREADS
MISSING_PERMISSIONS = {"message": "Missing Permissions", "code": 50013}
DEFAULT_TIMEOUT = 60.0  # generous: the machine running the tests may be busy

_snowflakes = itertools.count(1_100_000_000_000_000_000)


def snowflake() -> str:
    return str(next(_snowflakes))


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Recorded:
    """One HTTP request the bot made."""

    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    json: Any
    response: Any = None

    def __repr__(self) -> str:
        return f"<{self.method} {self.path} {json.dumps(self.json, ensure_ascii=False)[:200]}>"


@dataclass
class FakeUser:
    """A member of the fake guild; ``permissions`` is what interactions report for them."""

    id: str
    name: str
    permissions: int = MEMBER_PERMISSIONS
    bot: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.name,
            "global_name": self.name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }

    def member_payload(self) -> dict[str, Any]:
        return {
            "user": self.payload(),
            "roles": [],
            "joined_at": _now(),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "permissions": str(self.permissions),
            "nick": None,
            "avatar": None,
        }


@dataclass(frozen=True)
class Channel:
    """A text channel of the fake guild, given as a slash command's channel option."""

    id: str
    name: str

    def resolved(self, guild_id: str) -> dict[str, Any]:
        """The channel as an interaction's ``resolved.channels`` holds it."""
        return {
            "id": self.id,
            "type": 0,
            "name": self.name,
            "guild_id": guild_id,
            "parent_id": None,
            "permissions": str(MEMBER_PERMISSIONS),
        }


@dataclass
class Interaction:
    """An interaction the fake sent; its id and token find the bot's answers."""

    id: str
    token: str
    payload: dict[str, Any]


@dataclass
class Message:
    """A message in the fake channel (sent by a user or by the bot)."""

    id: str
    payload: dict[str, Any]
    json: Any = None  # what the bot sent, when the bot sent it

    @property
    def components(self) -> list[dict[str, Any]]:
        return [c for row in self.payload.get("components", []) for c in row.get("components", [])]


@dataclass
class FakeDiscord:
    """The fake Discord server; ``await start()`` it, then :meth:`patch_client`."""

    guild_id: str = field(default_factory=snowflake)
    channel_id: str = field(default_factory=snowflake)
    app_id: str = field(default_factory=snowflake)
    bot_user: FakeUser = field(default_factory=lambda: FakeUser(snowflake(), "citebot", bot=True))
    #: the token the bot must present; anything else gets 401 (LoginFailure)
    token: str = "fake-token.not-a-secret"
    guild_locale: str = "en-US"
    #: False: like a portal where the Message Content intent is off (close code 4014)
    allow_message_content: bool = True
    #: what the bot may do in the channel (interactions report it as ``app_permissions``)
    bot_permissions: int = ADMIN_PERMISSIONS | THREAD_PERMISSIONS
    requests: list[Recorded] = field(default_factory=list)
    unhandled: list[Recorded] = field(default_factory=list)
    messages: dict[str, Message] = field(default_factory=dict)
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    #: public threads by id (a thread started from a message has that message's id)
    threads: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: a second text channel of the guild, "news"
    news_channel_id: str = field(default_factory=snowflake)
    #: a text channel of another server the bot is in (not in this guild's payload)
    other_channel_id: str = field(default_factory=snowflake)
    #: threads deleted since they were started (404 Unknown Channel, see :meth:`delete_thread`)
    deleted_threads: set[str] = field(default_factory=set)
    #: channels where the bot may not post (403 Missing Permissions)
    closed_channels: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._ws: web.WebSocketResponse | None = None
        self._seq = 0
        self._changed = asyncio.Condition()
        self._identified = asyncio.Event()
        self.port = 0
        self.commands: dict[str, dict[str, Any]] = {}
        self.identify: dict[str, Any] = {}
        self._channel_of_token: dict[str, str] = {}

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/cdn/{name}", self._cdn)
        app.router.add_get("/files/{name}", self._file)
        app.router.add_route("*", API + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @contextmanager
    def patch_client(self) -> Iterator[None]:
        """Point discord.py at this server for the duration of the block."""
        old_base, old_gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.base_url + API
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"ws://127.0.0.1:{self.port}/gateway")
        try:
            yield
        finally:
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway

    async def wait_identified(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        await asyncio.wait_for(self._identified.wait(), timeout)

    # -- people and things -------------------------------------------------------------
    def member(self, name: str, *, manage_guild: bool = False) -> FakeUser:
        return FakeUser(snowflake(), name, ADMIN_PERMISSIONS if manage_guild else MEMBER_PERMISSIONS)

    @property
    def bot_mention(self) -> str:
        return f"<@{self.bot_user.id}>"

    def attachment(self, filename: str, data: bytes, content_type: str = "text/plain") -> dict[str, Any]:
        """An attachment the bot can download (from the fake CDN), for an option of type 11."""
        key = f"{snowflake()}-{filename}"
        self.files[key] = (data, content_type)
        url = f"{self.base_url}/cdn/{key}"
        return {
            "id": snowflake(),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
        }

    def serve(self, name: str, data: bytes, content_type: str = "text/html") -> str:
        """Serve ``data`` at a URL on the fake (for /add url:); returns the URL."""
        self.files[name] = (data, content_type)
        return f"{self.base_url}/files/{name}"

    # -- sending things to the bot -----------------------------------------------------
    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a gateway DISPATCH event to the connected bot."""
        assert self._ws is not None, "the bot is not connected"
        self._seq += 1
        await self._ws.send_str(json.dumps({"op": 0, "t": event, "s": self._seq, "d": data}))

    def _interaction(
        self,
        kind: int,
        data: dict[str, Any],
        user: FakeUser,
        locale: str,
        dm: bool,
        message: dict[str, Any] | None = None,
        channel: str | None = None,
        guild_id: str | None = None,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": snowflake(),
            "application_id": self.app_id,
            "type": kind,
            "token": "itok-" + snowflake(),
            "version": 1,
            "data": data,
            "locale": locale,
            "app_permissions": str(self.bot_permissions),
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if dm:
            payload.update(
                user=user.payload(),
                context=1,
                authorizing_integration_owners={"1": user.id},
                channel={"id": snowflake(), "type": 1, "recipients": [user.payload()]},
            )
            payload["channel_id"] = payload["channel"]["id"]
        else:
            channel = channel or self.channel_id
            guild = guild_id or self.guild_id  # another server the bot is in, when given
            payload.update(
                guild_id=guild,
                channel_id=channel,
                member=user.member_payload(),
                guild_locale=self.guild_locale,
                context=0,
                authorizing_integration_owners={"0": guild},
                channel=self.threads.get(channel)
                or {
                    "id": self.channel_id,
                    "type": 0,
                    "guild_id": guild,
                    "name": "general",
                    "position": 0,
                    "permission_overwrites": [],
                    "nsfw": False,
                    "parent_id": None,
                },
            )
        if message is not None:
            payload["message"] = message
        self._channel_of_token[payload["token"]] = payload["channel_id"]
        return payload

    def _options(self, options: dict[str, Any], resolved: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for given, value in options.items():
            name = given.rstrip("_")  # channel_=: an option called like a keyword of slash()
            if value is None:
                continue
            if isinstance(value, dict) and "filename" in value:  # an attachment
                resolved.setdefault("attachments", {})[value["id"]] = value
                out.append({"name": name, "type": 11, "value": value["id"]})
            elif isinstance(value, Channel):
                resolved.setdefault("channels", {})[value.id] = value.resolved(self.guild_id)
                out.append({"name": name, "type": 7, "value": value.id})
            elif isinstance(value, bool):
                out.append({"name": name, "type": 5, "value": value})
            elif isinstance(value, int):
                out.append({"name": name, "type": 4, "value": value})
            else:
                out.append({"name": name, "type": 3, "value": str(value)})
        return out

    async def slash(
        self,
        name: str,
        /,
        *,
        user: FakeUser,
        locale: str = "en-US",
        dm: bool = False,
        channel: str | None = None,
        guild_id: str | None = None,
        subcommand: str | None = None,
        **options: Any,
    ) -> Interaction:
        """Run ``/name option=value ...`` as ``user`` (in ``channel``, a thread's id, or the
        text channel), or ``/name subcommand option=value ...`` for a command group;
        returns the interaction to wait on. An option named like a keyword here takes a
        trailing underscore (``channel_=``)."""
        resolved: dict[str, Any] = {}
        given = self._options(options, resolved)
        if subcommand is not None:
            given = [{"name": subcommand, "type": 1, "options": given}]
        data: dict[str, Any] = {
            "id": self.commands.get(name, {}).get("id", snowflake()),
            "name": name,
            "type": 1,
            "options": given,
        }
        if resolved:
            data["resolved"] = resolved
        payload = self._interaction(2, data, user, locale, dm, channel=channel, guild_id=guild_id)
        await self.dispatch("INTERACTION_CREATE", payload)
        return Interaction(payload["id"], payload["token"], payload)

    async def autocomplete(
        self, command: str, option: str, value: str, *, user: FakeUser, locale: str = "en-US"
    ) -> Interaction:
        data = {
            "id": self.commands.get(command, {}).get("id", snowflake()),
            "name": command,
            "type": 1,
            "options": [{"name": option, "type": 3, "value": value, "focused": True}],
        }
        payload = self._interaction(4, data, user, locale, False)
        await self.dispatch("INTERACTION_CREATE", payload)
        return Interaction(payload["id"], payload["token"], payload)

    async def click(
        self,
        message: Message,
        *,
        user: FakeUser,
        label: str | None = None,
        custom_id: str | None = None,
        emoji: str | None = None,
        locale: str = "en-US",
    ) -> Interaction:
        """Press a button of ``message`` (by label, custom id or emoji) as ``user``."""
        for component in message.components:
            if component.get("type") == 2 and (
                (label is not None and component.get("label") == label)
                or (custom_id is not None and component.get("custom_id") == custom_id)
                or (emoji is not None and (component.get("emoji") or {}).get("name") == emoji)
            ):
                break
        else:
            raise AssertionError(f"no button {label or custom_id or emoji!r} in {message.components}")
        data = {"custom_id": component["custom_id"], "component_type": 2}
        return await self._component(data, message, user, locale)

    async def select(
        self, message: Message, values: list[str], *, user: FakeUser, locale: str = "en-US"
    ) -> Interaction:
        """Pick ``values`` in the (first) select menu of ``message`` as ``user``."""
        menu = next((c for c in message.components if c.get("type") == 3), None)
        if menu is None:
            raise AssertionError(f"no select menu in {message.components}")
        known = {option["value"] for option in menu.get("options", [])}
        assert set(values) <= known, f"{values} not among the options {sorted(known)}"
        data = {"custom_id": menu["custom_id"], "component_type": 3, "values": values}
        return await self._component(data, message, user, locale)

    async def _component(
        self, data: dict[str, Any], message: Message, user: FakeUser, locale: str
    ) -> Interaction:
        channel = str(message.payload.get("channel_id") or self.channel_id)
        payload = self._interaction(3, data, user, locale, False, message=message.payload, channel=channel)
        await self.dispatch("INTERACTION_CREATE", payload)
        return Interaction(payload["id"], payload["token"], payload)

    async def submit(
        self,
        opened_by: Interaction,
        values: dict[str, str] | list[str],
        *,
        user: FakeUser,
        locale: str = "en-US",
        **kw: Any,
    ) -> Interaction:
        """Fill in and submit the modal the bot opened in answer to ``opened_by`` (a click):
        ``values`` by text input custom id, or in the order of the inputs."""
        opened = await self.callback(opened_by, **kw)
        assert opened.json["type"] == 9, f"the bot answered with {opened.json}, not a modal"
        modal = opened.json["data"]
        inputs = [c for row in modal["components"] for c in _children(row) if c.get("type") == 4]
        if isinstance(values, list):
            values = dict(zip([c["custom_id"] for c in inputs], values, strict=True))
        rows = [
            {
                "type": 1,
                "components": [
                    {"type": 4, "custom_id": c["custom_id"], "value": values.get(c["custom_id"], "")}
                ],
            }
            for c in inputs
        ]
        data = {"custom_id": modal["custom_id"], "components": rows}
        message = opened_by.payload.get("message")
        channel = opened_by.payload.get("channel_id")
        payload = self._interaction(5, data, user, locale, False, message=message, channel=channel)
        await self.dispatch("INTERACTION_CREATE", payload)
        return Interaction(payload["id"], payload["token"], payload)

    async def message_command(
        self, name: str, target: Message, /, *, user: FakeUser, locale: str = "en-US"
    ) -> Interaction:
        """Run the message context menu command ``name`` (Apps, in a message's menu) on
        ``target`` as ``user``: Discord sends the message, text included, with the
        interaction, whatever the bot's intents."""
        data = {
            "id": self.commands.get(name, {}).get("id", snowflake()),
            "name": name,
            "type": 3,
            "target_id": target.id,
            "resolved": {"messages": {target.id: target.payload}},
        }
        channel = target.payload.get("channel_id")
        payload = self._interaction(
            2, data, user, locale, False, channel=None if channel == self.channel_id else channel
        )
        await self.dispatch("INTERACTION_CREATE", payload)
        return Interaction(payload["id"], payload["token"], payload)

    async def say(self, content: str, *, user: FakeUser, channel: str | None = None) -> Message:
        """A member posts ``content`` in the channel, or in ``channel`` (a thread's id);
        mentions of the bot are parsed."""
        mentions = [self.bot_user.payload()] if self.bot_mention in content else []
        payload = self._message(content, user, mentions=mentions, channel_id=channel or self.channel_id)
        payload["member"] = {k: v for k, v in user.member_payload().items() if k != "user"}
        self.messages[payload["id"]] = Message(payload["id"], payload)
        await self.dispatch("MESSAGE_CREATE", payload)
        return self.messages[payload["id"]]

    # -- waiting for what the bot sends ------------------------------------------------
    async def wait_for_request(
        self, predicate: Callable[[Recorded], bool], *, timeout: float = DEFAULT_TIMEOUT, start: int = 0
    ) -> Recorded:
        """The first recorded request (from index ``start``) matching ``predicate``."""

        def find() -> Recorded | None:
            return next((r for r in self.requests[start:] if predicate(r)), None)

        async def wait() -> Recorded:
            async with self._changed:
                while (found := find()) is None:
                    await self._changed.wait()
                return found

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"no matching request within {timeout} s; recorded: {self.requests[start:][-10:]}"
            ) from None

    async def callback(self, interaction: Interaction, **kw: Any) -> Recorded:
        """The bot's response to ``interaction`` (POST .../callback)."""
        return await self.wait_for_request(
            lambda r: r.path == f"/interactions/{interaction.id}/{interaction.token}/callback", **kw
        )

    async def followup(self, interaction: Interaction, **kw: Any) -> Message:
        """The bot's first follow-up message for ``interaction`` (POST /webhooks/app/token)."""
        recorded = await self.wait_for_request(
            lambda r: r.method == "POST" and r.path == f"/webhooks/{self.app_id}/{interaction.token}", **kw
        )
        return self.messages[recorded.response["id"]]

    async def reply_to(self, message: Message, **kw: Any) -> Message:
        """The bot's reply to a channel message."""
        channel = message.payload.get("channel_id") or self.channel_id
        recorded = await self.wait_for_request(
            lambda r: (
                r.method == "POST"
                and r.path == f"/channels/{channel}/messages"
                and (r.json or {}).get("message_reference", {}).get("message_id")
                in (message.id, int(message.id))
            ),
            **kw,
        )
        return self.messages[recorded.response["id"]]

    def delete_thread(self, thread_id: str) -> None:
        """A member deletes a thread: posting in it gets 404 Unknown Channel, and its message
        may start another (with the same id, like Discord)."""
        self.threads.pop(thread_id)
        self.deleted_threads.add(thread_id)

    async def thread_of(self, message: Message, **kw: Any) -> str:
        """The id of the thread the bot started from ``message``."""
        await self.wait_for_request(
            lambda r: (
                r.method == "POST"
                and r.path.endswith(f"/messages/{message.id}/threads")
                and r.response is not None
            ),
            **kw,
        )
        return message.id

    async def message_in(self, channel: str, *, start: int = 0, **kw: Any) -> Message:
        """The bot's first message posted in ``channel`` (a thread's id) from request ``start`` on."""
        recorded = await self.wait_for_request(
            lambda r: (
                r.method == "POST"
                and r.path == f"/channels/{channel}/messages"
                and "id" in (r.response or {})
            ),
            start=start,
            **kw,
        )
        return self.messages[recorded.response["id"]]

    def message_of(self, recorded: Recorded) -> Message:
        """The message a callback (type 4 or 7) or a follow-up created, to click its buttons."""
        response = recorded.response or {}
        return self.messages[
            response["resource"]["message"]["id"] if "resource" in response else response["id"]
        ]

    def sent_payloads(self) -> list[Any]:
        """Every JSON body the bot sent (to check a property of all of them)."""
        return [r.json for r in self.requests if r.json is not None]

    # -- the gateway -------------------------------------------------------------------
    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            message = json.loads(frame.data)
            op = message.get("op")
            if op == 1:  # heartbeat
                await ws.send_str(json.dumps({"op": 11}))
            elif op in (2, 6):  # identify, resume: start a fresh session either way
                if op == 2:
                    self.identify = {k: v for k, v in message["d"].items() if k != "token"}
                    if message["d"].get("token") not in (self.token, f"Bot {self.token}"):
                        await ws.close(code=4004, message=b"Authentication failed.")
                        break
                    if not self.allow_message_content and message["d"].get("intents", 0) & MESSAGE_CONTENT:
                        await ws.close(code=4014, message=b"Disallowed intent(s).")
                        break
                await self._ready()
        return ws

    async def _ready(self) -> None:
        await self.dispatch(
            "READY",
            {
                "v": 10,
                "user": self.bot_user.payload() | {"verified": True, "mfa_enabled": False, "flags": 0},
                "guilds": [{"id": self.guild_id, "unavailable": True}],
                "session_id": "session-" + snowflake(),
                "resume_gateway_url": f"ws://127.0.0.1:{self.port}/gateway",
                "shard": [0, 1],
                "application": {"id": self.app_id, "flags": 0},
                "private_channels": [],
                "relationships": [],
            },
        )
        await self.dispatch("GUILD_CREATE", self._guild())
        self._identified.set()

    def _guild(self) -> dict[str, Any]:
        everyone = {
            "id": self.guild_id,
            "name": "@everyone",
            "permissions": str(MEMBER_PERMISSIONS),
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        me = self.bot_user.member_payload()
        return {
            "id": self.guild_id,
            "name": "Fake Guild",
            "icon": None,
            "owner_id": snowflake(),
            "roles": [everyone],
            "channels": [
                {
                    "id": channel_id,
                    "type": 0,
                    "name": name,
                    "position": position,
                    "permission_overwrites": [],
                    "nsfw": False,
                    "parent_id": None,
                    "topic": None,
                }
                for position, (channel_id, name) in enumerate(
                    ((self.channel_id, "general"), (self.news_channel_id, "news"))
                )
            ],
            "members": [me],
            "member_count": 3,
            "large": False,
            "unavailable": False,
            "features": [],
            "preferred_locale": self.guild_locale,
            "emojis": [],
            "stickers": [],
            "voice_states": [],
            "presences": [],
            "threads": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "premium_tier": 0,
            "system_channel_flags": 0,
            "mfa_level": 0,
            "verification_level": 0,
            "explicit_content_filter": 0,
            "default_message_notifications": 0,
            "nsfw_level": 0,
            "afk_timeout": 300,
            "joined_at": _now(),
            "description": None,
        }

    # -- REST --------------------------------------------------------------------------
    def _message(self, content: str, author: FakeUser, **extra: Any) -> dict[str, Any]:
        return {
            "id": snowflake(),
            "channel_id": self.channel_id,
            "guild_id": self.guild_id,
            "author": author.payload(),
            "content": content,
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
            "components": [],
        } | extra

    def _bot_message(self, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
        payload = self._message(body.get("content") or "", self.bot_user, **extra)
        payload["embeds"] = body.get("embeds") or []
        payload["components"] = body.get("components") or []
        payload["flags"] = body.get("flags") or 0
        if body.get("message_reference"):
            payload["message_reference"] = body["message_reference"]
            payload["type"] = 19
        self.messages[payload["id"]] = Message(payload["id"], payload, body)
        return payload

    async def _cdn(self, request: web.Request) -> web.Response:
        data, content_type = self.files[request.match_info["name"]]
        return web.Response(body=data, content_type=content_type)

    async def _file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.files:
            return web.Response(status=404)
        data, content_type = self.files[name]
        return web.Response(body=data, headers={"Content-Type": content_type})

    async def _body(self, request: web.Request) -> Any:
        if not request.can_read_body:
            return None
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            return json.loads(str(form["payload_json"])) if "payload_json" in form else dict(form)
        raw = await request.read()
        return json.loads(raw) if raw else None

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        recorded = Recorded(request.method, path, dict(request.query), await self._body(request))
        status, response = self._route(request, recorded)
        recorded.response = response
        # Interaction callbacks and webhooks authenticate by their token in the path.
        needs_auth = not path.startswith(("/interactions/", "/webhooks/"))
        if needs_auth and request.headers.get("Authorization") != f"Bot {self.token}" and status < 400:
            status, response = 401, {"message": "401: Unauthorized", "code": 0}
        self.requests.append(recorded)
        if status == 404 and response.get("code") == 0:  # a route this fake does not know
            self.unhandled.append(recorded)
        async with self._changed:
            self._changed.notify_all()
        if status == 204:
            return web.Response(status=204)
        return web.Response(status=status, body=json.dumps(response), headers={"Content-Type": JSON})

    def _route(self, request: web.Request, r: Recorded) -> tuple[int, Any]:
        m, p, body = r.method, r.path, r.json or {}
        if m == "GET" and p == "/users/@me":
            return 200, self.bot_user.payload() | {"verified": True, "mfa_enabled": False, "flags": 0}
        if m == "GET" and p == "/oauth2/applications/@me":
            return 200, {
                "id": self.app_id,
                "name": "citebot",
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": {"id": snowflake(), "username": "owner", "discriminator": "0", "avatar": None},
                "verify_key": "0" * 64,
                "flags": 0,
                "rpc_origins": [],
                "team": None,
            }
        if m == "GET" and p in ("/gateway", "/gateway/bot"):
            return 200, {
                "url": f"ws://127.0.0.1:{self.port}/gateway",
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        if m == "PUT" and re.fullmatch(rf"/applications/{self.app_id}(/guilds/\d+)?/commands", p):
            synced = []
            for command in r.json or []:
                # Discord answers with every field: a context menu's description is empty.
                command = (
                    {"description": "", "type": 1}
                    | command
                    | {"id": snowflake(), "application_id": self.app_id, "version": snowflake()}
                )
                self.commands[command["name"]] = command
                synced.append(command)
            return 200, synced
        if match := re.fullmatch(r"/interactions/(\d+)/([^/]+)/callback", p):
            kind = body.get("type")
            resource: dict[str, Any] = {"type": kind}
            message_id = None
            if kind in (4, 7):  # a message, or an updated message
                message = self._bot_message(body.get("data") or {})
                resource["message"] = message
                message_id = message["id"]
            return 200, {
                "interaction": {
                    "id": match.group(1),
                    "type": 2,
                    "response_message_id": message_id,
                    "response_message_loading": kind == 5,
                    "response_message_ephemeral": bool(((body.get("data") or {}).get("flags") or 0) & 64),
                },
                "resource": resource,
            }
        if match := re.fullmatch(rf"/webhooks/{self.app_id}/([^/]+)", p):
            channel = self._channel_of_token.get(match.group(1), self.channel_id)
            if m == "POST":
                return 200, self._bot_message(body, webhook_id=self.app_id, channel_id=channel)
        if match := re.fullmatch(rf"/webhooks/{self.app_id}/([^/]+)/messages/[^/]+", p):
            if m == "DELETE":
                return 204, None
            channel = self._channel_of_token.get(match.group(1), self.channel_id)
            return 200, self._bot_message(body, webhook_id=self.app_id, channel_id=channel)
        if m == "POST" and (match := re.fullmatch(rf"/channels/{self.channel_id}/messages/(\d+)/threads", p)):
            return self._start_thread(match.group(1), body)
        channels = (self.channel_id, self.news_channel_id, self.other_channel_id, *self.threads)
        if (match := re.fullmatch(r"/channels/(\d+)/(messages|typing)", p)) and match[
            1
        ] in self.deleted_threads:
            return 404, {"message": "Unknown Channel", "code": 10003}
        if match := re.fullmatch(r"/channels/(\d+)/(messages|typing)", p):
            channel = match.group(1)
            if m == "POST" and channel in self.closed_channels:
                return 403, MISSING_PERMISSIONS
            if m == "POST" and channel in channels:
                if channel in self.threads and not self.bot_permissions & (
                    1 << 38
                ):  # Send Messages in Threads
                    return 403, MISSING_PERMISSIONS
                if match.group(2) == "typing":
                    return 204, None
                return 200, self._bot_message(body, channel_id=channel)
        return 404, {"message": "404: Not Found (fake Discord)", "code": 0}

    def _start_thread(self, message_id: str, body: dict[str, Any]) -> tuple[int, Any]:
        """POST /channels/{channel}/messages/{message}/threads: a public thread whose id is
        the message's, announced on the gateway like Discord does."""
        if not self.bot_permissions & CREATE_THREADS:
            return 403, MISSING_PERMISSIONS
        if message_id not in self.messages:
            return 404, {"message": "Unknown Message", "code": 10008}
        if message_id in self.threads:
            return 400, {"message": "A thread has already been created for this message", "code": 160004}
        name = str(body.get("name") or "")
        assert 1 <= len(name) <= 100, f"a thread name has 1 to 100 characters, not {len(name)}"
        thread = {
            "id": message_id,
            "type": 11,
            "guild_id": self.guild_id,
            "parent_id": self.channel_id,
            "owner_id": self.bot_user.id,
            "name": name,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": int(body.get("auto_archive_duration") or 1440),
                "archive_timestamp": _now(),
                "locked": False,
                "create_timestamp": _now(),
            },
        }
        self.threads[message_id] = thread
        self.deleted_threads.discard(message_id)
        asyncio.get_running_loop().create_task(
            self.dispatch("THREAD_CREATE", thread | {"newly_created": True})
        )
        return 201, thread


class BotHarness:
    """The fake Discord and a real bot running together on an event loop in a thread.

    Sync tests hand it coroutines: ``harness.run(scenario)`` where ``scenario`` is
    ``async def scenario(fake: FakeDiscord, bot) -> T``. Starting pays for one index
    build and one login, so a module shares one harness.

    Args:
        make_bot: builds the bot (called on the harness's loop, after the fake starts);
            None runs the fake alone, for a client the test starts itself.
        catch_up: wait, after the bot is ready, for its start-up index run to end (it runs
            while the bot connects), so that scenarios start from a current index.
        **fake_options: passed to :class:`FakeDiscord` (e.g. ``allow_message_content``).
    """

    def __init__(
        self,
        make_bot: Callable[[], Any] | None,
        token: str = "fake-token.not-a-secret",
        catch_up: bool = True,
        **fake_options: Any,
    ) -> None:
        import threading

        self._catch_up = catch_up
        self._make_bot = make_bot
        self._fake_options = fake_options
        self.token = token
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fake-discord", daemon=True)
        self.fake: FakeDiscord
        self.bot: Any = None
        self._patch: Any = None
        self._task: asyncio.Task[None] | None = None

    def start(self, timeout: float = 180.0) -> BotHarness:
        self._thread.start()
        self.run(self._start, timeout=timeout)
        return self

    async def _start(self, *_: Any) -> None:
        self.fake = FakeDiscord(token=self.token, **self._fake_options)
        await self.fake.start()
        self._patch = self.fake.patch_client()
        self._patch.__enter__()
        if self._make_bot is None:
            return  # only the fake: the test runs its own client (e.g. run_bot)
        await self._launch()

    def restart(self, timeout: float = 180.0) -> None:
        """Close the bot and start a new one from ``make_bot`` against the same fake Discord
        (and whatever data folder ``make_bot`` gives it): a restart of the bot's process."""

        async def _restart(*_: Any) -> None:
            await self.bot.close()
            if self._task is not None:
                await asyncio.wait_for(self._task, 30)
            await self._launch()

        self.run(_restart, timeout=timeout)

    async def _launch(self) -> None:
        assert self._make_bot is not None
        self.bot = self._make_bot()
        self._task = asyncio.create_task(self.bot.start(self.token))
        waiter = asyncio.create_task(self.bot.wait_until_ready())
        done, _ = await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            waiter.cancel()
            self._task.result()  # raise what stopped the bot
            raise AssertionError("the bot stopped before it was ready")
        caught_up = getattr(self.bot, "caught_up", None)
        if self._catch_up and caught_up is not None:
            await asyncio.wait_for(caught_up.wait(), 120)

    def run(self, scenario: Callable[..., Any], timeout: float = 120.0) -> Any:
        """Run ``scenario(fake, bot)`` on the harness loop and return its result."""
        future = asyncio.run_coroutine_threadsafe(scenario(getattr(self, "fake", None), self.bot), self.loop)
        return future.result(timeout)

    def stop(self) -> None:
        async def _stop(*_: Any) -> None:
            if self.bot is not None:
                await self.bot.close()
            if self._task is not None:
                try:
                    await asyncio.wait_for(self._task, 10)
                except Exception:  # noqa: BLE001, S110 - closing; the bot may have failed already
                    pass
            await self.fake.stop()
            # Views keep timeout tasks; end them here rather than leave them to the GC.
            pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if self._patch is not None:
                self._patch.__exit__(None, None, None)

        try:
            self.run(_stop, timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


def _children(component: dict[str, Any]) -> list[dict[str, Any]]:
    """A modal row's inputs: an action row's components, or a label's one component."""
    if "components" in component:
        return list(component["components"])
    if "component" in component:
        return [component["component"]]
    return [component]
