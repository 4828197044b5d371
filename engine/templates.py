"""Message rendering: merge tags such as ``{{ contact.first_name }}`` filled in for one contact.

Templates are written by marketers, so they run in Jinja2's ``SandboxedEnvironment``:
anything that reaches for Python internals (``{{ ''.__class__ }}``,
``{{ cycler.__init__.__globals__ }}``) stops the render with a ``TemplateError``
instead of leaking or printing nothing. The HTML part is autoescaped (a contact named
``<script>`` stays text); the subject and the text part are not.

Two modes:
- preview (``strict=True``): a misspelt merge tag is an error that names the field and
  the line, e.g. ``html: line 3: 'contact' has no attribute 'first_nme'``;
- sending (``strict=False``): a missing value renders as an empty string, so one
  contact without a first name does not stop a campaign.

Compiled templates are cached by source, so sending the same template to many
contacts compiles it once.
"""

from __future__ import annotations

from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, StrictUndefined, Template, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from jinja2.utils import missing

__all__ = ["FIELDS", "TemplateError", "check_syntax", "render", "template_context"]

FIELDS = ("subject", "html", "text")
TEXT_ONLY_CHANNELS = ("sms", "whatsapp")
MAX_OUTPUT = 2_000_000  # characters per rendered part
_MAX_REPEAT = 100_000  # longest string/list a template may build with '*'
_TEMPLATE_FILE = "<template>"


class TemplateError(Exception):
    """A template that cannot be rendered: ``field`` is the part (subject/html/text),
    ``message`` says what is wrong and, when known, on which line."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# The context being rendered in strict mode, so an error can say 'contact' instead of 'dict object'.
_rendering: ContextVar[dict[str, Any] | None] = ContextVar("_rendering", default=None)


def _path_of(target: Any, context: dict[str, Any] | None) -> str | None:
    """The dotted name under which ``target`` sits in the context (searched a few levels deep)."""
    if context is None:
        return None
    todo: list[tuple[str, Any, int]] = [(k, v, 1) for k, v in context.items()]
    budget = 5_000
    while todo and budget:
        budget -= 1
        name, value, depth = todo.pop(0)
        if value is target:
            return name
        if isinstance(value, dict) and depth < 5:
            todo.extend((f"{name}.{k}", v, depth + 1) for k, v in value.items() if isinstance(k, str))
    return None


class _StrictUndefined(StrictUndefined):
    """StrictUndefined whose message names the merge tag the marketer wrote."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint or self._undefined_obj is missing:
            return super()._undefined_message
        where = _path_of(self._undefined_obj, _rendering.get())
        if where is None:
            return super()._undefined_message
        if not isinstance(self._undefined_name, str):
            return f"'{where}' has no element {self._undefined_name!r}"
        return f"'{where}' has no attribute {self._undefined_name!r}"


class _Sandbox(SandboxedEnvironment):
    """The sandbox, stricter than Jinja's default on two points: reaching for an unsafe
    attribute always raises (Jinja would hand back an undefined value that prints as
    nothing), and ``*``/``**`` cannot build huge values."""

    intercepted_binops = frozenset({"*", "**"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(
            f"'{attribute}' is not allowed in templates (used on a value of type {type(obj).__name__})"
        )

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 100:
            raise SecurityError("exponents above 100 are not allowed in templates")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > _MAX_REPEAT:
                    raise SecurityError(f"repeating a value to more than {_MAX_REPEAT} items is not allowed in templates")
        return super().call_binop(context, operator, left, right)


def _environment(html: bool, strict: bool) -> _Sandbox:
    return _Sandbox(
        autoescape=html,
        undefined=_StrictUndefined if strict else ChainableUndefined,
        keep_trailing_newline=True,
    )


_ENVIRONMENTS = {(html, strict): _environment(html, strict) for html in (True, False) for strict in (True, False)}


@lru_cache(maxsize=1024)
def _compile(source: str, html: bool, strict: bool) -> Template:
    return _ENVIRONMENTS[(html, strict)].from_string(source)


def _line(exc: BaseException) -> int | None:
    """The template line an error comes from (Jinja maps template frames back to lines)."""
    line = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _TEMPLATE_FILE:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _error(field: str, exc: BaseException) -> TemplateError:
    message = exc.message if isinstance(exc, TemplateSyntaxError) and exc.message else str(exc)
    line = _line(exc)
    return TemplateError(field, f"line {line}: {message}" if line else message)


def _compile_field(field: str, source: str, strict: bool) -> Template:
    if not isinstance(source, str):
        raise TemplateError(field, f"must be text, not {type(source).__name__}")
    try:
        return _compile(source, field == "html", strict)
    except TemplateSyntaxError as exc:
        raise _error(field, exc) from None


def _render_field(field: str, source: str, context: dict[str, Any], strict: bool) -> str:
    template = _compile_field(field, source, strict)
    try:
        size, parts = 0, []
        for chunk in template.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateError(field, f"the rendered {field} is longer than {MAX_OUTPUT} characters; check the loops")
            parts.append(chunk)
    except TemplateError:
        raise
    except Exception as exc:  # SecurityError, UndefinedError, TypeError...: all are template errors
        raise _error(field, exc) from None
    text = "".join(parts)
    if field == "subject":  # one header line: a value with a line break must not add headers
        text = " ".join(text.splitlines()).strip()
    return text


def _fields(template: dict[str, Any]) -> tuple[str, ...]:
    return ("text",) if template.get("channel") in TEXT_ONLY_CHANNELS else FIELDS


def render(template: dict[str, Any], context: dict[str, Any], strict: bool = False) -> dict[str, str]:
    """Render each part the template has (email: subject/html/text, sms/whatsapp: text).

    Raises ``TemplateError`` for a syntax error, a sandbox violation, or (with
    ``strict=True``) a merge tag with no value.
    """
    token = _rendering.set(context) if strict else None
    try:
        return {
            field: _render_field(field, template[field], context, strict)
            for field in _fields(template)
            if template.get(field) is not None
        }
    finally:
        if token is not None:
            _rendering.reset(token)


def check_syntax(template: dict[str, Any]) -> list[TemplateError]:
    """Syntax errors of every part, without rendering (used when a template is saved)."""
    problems = []
    for field in _fields(template):
        if template.get(field) is not None:
            try:
                _compile_field(field, template[field], False)
            except TemplateError as exc:
                problems.append(exc)
    return problems


def template_context(contact: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What merge tags can read: ``contact`` (its attributes, plus ``id``, ``tags``,
    ``order_count`` and ``lifetime_value``) and the ``extra`` values (``trigger``,
    ``event``, ``journey``, ``offer``, ``unsubscribe_url``...)."""
    view: dict[str, Any] = {
        "order_count": contact.get("order_count", 0),
        "lifetime_value": contact.get("lifetime_value", 0.0),
    }
    view.update(contact.get("attributes") or {})
    view["id"] = contact.get("id")
    view["tags"] = list(contact.get("tags") or [])
    context = dict(extra or {})
    context["contact"] = view
    return context
