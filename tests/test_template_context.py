"""ThemeContext calls functions as Jinja2's own context does, only quicker for plain ones:
every case renders the same through both."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
import jinja2
import pytest

from cms.web.template_context import ThemeContext, use_theme_context
from cms.web.templating import ENVIRONMENT_OPTIONS
from tests.conftest import ClientFactory


def plain(*args: Any, **kwargs: Any) -> str:
    return f"plain{args}{sorted(kwargs.items())}"


@jinja2.pass_context
def with_context(context: Any, name: str) -> str:
    return f"{name}={context.get(name)}"


@jinja2.pass_environment
def with_environment(environment: Any) -> str:
    return f"autoescape={environment.autoescape}"


@jinja2.pass_eval_context
def with_eval_context(eval_context: Any) -> str:
    return f"eval autoescape={eval_context.autoescape}"


class CallableWithContext:
    @jinja2.pass_context
    def __call__(self, context: Any) -> str:
        return f"object sees {context.get('greeting')}"


def stops() -> str:
    raise StopIteration


def fails() -> str:
    raise ValueError("broken helper")


GLOBALS = {
    "plain": plain,
    "with_context": with_context,
    "with_environment": with_environment,
    "with_eval_context": with_eval_context,
    "callable_object": CallableWithContext(),
    "stops": stops,
    "fails": fails,
}

TEMPLATES = {
    "plain function": "{{ plain(1, 'a', key='v') }}",
    "plain function in a block": "{% block b %}{% set x = 2 %}{{ plain(x) }}{% endblock %}",
    "plain function in a loop": "{% for i in [1, 2] %}{{ plain(i, loop.index) }}{% endfor %}",
    "context function sees a block's variable": (
        "{% block b %}{% set inner = 'block' %}{{ with_context('inner') }}{% endblock %}"
    ),
    "context function sees a loop's variable": (
        "{% for item in ['loop'] %}{{ with_context('item') }}{% endfor %}"
    ),
    "environment function": "{{ with_environment() }}",
    "eval-context function": "{{ with_eval_context() }}",
    "callable object": "{{ callable_object() }}",
    "built-in method": "{% set d = {'a': 1} %}{% set _ = d.update({'b': 2}) %}{{ d|dictsort }}",
    "built-in function": "{{ greeting.upper() }}{{ [3, 1, 2]|sort }}",
    "macro": "{% macro m(x) %}<{{ x }}>{% endmacro %}{{ m('&') }}",
    "a StopIteration is undefined": "[{{ stops() }}]",
}


def environment(context: bool) -> jinja2.Environment:
    env = jinja2.Environment(**ENVIRONMENT_OPTIONS)
    env.globals.update(GLOBALS)
    return use_theme_context(env) if context else env


@pytest.mark.parametrize("source", TEMPLATES.values(), ids=TEMPLATES.keys())
def test_every_kind_of_call_renders_as_with_jinja2s_own_context(source: str) -> None:
    ours = environment(True).from_string(source)
    theirs = environment(False).from_string(source)
    assert ours.new_context({}).__class__ is ThemeContext
    assert ours.render(greeting="hi") == theirs.render(greeting="hi")


def test_the_results_are_what_jinja2_documents() -> None:
    """Not only equal to Jinja2's own: right (a context function gets the context...)."""
    env = environment(True)
    rendered = {
        name: env.from_string(source).render(greeting="hi") for name, source in TEMPLATES.items()
    }
    assert rendered["plain function"] == "plain(1, &#39;a&#39;)[(&#39;key&#39;, &#39;v&#39;)]"
    assert rendered["context function sees a block's variable"] == "inner=block"
    assert rendered["environment function"] == "autoescape=True"
    assert rendered["callable object"] == "object sees hi"
    assert rendered["built-in method"] == "[(&#39;a&#39;, 1), (&#39;b&#39;, 2)]"
    assert rendered["macro"] == "<&amp;>"
    assert rendered["a StopIteration is undefined"] == "[]"


def test_a_helpers_error_is_raised_as_it_was_with_the_same_traceback() -> None:
    frames = []
    for context in (True, False):
        with pytest.raises(ValueError, match="broken helper") as raised:
            environment(context).from_string("{{ fails() }}").render()
        frames.append([entry.name for entry in raised.traceback])
    assert frames[0] == frames[1]  # ThemeContext.call is left out, as Context.call is


def test_a_function_with_a_call_of_its_own_goes_jinja2s_way() -> None:
    def plain_function() -> str:
        return "plain"

    @jinja2.pass_context
    def own_call(context: Any) -> str:
        return f"own call sees {context.get('greeting')}"

    plain_function.__call__ = own_call  # type: ignore[attr-defined]
    for context in (True, False):
        env = environment(context)
        env.globals["odd"] = plain_function
        assert env.from_string("{{ odd() }}").render(greeting="hi") == "own call sees hi"


async def test_the_sites_environment_renders_with_it(make_client: ClientFactory) -> None:
    client = await make_client()
    env = aiohttp_jinja2.get_env(client.app)
    assert env.context_class is ThemeContext
    response = await client.get("/login")  # a themed page, rendered through it
    assert response.status == 200
    html = await response.text()
    assert '<link rel="stylesheet" href="/static/default/style.' in html  # static()
    assert '<a class="site-title" href="/"' in html  # url()
