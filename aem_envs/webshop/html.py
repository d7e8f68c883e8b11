"""HTML for WebShop pages, from the same element list the text observations come from.

Class names and ids follow upstream's templates where agents look for them (``#search_input``,
``.btn``, ``.product-link``, ``#instruction-text``) so browser agents written for WebShop find their way.
Option values are links styled as radio buttons (``role="radio"``, ``aria-checked``), so the site works
without JavaScript and every control is a plain link a crawler or a person can follow.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

Element = tuple[str, str, Any]
LinkFn = Callable[[Element], str | None]

STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:1.5rem auto;padding:0 1rem;color:#222}
.logo{color:#e47911;margin:.2rem 0}#instruction-text{background:#f3f3f3;padding:.6rem 1rem;border-radius:6px}
#instruction-text h4{margin:.2rem 0;font-weight:500}.btn{display:inline-block;margin:.3rem .3rem .3rem 0;
padding:.35rem .9rem;border:1px solid #a88734;border-radius:4px;background:#f0c14b;color:#111;
text-decoration:none;cursor:pointer;font-size:.95rem}.btn.disabled{opacity:.5}.result{margin:.8rem 0}
.product-link{font-weight:600;color:#0066c0}.option-group{margin:.8rem 0 .2rem;text-transform:capitalize}
.option{display:inline-block;margin:.2rem;padding:.25rem .7rem;border:1px solid #888;border-radius:1rem;
color:#111;text-decoration:none}.option::before{content:"\\25CB  "}.option[aria-checked=true]{
background:#232f3e;color:#fff}.option[aria-checked=true]::before{content:"\\25C9  "}
#search_input{width:28rem;max-width:80%;padding:.4rem}.score{font-size:2rem;font-weight:700}
"""


def _control(tag_class: str, text: str, href: str | None, extra: str = "") -> str:
    if href is None:
        return f'<button class="{tag_class}" type="button"{extra}>{escape(text)}</button>'
    return f'<a class="{tag_class}" href="{escape(href)}"{extra}>{escape(text)}</a>'


def render_body(elements: list[Element], links: LinkFn | None = None, search_action: str = "",
                notice: str = "") -> str:
    """The page's ``<body>`` content. ``links(element)`` gives each control's URL (``None``: no link)."""
    link = links or (lambda el: None)
    out = [f'<p class="notice" role="alert">{escape(notice)}</p>'] if notice else []
    in_list = False
    for el in elements:
        kind, text, data = el
        if in_list and kind != "bullet":
            out.append("</ul>")
            in_list = False
        if kind == "logo":
            out.append(f'<h1 class="logo">{escape(text)}</h1>')
        elif kind == "label" and text == "Instruction:":
            continue  # rendered together with the instruction below
        elif kind == "instruction":
            out.append(f'<div id="instruction-text"><h4>Instruction:<br>{escape(text)}</h4></div>')
        elif kind == "search":
            out.append(f'<form id="search-form" method="get" action="{escape(search_action)}">'
                       '<input id="search_input" name="q" type="text" placeholder="Search products" '
                       f'autocomplete="off"> <button class="btn" '
                       f'type="submit">{escape(text)}</button></form>')
        elif kind == "button":
            out.append(_control("btn", text, link(el)))
        elif kind == "product":
            out.append(f'<div class="result">{_control("product-link", text, link(el))}</div>')
        elif kind == "group":
            out.append(f'<h4 class="option-group">{escape(text)}</h4>')
        elif kind == "option":
            out.append(_control("option", text, link(el),
                                f' role="radio" aria-checked="{str(data is not None).lower()}"'))
        elif kind == "clicked":
            out.append(f'<p class="clicked" role="status">{escape(text)}</p>')
        elif kind == "title":
            out.append(f"<h2>{escape(text)}</h2>")
        elif kind == "heading":
            out.append(f"<h1>{escape(text)}</h1>")
        elif kind == "review_title":
            out.append(f"<h4>{escape(text)}</h4>")
        elif kind == "bullet":
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{escape(text)}</li>")
        elif kind == "score":
            out.append(f'<p id="reward" class="score">{escape(text)}</p>')
        else:
            out.append(f"<p>{escape(text)}</p>")
    if in_list:
        out.append("</ul>")
    return "\n".join(out)


def render_page(elements: list[Element], links: LinkFn | None = None, search_action: str = "",
                notice: str = "", title: str = "WebShop") -> str:
    """A whole HTML document (``observation_mode="html"`` uses it without links)."""
    body = render_body(elements, links, search_action, notice)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, '
            f'initial-scale=1"><style>{STYLE}</style></head>'
            f"<body>\n{body}\n</body></html>\n")
