"""Files in the Slack emulator, as Slack serves them to an app:

- a person picks a file in a modal's ``file_input``: the view submission's state carries it
  as Slack's file objects (id, name, title, filetype, mimetype, size, ``url_private``…);
  the element's ``filetypes`` and ``max_files`` are what Slack's file picker lets through,
  so ``file_input_state`` refuses the rest (a person could not attach them);
- ``url_private`` / ``url_private_download`` answer the file only to the bot token of an
  app granted ``files:read``; without the token, or without the scope, 403 (Slack answers
  a login page or ``not_allowed``: never the file);
- ``files.getUploadURLExternal`` (``filename`` and ``length`` required, ``alt_txt`` at most
  1,000 characters) and ``files.completeUploadExternal`` (``files`` required, the upload
  done first, once per file, into a channel the bot may post in; ``thread_ts`` a message of
  that channel) need ``files:write`` (else ``missing_scope`` with ``needed`` /
  ``provided``). A completed upload shows in the channel (or thread) as a message with the
  file, and the file is read back with ``SlackFiles.content``.
(https://docs.slack.dev/reference/block-kit/block-elements/file-input-element,
https://docs.slack.dev/messaging/working-with-files, .../methods/files.getUploadURLExternal,
.../methods/files.completeUploadExternal)
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from bot.sandbox.slack import SlackEmulator

#: Slack's file_input: at most 10 files (default 10).
MAX_FILES = 10
#: What files.getUploadURLExternal accepts for alt_txt.
MAX_ALT_TXT = 1000
#: Slack's upload limit for one file (1 GB).
MAX_LENGTH = 1024**3
#: The scope each files method needs (a bot token without it gets ``missing_scope``).
SCOPES = {
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "files.info": "files:read",
}
MIMETYPES = {"csv": "text/csv", "text": "text/plain", "txt": "text/plain", "json": "application/json",
             "png": "image/png", "pdf": "application/pdf"}
_ids = itertools.count(1)


@dataclass
class SlackFile:
    id: str
    name: str
    title: str
    content: bytes
    user: str
    created: int = field(default_factory=lambda: int(time.time()))
    uploaded: bool = True  # an external upload: False until its bytes arrived
    completed: bool = True  # an external upload: False until files.completeUploadExternal
    declared_length: int | None = None
    shares: list[tuple[str, str]] = field(default_factory=list)  # (channel, message ts)

    @property
    def filetype(self) -> str:
        ext = self.name.rsplit(".", 1)[-1].lower() if "." in self.name else "text"
        return "text" if ext == "txt" else ext

    def as_json(self, base_url: str, team: str) -> dict[str, Any]:
        """The file object Slack sends (view state, files.info, completeUploadExternal)."""
        private = f"{base_url}/files-pri/{team}-{self.id}/{self.name}"
        return {
            "id": self.id, "created": self.created, "timestamp": self.created, "name": self.name,
            "title": self.title, "mimetype": MIMETYPES.get(self.filetype, "application/octet-stream"),
            "filetype": self.filetype, "pretty_type": self.filetype.upper(), "user": self.user,
            "mode": "hosted", "editable": False, "is_external": False, "is_public": False,
            "size": len(self.content), "url_private": private,
            "url_private_download": f"{base_url}/files-pri/{team}-{self.id}/download/{self.name}",
            "permalink": f"https://sandbox.slack.com/files/{self.user}/{self.id}/{self.name}",
            "channels": [c for c, _ in self.shares],
        }


class SlackFiles:
    """The emulator's files and their methods; ``SlackEmulator`` mounts them."""

    def __init__(self, slack: SlackEmulator) -> None:
        from bot.manifest import BOT_SCOPES

        self.slack = slack
        self.files: dict[str, SlackFile] = {}
        #: The bot token's scopes: the manifest's, as installing the app grants them.
        self.scopes: set[str] = set(BOT_SCOPES)

    # --- fixtures --------------------------------------------------------------------------

    def add(self, name: str, content: bytes | str, *, user: str = "U0ADMIN",
            title: str | None = None) -> SlackFile:
        """A file a person uploaded (e.g. picked in a modal's file_input)."""
        data = content.encode() if isinstance(content, str) else content
        file = SlackFile(f"F{next(_ids):08d}", name, title or name, data, user)
        self.files[file.id] = file
        return file

    def content(self, file_id: str) -> bytes:
        return self.files[file_id].content

    def shared_in(self, channel: str, thread_ts: str | None = None) -> list[SlackFile]:
        """Files posted into ``channel`` (into the thread of ``thread_ts`` when given)."""
        out = []
        for file in self.files.values():
            for shared_channel, ts in file.shares:
                msg = next((m for m in self.slack.messages.get(shared_channel, []) if m.ts == ts), None)
                if shared_channel == channel and msg is not None and (
                        thread_ts is None or msg.thread_ts == thread_ts):
                    out.append(file)
        return out

    # --- routes and methods ---------------------------------------------------------------------

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/files-pri/{team_file}/{name}", self._download)
        router.add_get("/files-pri/{team_file}/download/{name}", self._download)
        router.add_post("/upload/v1/{file_id}", self._upload)

    def missing_scope(self, method: str) -> web.Response | None:
        needed = SCOPES.get(method)
        if needed is None or needed in self.scopes:
            return None
        return web.json_response({"ok": False, "error": "missing_scope", "needed": needed,
                                  "provided": ",".join(sorted(self.scopes))})

    async def _download(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["team_file"].rpartition("-")[2]
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {self.slack.bot_token}" or "files:read" not in self.scopes:
            return web.Response(status=403, text="not_allowed")
        file = self.files.get(file_id)
        if file is None or not file.completed or file.name != request.match_info["name"]:
            return web.Response(status=404, text="file_not_found")
        kind = MIMETYPES.get(file.filetype, "application/octet-stream")
        return web.Response(body=file.content, content_type=kind)

    async def get_upload_url(self, args: dict[str, Any]) -> web.Response:
        filename, length = str(args.get("filename") or ""), str(args.get("length") or "")
        if not filename or not length.isdigit() or int(length) <= 0:
            return _invalid(["missing or invalid 'filename' and 'length'"])
        if int(length) > MAX_LENGTH:
            return _error("file_too_large")
        if len(str(args.get("alt_txt") or "")) > MAX_ALT_TXT:
            return _error("alt_txt_too_large")
        file = SlackFile(f"F{next(_ids):08d}", filename, filename, b"", "U0BOT", uploaded=False,
                         completed=False, declared_length=int(length))
        self.files[file.id] = file
        return _ok(upload_url=f"{self.slack.url}/upload/v1/{file.id}", file_id=file.id)

    async def _upload(self, request: web.Request) -> web.Response:
        file = self.files.get(request.match_info["file_id"])
        if file is None or file.uploaded:
            return web.Response(status=404, text="upload URL unknown or used")
        data = await request.read()
        if file.declared_length is not None and len(data) != file.declared_length:
            return web.Response(status=400, text=f"expected {file.declared_length} bytes, got {len(data)}")
        file.content, file.uploaded = data, True
        return web.Response(text=f"OK - {len(data)}")

    async def complete_upload(self, args: dict[str, Any]) -> web.Response:
        items = _json(args.get("files"))
        if not isinstance(items, list) or not items or not all(
                isinstance(i, dict) and i.get("id") for i in items):
            return _invalid(["'files' must be a JSON array of {id, title}"])
        found = [self.files.get(str(i["id"])) for i in items]
        if any(f is None or f.completed or not f.uploaded for f in found):
            return _error("file_not_found")
        channel_id = str(args.get("channel_id") or "")
        thread_ts = str(args.get("thread_ts") or "") or None
        if channel_id:
            channel, problem = self.slack._writable(channel_id)
            if problem is not None:
                return problem
            if thread_ts and not any(m.ts == thread_ts for m in self.slack.messages.get(channel, [])):
                return _error("invalid_thread_ts")
        files = [f for f in found if f is not None]
        for item, file in zip(items, files, strict=True):
            file.title = str(item.get("title") or file.name)
            file.completed = True
        if channel_id:
            text = str(args.get("initial_comment") or "")
            msg = _emulator().Message(channel, self.slack._new_ts(), text, [], thread_ts)
            self.slack.messages.setdefault(channel, []).append(msg)
            for file in files:
                file.shares.append((channel, msg.ts))
        return _ok(files=[{"id": f.id, "title": f.title} for f in files])

    async def info(self, args: dict[str, Any]) -> web.Response:
        file = self.files.get(str(args.get("file") or ""))
        if file is None or not file.completed:
            return _error("file_not_found")
        return _ok(file=file.as_json(self.slack.url, _team()))


# --- view state and Block Kit ---------------------------------------------------------------


def file_input_state(element: dict[str, Any], files: list[dict[str, Any]]) -> dict[str, Any]:
    """What a submitted ``file_input`` carries. ``files``: file objects (``SlackFile.as_json``)
    the person picked; a file the picker would not take raises ValueError."""
    allowed = [t.lower() for t in element.get("filetypes") or []]
    limit = int(element.get("max_files", MAX_FILES))
    if len(files) > limit:
        raise ValueError(f"the file picker takes at most {limit} file(s)")
    for file in files:
        if allowed and file.get("filetype") not in allowed:
            raise ValueError(f"the file picker takes only {', '.join(allowed)} files, not {file.get('name')}")
    return {"type": "file_input", "files": files}


def file_input_problems(element: dict[str, Any], where: str, surface: str) -> list[str]:
    """Why Slack would refuse a ``file_input`` element."""
    problems = []
    if surface != "modal":
        problems.append(f"{where}: file_input is allowed only in modals")
    max_files = element.get("max_files", MAX_FILES)
    if not isinstance(max_files, int) or not 1 <= max_files <= MAX_FILES:
        problems.append(f"{where}: max_files must be 1 to {MAX_FILES}")
    filetypes = element.get("filetypes", [])
    if not isinstance(filetypes, list) or not all(isinstance(t, str) and t for t in filetypes):
        problems.append(f"{where}: filetypes must be a list of file type names")
    return problems


def _emulator() -> Any:
    """slack.py, for its answers and names (imported late: it imports this module)."""
    from bot.sandbox import slack

    return slack


def _team() -> str:
    return str(_emulator().TEAM)


def _json(value: Any) -> Any:
    return _emulator()._json(value)


def _ok(**fields: Any) -> web.Response:
    return _emulator()._ok(**fields)


def _error(code: str) -> web.Response:
    return _emulator()._error(code)


def _invalid(problems: list[str]) -> web.Response:
    return _emulator()._invalid(problems)
